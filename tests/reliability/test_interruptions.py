"""The fault-injection campaign, part 1: kills, signals and concurrent writers.

Every trial ends in a database equal to that of a run nobody disturbed. `RESTOREBENCH_SOAK=N` runs N
kill trials instead of the CI's 10 (marker `soak` for the long version)."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import Image

from restorebench.bench.runner import RunOptions, run
from restorebench.bench.spec import load_spec
from restorebench.bench.store import Store

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "restorebench.bench.cli"]
TRIALS = int(os.environ.get("RESTOREBENCH_SOAK", "10"))


def lr_folder(root: Path, n: int) -> Path:
    rng = np.random.default_rng(7)
    folder = root / "lr" / "d" / "s"
    (folder / "HR").mkdir(parents=True)
    for i in range(n):
        hr = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
        Image.fromarray(hr).save(folder / "HR" / f"{i:02d}.png")
        Image.fromarray(hr[::2, ::2]).save(folder / f"{i:02d}.png")
    return root / "lr"


def spec_file(root: Path, lr: Path, *, workers: int, seconds: float, extra_methods: str = "") -> Path:
    path = root / f"spec-w{workers}.yaml"
    path.write_text(f"""
name: campaign
workers: {workers}
timeout: 60
datasets: [{{name: toy, kind: lr_sets, root: {lr}}}]
methods:
  - {{name: test_slow, seconds: {seconds}}}
  - {{name: bicubic}}{extra_methods}
metrics: [psnr, sharpness]
""")
    return path


def snapshot(db: Path) -> tuple[dict, dict]:
    """(case_id → status, (case_id, metric) → value) of a database."""
    with Store(db, read_only=True) as store:
        cases = dict(store.con.execute("SELECT case_id, status FROM cases").fetchall())
        scores = {(c, m): v for c, m, v in store.con.execute("SELECT case_id, metric, value FROM scores").fetchall()}
    return cases, scores


def start(spec: Path, db: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "run", str(spec), "--db", str(db), "--out", str(out), "--no-progress"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    root = tmp_path_factory.mktemp("campaign")
    lr = lr_folder(root, 8)
    spec = spec_file(root, lr, workers=2, seconds=0.15)
    reference = root / "reference.duckdb"
    run(load_spec(spec), RunOptions(db=reference, out_dir=root / "ref-out", workers=0, progress=False))
    return root, spec, snapshot(reference)


def test_kill_minus_9_at_random_points_always_resumes_to_the_same_database(setting):
    root, spec, expected = setting
    rng = random.Random(20261202)  # seeded: a failing trial can be replayed
    total = len(expected[0])
    landed = {"before any case": 0, "in the middle": 0, "after the end": 0}
    for trial in range(TRIALS):
        db, out = root / f"kill{trial}.duckdb", root / f"kill{trial}-out"
        # a random point of progress (outputs written), then a random fraction of a case: machine
        # speed does not decide where the kill lands
        wait_for, delay = rng.randint(0, total - 1), rng.uniform(0.0, 0.3)
        process = start(spec, db, out)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None and len(list(out.rglob("*.png"))) < wait_for:
            time.sleep(0.02)
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGKILL)  # the parent and its workers, as an OOM killer or a power cut would
        process.communicate()
        stored = len(snapshot(db)[0]) if db.exists() else 0
        landed["after the end" if stored == total else "before any case" if stored == 0 else "in the middle"] += 1
        # resume in this process (no worker pool: the values do not depend on the executor)
        summary = run(load_spec(spec), RunOptions(db=db, out_dir=out, workers=0, progress=False))
        assert summary.executed == total - stored and summary.failed == 0, trial
        assert snapshot(db) == expected, f"trial {trial}: resumed database differs"
    assert landed["in the middle"] >= TRIALS // 2, landed


def test_a_killed_worker_is_recorded_as_crashed_and_the_run_goes_on(tmp_path):
    lr = lr_folder(tmp_path, 4)
    spec = spec_file(tmp_path, lr, workers=1, seconds=2.0)
    db, out = tmp_path / "db.duckdb", tmp_path / "out"
    process = start(spec, db, out)
    parent = psutil.Process(process.pid)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not parent.children():
        time.sleep(0.1)
    time.sleep(6)  # the worker is busy with a 2-second case
    for child in parent.children(recursive=True):
        if "spawn" in " ".join(child.cmdline()):
            child.kill()
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 1 and "Traceback" not in stderr  # 1: some case did not succeed
    cases, _ = snapshot(db)
    assert sorted(cases.values()).count("crashed") == 1 and sorted(cases.values()).count("ok") == 7
    resumed = subprocess.run([*CLI, "run", str(spec), "--db", str(db), "--out", str(out), "--no-progress"], cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0 and "1 run (1 ok)" in resumed.stdout  # only the crashed case is retried


@pytest.mark.parametrize("signum,code,words", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "stopped by SIGTERM")])
def test_ctrl_c_and_sigterm_stop_cleanly_and_resume(tmp_path, signum, code, words):
    lr = lr_folder(tmp_path, 6)
    spec = spec_file(tmp_path, lr, workers=2, seconds=1.0)
    db, out = tmp_path / "db.duckdb", tmp_path / "out"
    process = start(spec, db, out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(out.rglob("*.png"))) < 3:
        time.sleep(0.1)
    os.killpg(process.pid, signum)  # the whole group, as a terminal or a service manager does
    stdout, stderr = process.communicate(timeout=120)
    told = f"exit code {process.returncode}\nstdout:\n{stdout}\nstderr:\n{stderr}"  # a rare failure must explain itself
    assert process.returncode == code and words in stderr and "Traceback" not in stderr, told
    cases, _ = snapshot(db)
    with Store(db, read_only=True) as store:
        assert store.con.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]
    assert set(cases.values()) == {"ok"} and 0 < len(cases) < 12
    resumed = subprocess.run([*CLI, "run", str(spec), "--db", str(db), "--out", str(out), "--no-progress"], cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0 and f"{12 - len(cases)} run ({12 - len(cases)} ok)" in resumed.stdout


def test_failed_cases_of_every_kind_are_retried_by_the_next_run(tmp_path):
    """A re-run attempts every case that is not ok or unavailable: failed, timeout, crashed,
    invalid input and blocked are never counted as done."""
    lr = lr_folder(tmp_path, 1)
    (lr / "d" / "s" / "zz_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""
name: failures
workers: 1
timeout: 8
datasets: [{{name: toy, kind: lr_sets, root: {lr}, scale: 2}}]
methods: [{{name: test_raise}}, {{name: test_hang}}, {{name: test_crash}}, {{name: identity}}]
metrics: [sharpness]
""")
    db, out = tmp_path / "db.duckdb", tmp_path / "out"
    first = subprocess.run([*CLI, "run", str(spec), "--db", str(db), "--out", str(out), "--no-progress"], cwd=ROOT, capture_output=True, text=True)
    assert first.returncode == 1
    before, _ = snapshot(db)
    statuses = sorted(before.values())
    assert statuses.count("failed") == 1 and statuses.count("timeout") == 1 and statuses.count("crashed") == 1
    assert statuses.count("invalid_input") == 4 and statuses.count("ok") == 1
    second = subprocess.run([*CLI, "run", str(spec), "--db", str(db), "--out", str(out), "--no-progress"], cwd=ROOT, capture_output=True, text=True)
    assert second.returncode == 1
    assert "8 cases planned, 1 already stored, 7 run" in second.stdout  # all 7 unsuccessful cases again
    with Store(db, read_only=True) as store:
        runs = dict(store.con.execute("SELECT status, count(*) FROM cases GROUP BY ALL").fetchall())
        latest = store.con.execute("SELECT count(DISTINCT run_id) FROM cases WHERE status <> 'ok'").fetchall()[0][0]
    assert sum(runs.values()) == 8 and latest == 1  # each retried case was replaced by the second run's attempt
