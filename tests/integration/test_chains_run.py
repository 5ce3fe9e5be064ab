"""Chains inside runs: the output is the stages composed, every stage is recorded and cached, a
second run reuses the stages, a failing or killed case resumes after its finished stages, and a
failing stage is named in the case's error."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorebench.bench.runner import RunOptions, run
from restorebench.bench.spec import load_spec
from restorebench.bench.store import TABLES, CaseRow, Store
from restorebench.metrics.imageio import file_sha256, load_image
from restorebench.metrics.matlab import imresize
from restorebench.models import RestoreContext

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small tensors, a busy machine


def lr_folder(root: Path, scale: int = 8, n: int = 2, size: int = 8) -> Path:
    rng = np.random.default_rng(0)
    set_dir = root / "toy" / f"set-x{scale}"
    (set_dir / "HR").mkdir(parents=True)
    for i in range(n):
        hr = rng.integers(0, 256, (size * scale, size * scale, 3), dtype=np.uint8)
        Image.fromarray(hr).save(set_dir / "HR" / f"{i}.png")
        Image.fromarray(np.ascontiguousarray(hr[::scale, ::scale])).save(set_dir / f"{i}.png")
    return root


def write(tmp_path: Path, methods: str, *, extra: str = "workers: 0") -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(f"name: chains\n{extra}\ndatasets:\n  - {{name: toy, kind: lr_sets, root: {tmp_path / 'lr'}}}\n"
                    f"methods:\n{methods}\nmetrics: [psnr, sharpness]\n")
    return path


def go(spec: Path, tmp_path: Path, db: str = "db.duckdb", **options):
    return run(load_spec(spec), RunOptions(db=tmp_path / db, out_dir=tmp_path / "out", progress=False, **options))


def cases(tmp_path: Path, db: str = "db.duckdb") -> list[dict]:
    with Store(tmp_path / db, read_only=True) as store:
        rows = store.query("SELECT c.*, m.label FROM cases c JOIN methods m USING (variant_id) ORDER BY m.label, c.item").to_pylist()
    for row in rows:
        row["stages"] = json.loads(row["stages"]) if row["stages"] else None
    return rows


def calls(log: Path) -> list[str]:
    """The stage calls the counting method logged, e.g. ``toy/set-x8/0 (stage 1/2) x2``."""
    return log.read_text().splitlines() if log.exists() else []


def counting_chain(log: Path, label: str = "count-x8", **stage2) -> str:
    options = "".join(f", {k}: {v}" for k, v in stage2.items())
    return (f"  - label: {label}\n    chain:\n      - {{name: test_counting, scale: 2, log: {log}}}\n"
            f"      - {{name: test_counting, scale: 4, log: {log}, offset: 1{options}}}\n")


def test_case_row_fields_are_the_cases_columns():
    assert [f.name for f in dataclasses.fields(CaseRow)] == list(TABLES["cases"])


def test_a_chain_outputs_its_stages_composed_and_records_each_stage(tmp_path):
    lr_folder(tmp_path / "lr")
    summary = go(write(tmp_path, "  - {label: bic-lanczos, chain: [{name: bicubic, scale: 2}, {name: lanczos, scale: 4}]}"), tmp_path)
    assert summary.status_counts == {"ok": 2}
    for row in cases(tmp_path):
        lr = load_image(row["input_path"])
        expected = imresize(imresize(lr, output_shape=(16, 16), method="bicubic"), output_shape=(64, 64), method="lanczos3")
        assert np.array_equal(load_image(row["output_path"]), expected)
        first, second = row["stages"]
        assert (first["stage"], first["method"], first["scale"], first["status"]) == (1, "bicubic", 2, "ok")
        assert (second["stage"], second["method"], second["scale"], second["status"]) == (2, "lanczos", 4, "ok")
        assert (first["width"], second["width"]) == (16, 64)
        assert all(s["seconds_restore"] > 0 and s["seconds_cache"] > 0 for s in row["stages"])
        assert row["seconds_restore"] >= first["seconds_restore"] + second["seconds_restore"]
        assert second["sha256"] == row["output_sha256"] == file_sha256(second["path"])
        with Store(tmp_path / "db.duckdb", read_only=True) as store:
            artifacts = {r["kind"]: r for r in store.query("SELECT * FROM artifacts WHERE case_id = ?", [row["case_id"]]).to_pylist()}
        assert set(artifacts) == {"output", "stage1", "stage2"}
        assert artifacts["stage1"]["path"] == first["path"] and file_sha256(first["path"]) == artifacts["stage1"]["sha256"]
        assert np.array_equal(load_image(first["path"]), imresize(lr, output_shape=(16, 16), method="bicubic"))


def test_a_second_run_reuses_every_stage_and_fresh_recomputes_them(tmp_path):
    lr_folder(tmp_path / "lr")
    log = tmp_path / "calls.txt"
    spec = write(tmp_path, counting_chain(log))
    assert go(spec, tmp_path).status_counts == {"ok": 2}
    assert sorted(calls(log)) == ["toy/set-x8/0 (stage 1/2) x2", "toy/set-x8/0 (stage 2/2) x4",
                                  "toy/set-x8/1 (stage 1/2) x2", "toy/set-x8/1 (stage 2/2) x4"]
    first = cases(tmp_path)

    # a new database (the cases run again) with the same outputs folder: no stage is computed again,
    # and a second chain sharing the first stage reuses it as well
    spec = write(tmp_path, counting_chain(log) + f"  - {{label: count-bicubic, chain: [{{name: test_counting, scale: 2, log: {log}}}, "
                                                 "{name: bicubic, scale: 4}]}")
    assert go(spec, tmp_path, db="again.duckdb").status_counts == {"ok": 4}
    assert len(calls(log)) == 4
    again = cases(tmp_path, "again.duckdb")
    counted = [r for r in again if r["label"] == "count-x8"]
    assert [r["output_sha256"] for r in counted] == [r["output_sha256"] for r in first]
    assert [[s["status"] for s in r["stages"]] for r in counted] == [["cached", "cached"]] * 2
    assert [[s["status"] for s in r["stages"]] for r in again if r["label"] == "count-bicubic"] == [["cached", "ok"]] * 2
    assert all(s["seconds_restore"] == 0 for r in counted for s in r["stages"])

    # --fresh recomputes every stage
    assert go(spec, tmp_path, db="again.duckdb", fresh=True).status_counts == {"ok": 4}
    assert len(calls(log)) == 4 + 2 * 2 + 2


def test_a_failing_stage_is_named_and_the_next_run_resumes_after_the_stages_that_finished(tmp_path):
    lr_folder(tmp_path / "lr", n=1)
    log, flag = tmp_path / "calls.txt", tmp_path / "fail-now"
    flag.touch()
    spec = write(tmp_path, counting_chain(log, fail_while=flag))
    summary = go(spec, tmp_path)
    assert summary.status_counts == {"failed": 1}
    (row,) = cases(tmp_path)
    assert row["error"].startswith("stage 2/2 (test_counting ×4): RuntimeError: deliberate failure (at chain_methods.py:")
    assert [(s["stage"], s["status"]) for s in row["stages"]] == [(1, "ok"), (2, "failed")]
    assert row["stages"][1]["error"] == row["error"] and row["stages"][1]["sha256"] is None
    assert calls(log) == ["toy/set-x8/0 (stage 1/2) x2", "toy/set-x8/0 (stage 2/2) x4"]
    with Store(tmp_path / "db.duckdb", read_only=True) as store:
        kinds = [r["kind"] for r in store.query("SELECT kind FROM artifacts WHERE case_id = ?", [row["case_id"]]).to_pylist()]
        statuses = {r["status"] for r in store.query("SELECT status FROM scores").to_pylist()}
    assert kinds == ["stage1"] and statuses == {"case_failed"}

    flag.unlink()
    assert go(spec, tmp_path).status_counts == {"ok": 1}
    assert calls(log)[2:] == ["toy/set-x8/0 (stage 2/2) x4"]  # stage 1 came from the cache
    (row,) = cases(tmp_path)
    assert (row["status"], [s["status"] for s in row["stages"]]) == ("ok", ["cached", "ok"])


def test_a_case_killed_after_its_first_stage_resumes_from_it(tmp_path):
    """The worker of a case that hangs in stage 2 is killed at the timeout; the next run finds
    stage 1's output in the cache."""
    lr_folder(tmp_path / "lr", n=1)
    log, flag = tmp_path / "calls.txt", tmp_path / "hang-now"
    flag.touch()
    spec = write(tmp_path, counting_chain(log, hang_while=flag), extra="workers: 1\ntimeout: 3")
    assert go(spec, tmp_path).status_counts == {"timeout": 1}
    assert calls(log) == ["toy/set-x8/0 (stage 1/2) x2", "toy/set-x8/0 (stage 2/2) x4"]
    assert len(list((tmp_path / "out" / "cache" / "chain-stages").glob("*/*.png"))) == 1

    flag.unlink()
    assert go(spec, tmp_path, workers=0).status_counts == {"ok": 1}
    assert calls(log)[2:] == ["toy/set-x8/0 (stage 2/2) x4"]
    (row,) = cases(tmp_path)
    assert [s["status"] for s in row["stages"]] == ["cached", "ok"]


def test_a_stage_without_its_checkpoint_is_unavailable_and_runs_once_installed(tmp_path, weights_dir):
    import torch

    from restorebench.models import dan
    from restorebench.models.dan.network import CONFIGS, DAN

    lr_folder(tmp_path / "lr", scale=4, n=1, size=12)
    spec = write(tmp_path, "  - {label: dan-x4, chain: [{name: dan, scale: 2}, {name: dan, scale: 2}]}")
    assert go(spec, tmp_path).status_counts == {"unavailable": 1}
    (row,) = cases(tmp_path)
    assert row["error"].startswith("stage 1/2 (dan ×2): ") and "danv1_x2_setting1.pth" in row["error"]
    assert [s["status"] for s in row["stages"]] == ["unavailable"]

    # a random-init DANv1 ×2 in the official layout: the chain runs, and its output is DAN run twice
    torch.manual_seed(0)
    net = DAN(CONFIGS["v1-x2-setting1"])
    with torch.no_grad():
        net.encoder.normal_(0, 0.1)
        net.init_ker_map.copy_(net.init_kernel.view(1, 1, -1).matmul(net.encoder)[:, 0])
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, weights_dir / "danv1_x2_setting1.pth")
    dan._network.cache_clear()
    try:
        assert go(spec, tmp_path).status_counts == {"ok": 1}
        ok = [r for r in cases(tmp_path) if r["status"] == "ok"]
        assert len(ok) == 1 and ok[0]["case_id"] != row["case_id"]  # the checkpoint is part of the id
        method = dan.DANMethod(scale=2)
        method.prepare(RestoreContext(task="sr", scale=2))
        lr = load_image(ok[0]["input_path"])
        assert np.array_equal(load_image(ok[0]["output_path"]), method.restore(method.restore(lr)))
    finally:
        dan._network.cache_clear()


def test_a_stage_with_an_unusable_output_fails_the_case_there(tmp_path):
    lr_folder(tmp_path / "lr", n=1)
    spec = write(tmp_path, "  - {label: bad, chain: [{name: bicubic, scale: 2}, {name: test_wrong_shape, scale: 4}]}")
    assert go(spec, tmp_path).status_counts == {"failed": 1}
    (row,) = cases(tmp_path)
    assert row["error"] == "stage 2/2 (test_wrong_shape ×4): method 'test_wrong_shape' returned shape (15, 16, 3), expected (64, 64, 3)"
    assert [(s["status"], s["sha256"] is not None) for s in row["stages"]] == [("ok", True), ("failed", False)]
