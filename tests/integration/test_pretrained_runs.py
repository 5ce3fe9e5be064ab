"""Pretrained techniques inside a run: missing weights are unavailable rows naming the file, a
×2-only network is not planned on ×4 sets, and installing a checkpoint makes the next run compute
that technique again — without touching the others and without mixing old rows into the results."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restorebench.bench.cli import main
from restorebench.bench.runner import RunOptions, run
from restorebench.bench.spec import load_spec
from restorebench.bench.store import Store
from restorebench.metrics import weights
from restorebench.models import dan
from restorebench.models.dan.network import CONFIGS, DAN


@pytest.fixture(autouse=True)
def fresh_networks():
    dan._network.cache_clear()
    yield
    dan._network.cache_clear()


def lr_sets(root: Path) -> Path:
    """Two sets of two 16×16 images: one ×2, one ×4 (HR kept, so the factor is read from it)."""
    rng = np.random.default_rng(1)
    for scale in (2, 4):
        set_dir = root / "toy" / f"set-x{scale}"
        (set_dir / "HR").mkdir(parents=True)
        for i in range(2):
            hr = rng.integers(0, 256, (16 * scale, 16 * scale, 3), dtype=np.uint8)
            Image.fromarray(hr).save(set_dir / "HR" / f"{i}.png")
            Image.fromarray(np.ascontiguousarray(hr[::scale, ::scale])).save(set_dir / f"{i}.png")
    return root


def save_random_dan_x2(folder: Path) -> None:
    """A random-init DANv1 ×2 (setting 1) in the official file layout (flat, ``module.`` prefix)."""
    torch.manual_seed(0)
    net = DAN(CONFIGS["v1-x2-setting1"])
    with torch.no_grad():
        net.encoder.normal_(0, 0.1)
        net.init_ker_map.copy_(net.init_kernel.view(1, 1, -1).matmul(net.encoder)[:, 0])
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, folder / "danv1_x2_setting1.pth")


SPEC = """
name: pretrained
datasets:
  - {{name: toy, kind: lr_sets, root: {root}}}
methods:
  - {{name: bicubic}}
  - {{name: dan, version: v1, setting: 1}}
  - {{name: blindsr, profile: fast}}
metrics: [psnr, {{name: maniqa, protocol: study, checkpoint: koniq10k}}]
"""


def statuses(db: Path, table: str = "current_cases") -> dict[tuple[str, str], str]:
    with Store(db, read_only=True) as store:
        rows = store.con.execute(f"SELECT label, item, status FROM {table}").fetchall()
    return {(label, item): status for label, item, status in rows}


def test_weights_missing_then_installed(tmp_path, weights_dir, write_spec, capsys):
    spec = write_spec(SPEC.format(root=lr_sets(tmp_path / "lr")))
    db = tmp_path / "db.duckdb"
    options = RunOptions(db=db, out_dir=tmp_path, workers=0, progress=False)

    first = run(load_spec(spec), options)
    # bicubic and DAN on all 4 items; BlindSR (×2 only) on the 2 items of the ×2 set
    assert first.status_counts == {"ok": 4, "unavailable": 6}
    before = statuses(db)
    assert {k for k, s in before.items() if k[0] == "blindsr"} == {("blindsr", "toy/set-x2/0"), ("blindsr", "toy/set-x2/1")}
    assert all(s == "unavailable" for (label, _), s in before.items() if label != "bicubic")
    with Store(db, read_only=True) as store:
        maniqa = store.con.execute("SELECT DISTINCT status FROM scores WHERE metric = 'maniqa'").fetchall()
    assert {s for (s,) in maniqa} <= {"unavailable", "case_unavailable"}

    assert main(["leaderboard", "--db", str(db)]) == 0
    board = capsys.readouterr().out
    for filename in ("danv1_x2_setting1.pth", "danv1_x4_setting1.pth", "generator.pth", "ckpt_koniq10k.pt"):
        assert filename in board
    assert "dan" in board and "0/4" in board  # the row is there, with no successful case

    save_random_dan_x2(weights_dir)
    second = run(load_spec(spec), options)
    # DAN runs again (new weights = new cases): ×2 now works, ×4 still missing. Nothing else is
    # touched: bicubic's MANIQA scores and BlindSR's cases are unavailable for the same missing
    # files as before (same metric version, same case ids), so retrying them would change nothing
    assert (second.executed, second.rescored, second.skipped_unavailable) == (4, 0, 2)
    assert second.status_counts == {"ok": 2, "unavailable": 2}
    after = statuses(db)
    assert after[("dan", "toy/set-x2/0")] == after[("dan", "toy/set-x2/1")] == "ok"
    assert after[("dan", "toy/set-x4/0")] == "unavailable"
    assert len(after) == len(before) == 10  # the results never hold two versions of a case
    with Store(db, read_only=True) as store:
        n_dan_cases = store.con.execute("SELECT count(*) FROM cases WHERE method = 'dan'").fetchall()[0][0]
        dan_psnr = store.con.execute(
            "SELECT count(*) FROM results WHERE label = 'dan' AND metric = 'psnr' AND status = 'ok'"
        ).fetchall()[0][0]
        recorded = [json.loads(w) for (w,) in store.con.execute("SELECT weights FROM methods WHERE name = 'dan'").fetchall()]
    assert n_dan_cases == 8  # the 4 from before the checkpoint stay as history
    assert dan_psnr == 2
    installed = weights.sha256_file(weights_dir / "danv1_x2_setting1.pth")
    assert sorted(r["danv1-x2-setting1"] or "" for r in recorded) == ["", installed]
    assert all(r["danv1-x4-setting1"] is None for r in recorded)
