"""The local executor's worker processes share the cores: workers × threads never exceeds them."""
from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from restorebench.bench import executors
from restorebench.bench.runner import RunOptions, run
from restorebench.bench.spec import load_spec
from restorebench.bench.store import Store
from restorebench.metrics import parallel


@pytest.mark.parametrize(("cpus", "omp", "workers", "share"), [
    (8, None, 1, 8), (8, None, 2, 4), (8, None, 3, 2), (8, None, 8, 1),
    (8, None, 16, 1),  # more workers than cores: one thread each (the workers alone oversubscribe)
    (8, "4", 2, 2),    # a parent limited by OMP_NUM_THREADS hands out only what it has
    (8, "64", 2, 4),   # …and a larger setting gives no more than the cores
    (2, None, 2, 1), (2, None, 1, 2),
])
def test_each_worker_gets_its_share_of_the_cores(monkeypatch, cpus, omp, workers, share):
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    assert executors.worker_threads(workers) == share


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_worker_processes_use_their_share_for_metrics_openmp_and_torch(tmp_path, write_spec, monkeypatch, workers):
    """Real spawned workers (a test method reports what its process sees): OMP_NUM_THREADS,
    the metrics' default budget and torch's thread count all equal the share, whatever the
    parent's environment said."""
    monkeypatch.setenv("OMP_NUM_THREADS", "64")  # must not reach the workers as it is
    share = executors.worker_threads(workers)
    folder = tmp_path / "lr" / "toy" / "set1"
    folder.mkdir(parents=True)
    for i in range(2):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    spec = write_spec(f"""
name: worker-threads
timeout: 600
workers: {workers}
datasets: [{{name: toy, kind: lr_sets, root: {tmp_path / 'lr'}, scale: 1}}]
methods: [{{name: test_report_threads}}]
metrics: [sharpness]
""")
    db = tmp_path / "db.duckdb"
    summary = run(load_spec(spec), RunOptions(db=db, out_dir=tmp_path / "out", workers=workers, progress=False))
    assert summary.status_counts == {"failed": 2}
    with Store(db, read_only=True) as store:
        errors = [row[0] for row in store.con.execute("SELECT error FROM cases").fetchall()]
    for error in errors:
        found = re.search(r"OMP_NUM_THREADS=(\d+) metrics=(\d+) torch=(\d+)", error)
        assert found, error
        assert [int(v) for v in found.groups()] == [share] * 3, error
