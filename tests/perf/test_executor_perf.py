"""Executors side by side, and what the driver can store.

- Per-case cost of the Ray executor (a Ray instance on this machine, 2 CPUs, started once for the
  module as a cluster would be) against the local pool (2 workers), on 1,000 trivial cases
  (identity on 16×16 images, sharpness) and on the smoke spec. ``extra_info``: ``ms_per_case``
  (the median run over its cases) and ``ms_per_case_marginal`` (the same minus a one-case run:
  what each further case costs once the executor is up).
- The driver's store throughput: transactional batches as the runner writes them when results
  arrive faster than it flushes (``FLUSH_EVERY_CASES`` cases; 1 case row, 6 score rows and 1
  artifact row per case), and batches of 32 cases (the size before issue 16), in rows/s; and the
  output files it writes (1 MB each), in MB/s.

Both executors are measured in the same process, one after the other: compare their ratio; the
absolute numbers move with the load of a shared machine.
"""
from __future__ import annotations

import datetime as dt
import os
import time

import numpy as np
import pytest
from PIL import Image

from restorebench.bench.plan import make_plan
from restorebench.bench.runner import FLUSH_EVERY_CASES, RunOptions, run
from restorebench.bench.spec import load_spec
from restorebench.bench.store import ArtifactRow, CaseRow, ScoreRow, Store
from restorebench.metrics.imageio import write_atomic
from tests_support import ROOT

N_TRIVIAL = 1000
WORKERS = 2
CASES_PER_ROUND = 8192
METRICS = ("psnr", "ssim", "niqe", "brisque", "piqe", "sharpness")


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=WORKERS, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


def _trivial_specs(root):
    folder = root / "lr" / "toy" / "set1"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(N_TRIVIAL):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i:04d}.png")
    specs = {}
    for n in (1, N_TRIVIAL):
        path = root / f"trivial-{n}.yaml"
        path.write_text(f"""
name: trivial
datasets: [{{name: toy, kind: lr_sets, root: {root / 'lr'}, scale: 1, limit: {n}}}]
methods: [{{name: identity}}]
metrics: [sharpness]
""")
        specs[n] = load_spec(path)
    return specs


@pytest.fixture(scope="module")
def workloads(tmp_path_factory, builtin_root):
    root = tmp_path_factory.mktemp("executor-perf")
    trivial = _trivial_specs(root)
    smoke = load_spec(ROOT / "bench" / "specs" / "smoke.yaml")
    return root, {"trivial": (trivial[N_TRIVIAL], trivial[1]), "smoke": (smoke, None)}


def _run(loaded, root, executor: str) -> float:
    plan = make_plan(loaded)
    options = RunOptions(db=root / f"{executor}.duckdb", out_dir=root / f"out-{executor}", fresh=True, workers=WORKERS,
                         progress=False, executor=executor)
    start = time.perf_counter()
    summary = run(loaded, options, plan=plan)
    assert summary.status_counts == {"ok": len(plan.cases)}
    return time.perf_counter() - start


@pytest.mark.perf
@pytest.mark.parametrize("workload", ["trivial", "smoke"])
@pytest.mark.parametrize("executor", ["local", "ray"])
def test_executor_overhead_per_case(benchmark, workloads, workload, executor, request):
    if executor == "ray":
        request.getfixturevalue("ray_instance")  # started once; the runs join it
    root, specs = workloads
    loaded, one = specs[workload]
    n = len(make_plan(loaded).cases)
    _run(loaded, root, executor)  # warm: workers up, imports done, caches filled
    seconds = benchmark.pedantic(lambda: _run(loaded, root, executor), rounds=3, iterations=1)
    median = benchmark.stats.stats.median
    benchmark.extra_info["cases"] = n
    benchmark.extra_info["ms_per_case"] = round(median / n * 1000, 3)
    line = f"\n{executor} executor, {workload} ({n} cases): {median / n * 1000:.2f} ms per case"
    if one is not None:
        fixed = min(_run(one, root, executor) for _ in range(2))
        benchmark.extra_info["ms_per_case_marginal"] = round((median - fixed) / (n - 1) * 1000, 3)
        line += f", {(median - fixed) / (n - 1) * 1000:.2f} ms per further case (a one-case run takes {fixed:.2f} s)"
    print(line)
    assert seconds > 0


def _batches(n_cases: int, size: int, first: int = 0) -> list[tuple[list[CaseRow], list[ScoreRow], list[ArtifactRow]]]:
    """``n_cases`` cases of the runner's rows in batches of ``size``, with strings as long as a
    real run's (paths, ids, hashes)."""
    now = dt.datetime(2026, 1, 1)
    out = []
    for b in range(first // size, (first + n_cases) // size):
        cases, scores, artifacts = [], [], []
        for i in range(size):
            case_id = f"{b:012d}{i:012d}"
            output = f"results/outputs/blindsr-study-1a2b3c4d/DAN v1 (setting 1)-0123abcd-4567ef89/aerial_set{b % 14}_{i:03d}-89abcdef-seed0-sample0.png"
            cases.append(CaseRow(
                case_id=case_id, run_id="20260101T000000Z-abcdef", dataset="blindsr-study", task="sr", domain="aerial",
                group_name=f"set{b % 14}", item=f"aerial/set{b % 14}/{i:03d}", scale=2, method="dan", variant_id="0123456789abcdef",
                seed=0, sample=0, input_path=f"/home/user/data/blindsr/aerial/set{b % 14}/{i:03d}.png", input_sha256="a" * 64,
                seconds_load=0.01, seconds_prepare=0.5, seconds_restore=3.0, seconds_save=0.02, seconds_total=3.6,
                peak_rss_mb=1500.0, output_path=output, output_sha256="b" * 64, width=512, height=512, finished_at=now,
                node="gpu-node-17/0a1b2c3d",
            ))
            scores += [ScoreRow(case_id, m, status="ok", value=float(i) / 7, seconds=0.05, run_id="20260101T000000Z-abcdef",
                                metric_version="0123456789abcdef") for m in METRICS]
            artifacts.append(ArtifactRow(case_id, "output", output, "b" * 64))
        out.append((cases, scores, artifacts))
    return out


@pytest.mark.perf
@pytest.mark.parametrize("stored,batch", [(0, FLUSH_EVERY_CASES), (100_000, FLUSH_EVERY_CASES), (0, 32)])
def test_driver_store_throughput(benchmark, tmp_path, stored, batch):
    """Batches written into a new database, and into one that already holds ``stored`` cases (the
    primary-key checks of ``INSERT OR REPLACE`` grow with the table)."""
    batches = _batches(CASES_PER_ROUND, batch, first=stored)
    rows = sum(len(c) + len(s) + len(a) for c, s, a in batches)
    template = tmp_path / "template.duckdb"
    with Store(template) as store:
        for cases, scores, artifacts in _batches(stored, 10_000):  # ids apart from the measured ones
            store.write_results(cases, scores, artifacts)
    counter = iter(range(1000))

    def setup():
        path = tmp_path / f"store-{next(counter)}.duckdb"
        path.write_bytes(template.read_bytes())
        return (path,), {}

    def store_all(path) -> None:
        with Store(path) as store:
            for cases, scores, artifacts in batches:
                store.write_results(cases, scores, artifacts)

    benchmark.pedantic(store_all, setup=setup, rounds=3, iterations=1, warmup_rounds=1)
    median = benchmark.stats.stats.median
    benchmark.extra_info["rows_per_s"] = round(rows / median)
    benchmark.extra_info["cases_per_s"] = round(CASES_PER_ROUND / median)
    line = (f"\nstore, batches of {batch} cases, {stored:,} cases stored before: {rows / median:,.0f} rows/s "
            f"({CASES_PER_ROUND / median:,.0f} cases/s with {len(METRICS)} scores and 1 artifact each)")
    if stored:
        size = os.path.getsize(template)
        benchmark.extra_info["bytes_per_case"] = round(size / stored)
        line += f"; the database takes {size / stored:,.0f} bytes per case"
    print(line)


@pytest.mark.perf
def test_driver_output_write_throughput(benchmark, tmp_path):
    data = np.random.default_rng(0).integers(0, 256, 2**20, dtype=np.uint8).tobytes()  # 1 MB (incompressible, like a PNG)
    counter = iter(range(10**6))

    def write_files() -> None:
        for _ in range(64):
            write_atomic(tmp_path / f"{next(counter) % 256}.png", data)

    benchmark.pedantic(write_files, rounds=3, iterations=1, warmup_rounds=1)
    mb_per_s = 64 / benchmark.stats.stats.median
    benchmark.extra_info["mb_per_s"] = round(mb_per_s)
    print(f"\noutput files: {mb_per_s:,.0f} MB/s written by the driver (1 MB files, write + rename)")
