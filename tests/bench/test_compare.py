"""The score-regression gate: `restorebench compare` against golden scores or another database."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorebench.bench.cli import main
from restorebench.bench.commands.compare import COLUMNS, golden_scores
from restorebench.bench.plan import make_plan
from restorebench.bench.runner import RunOptions, run
from restorebench.bench.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "bench" / "golden" / "smoke.csv"
METHODS = "  - {name: identity}\n  - {name: bicubic}\n"


@pytest.fixture(scope="module")
def lr_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gate")
    rng = np.random.default_rng(5)
    for name in ("a", "b"):
        folder = root / "lr" / "dom" / name
        (folder / "HR").mkdir(parents=True)
        for i in range(2):
            hr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(hr).save(folder / "HR" / f"{i}.png")
            Image.fromarray(hr[::2, ::2]).save(folder / f"{i}.png")
    return root / "lr"


def run_into(db: Path, lr_root: Path, methods: str = METHODS) -> Path:
    spec = db.with_suffix(".yaml")
    spec.write_text(f"""
name: gate
workers: 0
datasets: [{{name: toy, kind: lr_sets, root: {lr_root}}}]
methods:
{methods}metrics: [psnr, sharpness]
""")
    run(load_spec(spec), RunOptions(db=db, out_dir=db.parent / f"out-{db.stem}", progress=False))
    return db


@pytest.fixture(scope="module")
def golden(lr_root, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("golden")
    db = run_into(folder / "base.duckdb", lr_root)
    path = folder / "golden.csv"
    assert main(["compare", str(db), "--golden", str(path), "--update"]) == 0
    return path


def test_identical_code_passes(golden, lr_root, tmp_path, capsys):
    db = run_into(tmp_path / "again.duckdb", lr_root)
    capsys.readouterr()
    assert main(["compare", str(db), "--golden", str(golden), "--rtol", "0", "--atol", "0"]) == 0
    assert capsys.readouterr().out == f"16 score(s) compared with {golden} (rtol 0, atol 0): all agree\n"
    assert main(["compare", str(db), "--base", str(golden.parent / "base.duckdb"), "--rtol", "0", "--atol", "0"]) == 0


def test_a_one_percent_change_of_a_metric_fails_naming_the_metric_and_the_cases(golden, lr_root, tmp_path, monkeypatch, capsys):
    from restorebench.metrics.sharpness import Sharpness

    original = Sharpness.compute
    monkeypatch.setattr(Sharpness, "compute", lambda self, image, reference: original(self, image, reference) * 1.01)
    db = run_into(tmp_path / "changed.duckdb", lr_root)
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["compare", str(db), "--golden", str(golden)]) == 1
    out = capsys.readouterr().out
    changed = [line for line in out.splitlines() if line.startswith("changed")]
    assert len(changed) == 8 and all(line.split(": ")[-2].endswith("sharpness") and "(+1 %)" in line for line in changed)
    for item in ("dom/a/0", "dom/a/1", "dom/b/0", "dom/b/1"):
        assert sum(f"/ {item} (seed 0, sample 0) sharpness" in line for line in changed) == 2  # identity and bicubic
    assert "psnr" not in "\n".join(changed)
    means = [line for line in out.splitlines() if line.startswith("mean")]
    assert len(means) == 2 and all("sharpness" in line for line in means)
    assert out.splitlines()[-1].endswith("8 changed, 0 case(s) vanished, 0 appeared, 0 score(s) missing on one side, 2 leaderboard mean(s) moved")


def test_a_removed_method_fails_naming_its_cases(golden, lr_root, tmp_path, capsys):
    db = run_into(tmp_path / "removed.duckdb", lr_root, methods="  - {name: identity}\n")
    capsys.readouterr()
    assert main(["compare", str(db), "--golden", str(golden)]) == 1
    out = capsys.readouterr().out
    vanished = [line for line in out.splitlines() if line.startswith("vanished")]
    assert len(vanished) == 4 and all("toy / bicubic / dom/" in line and "2 score(s) are missing" in line for line in vanished)
    assert sum(line.startswith("mean") and "bicubic" in line and "→ —" in line for line in out.splitlines()) == 2


def test_update_rewrites_the_golden_file(golden, lr_root, tmp_path, monkeypatch, capsys):
    copy = tmp_path / "golden.csv"
    copy.write_text(golden.read_text())
    from restorebench.metrics.psnr import PSNR

    original = PSNR.compute
    monkeypatch.setattr(PSNR, "compute", lambda self, image, reference: original(self, image, reference) + 0.5)
    db = run_into(tmp_path / "new.duckdb", lr_root)
    monkeypatch.undo()
    assert main(["compare", str(db), "--golden", str(copy)]) == 1
    assert main(["compare", str(db), "--golden", str(copy), "--update"]) == 0
    assert main(["compare", str(db), "--golden", str(copy), "--rtol", "0", "--atol", "0"]) == 0
    old, new = golden_scores(golden), golden_scores(copy)
    assert old.keys() == new.keys()
    assert all(new[k].value == pytest.approx(old[k].value + 0.5) for k in old if k[5] == "psnr")
    assert all(new[k] == old[k] for k in old if k[5] == "sharpness")


def test_what_cannot_be_compared_exits_2(golden, tmp_path, capsys):
    db = golden.parent / "base.duckdb"
    assert main(["compare", str(tmp_path / "missing.duckdb"), "--golden", str(golden)]) == 2
    assert main(["compare", str(db), "--golden", str(tmp_path / "missing.csv")]) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("case_id,metric,value\nabc,psnr,1\n")
    assert main(["compare", str(db), "--golden", str(bad)]) == 2
    assert f"{bad}:1: expected the columns {','.join(COLUMNS)}" in capsys.readouterr().err
    bad.write_text(",".join(COLUMNS) + "\ntoy,x,identity,zero,0,psnr,ok,1\n")
    assert main(["compare", str(db), "--golden", str(bad)]) == 2
    assert f"{bad}:2: seed and sample must be integers" in capsys.readouterr().err


def test_the_committed_golden_file_covers_exactly_the_smoke_specs_cases(builtin_root):
    """Every planned (case, metric) of bench/specs/smoke.yaml has one golden score, ok, and nothing
    else is there: a change of the spec must come with `compare --update`."""
    loaded = load_spec(ROOT / "bench" / "specs" / "smoke.yaml")
    planned = {(c.item.dataset, c.item.item, c.variant.label, c.seed, c.sample, m.name)
               for c in make_plan(loaded).cases for m in loaded.spec.metrics}
    scores = golden_scores(GOLDEN)
    assert scores.keys() == planned
    assert all(s.status == "ok" and s.value is not None for s in scores.values())
