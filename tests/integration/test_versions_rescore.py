"""A run after an edit to a shared helper recomputes exactly what depends on it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
from PIL import Image

from tests_support import copy_checkout


def lr_set(root: Path) -> Path:
    rng = np.random.default_rng(3)
    folder = root / "lr" / "d" / "s"
    (folder / "HR").mkdir(parents=True)
    for i in range(3):
        hr = (rng.random((48, 48, 3)) * 255).astype(np.uint8)
        Image.fromarray(hr).save(folder / "HR" / f"{i}.png")
        Image.fromarray(hr[::2, ::2]).save(folder / f"{i}.png")
    return root / "lr"


def run_in(checkout: Path, spec: Path, db: Path, out: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    env.pop("RESTOREBENCH_PLUGINS", None)
    result = subprocess.run([sys.executable, "-m", "restorebench.bench.cli", "run", str(spec), "--db", str(db),
                             "--out", str(out), "--no-progress"], cwd=checkout, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def scores(db: Path) -> dict[tuple[str, str, str], str]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT c.method, c.item, s.metric, s.metric_version FROM scores s JOIN current_cases c USING (case_id)"
        ).fetchall()
        cases = dict(con.execute("SELECT method, count(*) FROM cases GROUP BY method").fetchall())
    return {(m, i, k): v for m, i, k, v in rows}, cases


def test_an_edit_to_matlab_helpers_reruns_and_rescores_only_what_uses_them(tmp_path):
    checkout = copy_checkout(tmp_path / "copy")
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""
name: versions
workers: 0
datasets: [{{name: toy, kind: lr_sets, root: {lr_set(tmp_path)}}}]
methods: [{{name: identity}}, {{name: bicubic}}]
metrics: [psnr, brisque, sharpness]
""")
    db, out = tmp_path / "db.duckdb", tmp_path / "out"
    run_in(checkout, spec, db, out)
    before, cases_before = scores(db)
    with open(checkout / "metrics" / "matlab.py", "a") as handle:
        handle.write("\n# an edit that changes nothing but the source\n")
    run_in(checkout, spec, db, out)
    after, cases_after = scores(db)
    # bicubic calls metrics.matlab.imresize: new version, its 3 cases run again (old ones kept as history)
    assert cases_before == {"identity": 3, "bicubic": 3} and cases_after == {"identity": 3, "bicubic": 6}
    # identity's outputs are reused; BRISQUE and sharpness (which use metrics.matlab) are rescored, PSNR is not
    for item in {i for (m, i, _) in before if m == "identity"}:
        assert after[("identity", item, "psnr")] == before[("identity", item, "psnr")]
        assert after[("identity", item, "brisque")] != before[("identity", item, "brisque")]
        assert after[("identity", item, "sharpness")] != before[("identity", item, "sharpness")]
