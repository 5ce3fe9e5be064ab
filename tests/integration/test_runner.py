"""The runner end to end: counts against the plan, resume, failures, kill -9, locking."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorebench.bench.plan import make_plan
from restorebench.bench.runner import RunOptions, run
from restorebench.bench.spec import load_spec
from restorebench.bench.store import DatabaseInUseError, Store

ROOT = Path(__file__).resolve().parents[2]


def make_lr_folder(root: Path, n: int = 6, size: int = 16, scale: int = 2) -> Path:
    rng = np.random.default_rng(0)
    set_dir = root / "lr" / "toy" / "set1"
    (set_dir / "HR").mkdir(parents=True)
    for i in range(n):
        hr = rng.integers(0, 255, (size * scale, size * scale, 3), dtype=np.uint8)
        Image.fromarray(hr).save(set_dir / "HR" / f"{i:03d}.png")
        Image.fromarray(hr[::scale, ::scale]).save(set_dir / f"{i:03d}.png")
    return root / "lr"


def spec_text(root: Path, methods: str, metrics: str = "[psnr, sharpness]", extra: str = "") -> str:
    return f"""
name: toy
timeout: 60
{extra}
datasets:
  - {{name: toy, kind: lr_sets, root: {root}}}
methods:
{methods}
metrics: {metrics}
"""


def scores_of(db: Path) -> dict[tuple[str, str], float | None]:
    with Store(db, read_only=True) as store:
        return {(r["case_id"], r["metric"]): r["value"] for r in store.table("scores").to_pylist()}


def test_default_spec_fills_the_database_exactly_as_planned(tmp_path):
    loaded = load_spec(ROOT / "bench" / "specs" / "smoke.yaml")
    plan = make_plan(loaded)
    summary = run(loaded, RunOptions(db=tmp_path / "db.duckdb", out_dir=tmp_path, progress=False))
    assert summary.executed == len(plan.cases) and summary.status_counts == {"ok": len(plan.cases)}
    with Store(tmp_path / "db.duckdb", read_only=True) as store:
        n_cases, n_ok = store.con.execute("SELECT count(*), count(*) FILTER (WHERE status = 'ok') FROM cases").fetchall()[0]
        pairs = store.con.execute("SELECT count(*), count(DISTINCT (case_id, metric)) FROM scores").fetchall()[0]
        outputs = store.con.execute("SELECT output_path, output_sha256 FROM cases").fetchall()
        run_row = store.table("runs").to_pylist()[0]
    assert n_cases == n_ok == len(plan.cases)
    n_metrics = len(loaded.spec.metrics)
    assert n_metrics == 6
    assert pairs == (len(plan.cases) * n_metrics, len(plan.cases) * n_metrics)  # one score per (case, metric)
    assert all(Path(p).is_file() for p, _ in outputs)
    assert run_row["status"] == "ok" and run_row["spec_sha256"] == loaded.sha256 and run_row["n_planned"] == len(plan.cases)
    assert '"numpy"' in run_row["versions"] and '"cores"' in run_row["machine"]
    # the deblurring methods beat the floor on the builtin triplets
    with Store(tmp_path / "db.duckdb", read_only=True) as store:
        means = dict(store.con.execute(
            "SELECT label, avg(value) FROM results WHERE dataset = 'builtin-triplets' AND metric = 'psnr' GROUP BY label"
        ).fetchall())
    assert means["wiener"] > means["identity"] and means["richardson_lucy"] > means["identity"]


def test_rerun_skips_fresh_recomputes_and_new_metrics_are_added(tmp_path, write_spec):
    root = make_lr_folder(tmp_path)
    db = tmp_path / "db.duckdb"
    path = write_spec(spec_text(root, "  - {name: bicubic}\n  - {name: identity}", "[psnr]"))
    first = run(load_spec(path), RunOptions(db=db, out_dir=tmp_path, workers=0, progress=False))
    assert (first.executed, first.skipped) == (12, 0)
    again = run(load_spec(path), RunOptions(db=db, out_dir=tmp_path, workers=0, progress=False))
    assert (again.executed, again.skipped, again.rescored) == (0, 12, 0)
    fresh = run(load_spec(path), RunOptions(db=db, out_dir=tmp_path, workers=0, progress=False, fresh=True))
    assert fresh.executed == 12
    path = write_spec(spec_text(root, "  - {name: bicubic}\n  - {name: identity}", "[psnr, sharpness]"))
    more = run(load_spec(path), RunOptions(db=db, out_dir=tmp_path, workers=0, progress=False))
    assert (more.executed, more.rescored) == (0, 12)
    scores = scores_of(db)
    assert len(scores) == 24 and all(v is not None for v in scores.values())


def test_misbehaving_methods_are_recorded_and_the_run_goes_on(tmp_path, write_spec):
    root = make_lr_folder(tmp_path, n=2)
    methods = "\n".join(f"  - {{name: {m}}}" for m in ("test_nan", "test_wrong_shape", "test_raise", "identity"))
    db = tmp_path / "db.duckdb"
    summary = run(load_spec(write_spec(spec_text(root, methods))), RunOptions(db=db, out_dir=tmp_path, workers=0, progress=False))
    assert summary.status_counts == {"failed": 6, "ok": 2}
    with Store(db, read_only=True) as store:
        errors = dict(store.con.execute("SELECT method, any_value(error) FROM cases GROUP BY method").fetchall())
        placeholders = store.con.execute("SELECT count(*) FROM scores WHERE status = 'case_failed'").fetchall()[0][0]
    assert errors["test_nan"] == "method 'test_nan' returned 768 NaN/inf values"
    assert errors["test_wrong_shape"] == "method 'test_wrong_shape' returned shape (15, 16, 3), expected (32, 32, 3)"
    assert errors["test_raise"].startswith("restore: RuntimeError: deliberate failure (at faulty_methods.py:")
    assert errors["identity"] is None
    assert placeholders == 6 * 2


def test_hanging_and_crashing_methods_in_worker_processes(tmp_path, write_spec):
    root = make_lr_folder(tmp_path, n=1)
    methods = "  - {name: test_hang}\n  - {name: test_crash}\n  - {name: identity}"
    db = tmp_path / "db.duckdb"
    summary = run(load_spec(write_spec(spec_text(root, methods))), RunOptions(db=db, out_dir=tmp_path, workers=1, timeout=4, progress=False))
    assert summary.status_counts == {"timeout": 1, "crashed": 1, "ok": 1}
    with Store(db, read_only=True) as store:
        errors = dict(store.con.execute("SELECT method, error FROM cases").fetchall())
    assert errors["test_hang"] == "case exceeded the timeout of 4 s and was stopped"
    assert errors["test_crash"].startswith("worker process died while running this case (exit code -9)")


def test_bad_image_files(tmp_path, write_spec):
    set_dir = tmp_path / "lr" / "toy" / "bad"
    set_dir.mkdir(parents=True)
    rgb = np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(set_dir / "a_rgb.png")
    Image.fromarray(rgb[..., 0]).save(set_dir / "b_gray.png")
    Image.fromarray(np.dstack([rgb, np.full((8, 8), 128, np.uint8)])).save(set_dir / "c_rgba.png")
    Image.fromarray((rgb[..., 0].astype(np.uint16) * 257)).save(set_dir / "d_16bit.png")
    (set_dir / "e_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    truncated = (set_dir / "a_rgb.png").read_bytes()
    (set_dir / "f_truncated.png").write_bytes(truncated[: len(truncated) // 2])
    db = tmp_path / "db.duckdb"
    path = write_spec(spec_text(tmp_path / "lr", "  - {name: bicubic}", "[sharpness]", extra="") .replace("root: " + str(tmp_path / "lr") + "}", "root: " + str(tmp_path / "lr") + ", scale: 2}"))
    summary = run(load_spec(path), RunOptions(db=db, out_dir=tmp_path, workers=0, progress=False))
    assert summary.status_counts == {"ok": 4, "invalid_input": 2}
    with Store(db, read_only=True) as store:
        rows = dict(store.con.execute("SELECT item, error FROM cases WHERE status <> 'ok'").fetchall())
    assert str(set_dir / "e_corrupt.png") in rows["toy/bad/e_corrupt"]
    assert "corrupt or truncated" in rows["toy/bad/f_truncated"] and "f_truncated.png" in rows["toy/bad/f_truncated"]


def _ok_cases(db: Path) -> int:
    with Store(db, read_only=True) as store:
        return store.con.execute("SELECT count(*) FROM cases WHERE status = 'ok'").fetchall()[0][0]


def test_kill_minus_9_then_resume_completes_only_the_rest(tmp_path, write_spec):
    root = make_lr_folder(tmp_path, n=12)
    path = write_spec(spec_text(root, "  - {name: test_slow, seconds: 0.3}", "[psnr, sharpness]", extra="workers: 0"))
    db = tmp_path / "killed.duckdb"
    cmd = [sys.executable, "-m", "restorebench.bench.cli", "run", str(path), "--db", str(db), "--out", str(tmp_path / "out"), "--no-progress"]
    process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    outputs = tmp_path / "out" / "outputs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(outputs.rglob("*.png"))) < 8:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stored = _ok_cases(db)
    assert 0 < stored < 12, "the kill should land in the middle of the run"

    resumed = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"12 cases planned, {stored} already stored, {12 - stored} run ({12 - stored} ok)" in resumed.stdout

    reference_db = tmp_path / "straight.duckdb"
    run(load_spec(path), RunOptions(db=reference_db, out_dir=tmp_path / "out2", workers=0, progress=False))
    assert scores_of(db) == scores_of(reference_db)
    with Store(db, read_only=True) as store:
        statuses = [r[0] for r in store.con.execute("SELECT status FROM runs ORDER BY started_at").fetchall()]
    assert statuses == ["interrupted", "ok"]


def test_second_writer_gets_a_clear_message(tmp_path, write_spec):
    root = make_lr_folder(tmp_path, n=1)
    path = write_spec(spec_text(root, "  - {name: identity}"))
    db = tmp_path / "db.duckdb"
    with Store(db):
        result = subprocess.run(
            [sys.executable, "-m", "restorebench.bench.cli", "run", str(path), "--db", str(db)], cwd=ROOT, capture_output=True, text=True
        )
        reader = subprocess.run(
            [sys.executable, "-m", "restorebench.bench.cli", "leaderboard", "--db", str(db)], cwd=ROOT, capture_output=True, text=True
        )
    assert result.returncode == 2
    assert f"database {db} is in use by process {os.getpid()}" in result.stderr
    assert "Traceback" not in result.stderr
    assert reader.returncode == 2 and "a run is in progress" in reader.stderr and "Traceback" not in reader.stderr
    with Store(db, read_only=True) as store:  # the refused writer changed nothing
        assert store.con.execute("SELECT count(*) FROM runs").fetchall() == [(0,)]


def test_export_and_leaderboard(tmp_path, write_spec, capsys):
    from restorebench.bench.cli import main

    root = make_lr_folder(tmp_path, n=3)
    path = write_spec(spec_text(root, "  - {name: bicubic}\n  - {name: identity}"))
    db = tmp_path / "db.duckdb"
    assert main(["run", str(path), "--db", str(db), "--out", str(tmp_path), "--workers", "0", "--no-progress"]) == 0
    assert main(["export", "--db", str(db), "--format", "parquet", "--out", str(tmp_path / "x")]) == 0
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "x" / "scores.parquet").num_rows == 12
    assert main(["export", "--db", str(db), "--format", "csv", "--out", str(tmp_path / "y")]) == 0
    assert len((tmp_path / "y" / "results.csv").read_text().splitlines()) == 13
    capsys.readouterr()
    assert main(["leaderboard", "--db", str(db), "--json"]) == 0
    rows = {r["label"]: r for r in json.loads(capsys.readouterr().out) if r["metric"] == "psnr"}
    assert rows["bicubic"]["n"] == rows["identity"]["n"] == 3
    psnr = {name: r["mean"] for name, r in rows.items()}
    best, worst = max(psnr, key=psnr.get), min(psnr, key=psnr.get)
    assert rows[best]["rank"] == 1 and rows[worst]["rank"] == 2
    # * = significantly different from the best: three paired images cannot reach p < 0.05
    assert rows[worst]["test"].startswith("Wilcoxon") and rows[worst]["significant"] is False
    with Store(db, read_only=True) as store:
        expected = dict(store.con.execute("SELECT label, avg(value) FROM results WHERE metric = 'psnr' GROUP BY label").fetchall())
    assert psnr == pytest.approx(expected)
    assert main(["leaderboard", "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert f"{psnr[best]:.4g} (1)" in text and "* significantly different from the best" in text


def score_rows(db: Path) -> dict[tuple[str, str], tuple[float | None, str, str]]:
    with Store(db, read_only=True) as store:
        rows = store.con.execute("SELECT c.item, s.metric, s.value, s.status, s.run_id FROM scores s JOIN cases c USING (case_id)").fetchall()
    return {(item.rsplit("/", 1)[-1], metric): (value, status, run_id) for item, metric, value, status, run_id in rows}


def install_random_nima(folder: Path, monkeypatch, seed: int) -> str:
    """A random-init NIMA-VGG16 in IQA-PyTorch's layout, under a hub-style name carrying its
    own hash prefix (the catalogue entry is pointed at that name); returns its sha256."""
    import torch

    from restorebench.metrics import nima, weights

    torch.manual_seed(seed)
    net = nima.build_network("vgg16")
    with torch.no_grad():
        net.classifier[2].weight.normal_(0.0, 0.05)
    staging = folder.parent / f"nima-{seed}.pth"
    torch.save({"params": net.state_dict()}, staging)
    digest = hashlib.sha256(staging.read_bytes()).hexdigest()
    key = nima.WEIGHT_FILES["vgg16"].key
    entry = dataclasses.replace(weights.CATALOGUE[key], filename=f"NIMA_VGG16_ava-{digest[:8]}.pth")
    monkeypatch.setitem(weights.CATALOGUE, key, entry)
    for old in folder.glob("NIMA_VGG16_ava-*.pth"):
        old.unlink()
    staging.rename(folder / entry.filename)
    nima._load.cache_clear()
    return digest


def test_checkpoint_installed_then_replaced_rescores_only_that_metric(tmp_path, weights_dir, write_spec, monkeypatch):
    """A stored score is reused only while the metric that made it is unchanged (code, options,
    checkpoint); a changed one re-scores the stored outputs without running the method again."""
    spec = load_spec(write_spec(spec_text(make_lr_folder(tmp_path, n=2), "  - {name: bicubic}", "[psnr, {name: nima, backbone: vgg16}]")))
    db = tmp_path / "db.duckdb"
    options = RunOptions(db=db, out_dir=tmp_path, workers=0, progress=False)

    first = run(spec, options)
    assert first.executed == 2
    before = score_rows(db)
    assert {before[(i, "nima")][1] for i in ("000", "001")} == {"unavailable"}
    assert all(before[(i, "psnr")][1] == "ok" for i in ("000", "001"))

    sha_a = install_random_nima(weights_dir, monkeypatch, seed=0)
    second = run(spec, options)
    assert (second.executed, second.rescored) == (0, 2)
    after_a = score_rows(db)
    assert {after_a[(i, "nima")][1] for i in ("000", "001")} == {"ok"}
    for i in ("000", "001"):
        assert after_a[(i, "psnr")] == before[(i, "psnr")]  # untouched, same run id
        assert after_a[(i, "nima")][2] == second.run_id
    with Store(db, read_only=True) as store:
        recorded = store.con.execute("SELECT weights FROM metrics WHERE name = 'nima'").fetchall()[0][0]
    assert sha_a in recorded

    assert run(spec, options).rescored == 0  # unchanged checkpoint: nothing to do

    install_random_nima(weights_dir, monkeypatch, seed=1)
    fourth = run(spec, options)
    assert (fourth.executed, fourth.rescored) == (0, 2)
    after_b = score_rows(db)
    for i in ("000", "001"):
        assert after_b[(i, "nima")][2] == fourth.run_id
        assert after_b[(i, "nima")][0] != pytest.approx(after_a[(i, "nima")][0], abs=1e-6)
        assert after_b[(i, "psnr")] == before[(i, "psnr")]


def test_changed_metric_options_rescore_stored_outputs(tmp_path, write_spec):
    root = make_lr_folder(tmp_path, n=2, size=24)
    db = tmp_path / "db.duckdb"
    options = RunOptions(db=db, out_dir=tmp_path, workers=0, progress=False)
    run(load_spec(write_spec(spec_text(root, "  - {name: bicubic}", "[psnr_y]"))), options)
    plain = score_rows(db)
    cropped = run(load_spec(write_spec(spec_text(root, "  - {name: bicubic}", "[{name: psnr_y, crop_border: 4}]"))), options)
    assert (cropped.executed, cropped.rescored) == (0, 2)
    border = score_rows(db)
    for i in ("000", "001"):
        assert border[(i, "psnr_y")][2] == cropped.run_id
        assert border[(i, "psnr_y")][0] != pytest.approx(plain[(i, "psnr_y")][0], abs=1e-9)
