"""Speed and memory of `restorebench site` on databases of the blind-SR study's shape with
100 000 and 1 000 000 scores (and 10 000 000 with RESTOREBENCH_PERF_HUGE=1): wall time of the
build (pytest-benchmark) and the peak resident memory of the building process (extra_info).

    .venv/bin/python -m pytest -m perf tests/perf/test_site_perf.py --benchmark-only -s

The acceptance bound is 60 s for a million scores on the project's 2-core machine, with memory
that does not grow with the number of scores beyond what DuckDB needs: Python holds one
(task, metric) slice of per-image means at a time.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from restorebench.bench.store import Store

pytestmark = pytest.mark.perf

DOMAINS = {"aerial": 4, "fauna": 2, "flora": 2, "medical": 2, "satellite": 4}  # 14 sets, as the study
SR_METHODS = ["bicubic", "dan", "moesr", "blindsr", "kernelgan"]
SR_METRICS = [("maniqa", True), ("niqe", False), ("brisque", False), ("piqe", False), ("nima", True), ("psnr", True),
              ("sharpness", True)]
SINGAN_SCALES, BLURS, TRIPLETS, SAMPLES = 5, ("motion", "defocus"), 10, 5
DEBLUR_METRICS = [("nima", True), ("psnr", True), ("sharpness", True)]
SIZES = [100_000, 1_000_000] + ([10_000_000] if os.environ.get("RESTOREBENCH_PERF_HUGE") else [])


def write_large_database(path: Path, n_scores: int) -> int:
    """About ``n_scores`` scores in the blind-SR study's shape (5 techniques × 14 sets × 7
    metrics, images per set to fit) plus a SinGAN start-scale sweep (5 scales × 2 blurs × 10
    images × 5 samples × 3 metrics). Values are deterministic pseudo-random numbers made in
    DuckDB (a hash of the case and metric), so the database is written without Python rows.
    Returns the number of score rows."""
    n_sets = sum(DOMAINS.values())
    per_set = max(1, round((n_scores - SINGAN_SCALES * len(BLURS) * TRIPLETS * SAMPLES * len(DEBLUR_METRICS))
                           / (len(SR_METHODS) * n_sets * len(SR_METRICS))))
    sets = [(domain, f"{domain}-{s}") for domain, count in DOMAINS.items() for s in range(count)]
    uniform = "((hash({}) % 2000003) / 1000001.5 - 1.0)"  # in [-1, 1]
    with Store(path) as store:
        con = store.con
        store.upsert("runs", [{"run_id": "run-perf", "kind": "run", "spec_name": "perf", "status": "ok", "machine": {"cores": 2},
                               "spec_text": "metrics: [maniqa, niqe, brisque, piqe, nima, psnr, sharpness]"}])
        store.upsert("metrics", [{"name": n, "kind": "NR", "higher_is_better": h} for n, h in dict(SR_METRICS + DEBLUR_METRICS).items()])
        store.upsert("methods", [{"variant_id": m, "name": m, "label": m, "params": {}} for m in SR_METHODS]
                     + [{"variant_id": f"singan-{s}", "name": "singan", "label": f"singan {s}", "params": {"gen_start_scale": s}}
                        for s in range(1, SINGAN_SCALES + 1)])
        con.execute("CREATE TEMP TABLE sets (domain VARCHAR, group_name VARCHAR, s INTEGER)")
        con.executemany("INSERT INTO sets VALUES (?, ?, ?)", [(d, g, i) for i, (d, g) in enumerate(sets)])
        con.execute("CREATE TEMP TABLE techniques (method VARCHAR, m INTEGER)")
        con.executemany("INSERT INTO techniques VALUES (?, ?)", [(m, i) for i, m in enumerate(SR_METHODS)])
        con.execute("CREATE TEMP TABLE sr_metrics (metric VARCHAR, sign DOUBLE)")
        con.executemany("INSERT INTO sr_metrics VALUES (?, ?)", [(m, 1.0 if h else -1.0) for m, h in SR_METRICS])
        con.execute(f"""
            INSERT INTO cases (case_id, run_id, origin, dataset, task, domain, group_name, item, method, variant_id, seed,
                               sample, status, seconds_restore, seconds_total, finished_at)
            SELECT md5(concat_ws('|', 'lr', group_name, i, method)), 'run-perf', 'run', 'lr-sets', 'sr', domain, group_name,
                   printf('img%05d.png', i), method, method, 0, 0, 'ok', 0.5, 1.0, TIMESTAMP '2026-01-01'
            FROM sets, techniques, range({per_set}) r(i)""")
        con.execute(f"""
            INSERT INTO scores (case_id, metric, value, status, run_id)
            SELECT md5(concat_ws('|', 'lr', group_name, i, method)), metric,
                   sign * (0.1 * m + {uniform.format("group_name, i")} + 0.5 * {uniform.format("group_name, i, method, metric")}),
                   'ok', 'run-perf'
            FROM sets, techniques, sr_metrics, range({per_set}) r(i)""")
        con.execute(f"""
            INSERT INTO cases (case_id, run_id, origin, dataset, task, group_name, item, blur, method, variant_id, seed, sample,
                               status, finished_at)
            SELECT md5(concat_ws('|', 'triplets', blur, i, scale, sample)), 'run-perf', 'run', 'triplets', 'deblur', blur,
                   printf('%03d', i), blur, 'singan', 'singan-' || scale, 0, sample, 'ok', TIMESTAMP '2026-01-01'
            FROM range(1, {SINGAN_SCALES + 1}) a(scale), (VALUES {", ".join(f"('{b}')" for b in BLURS)}) b(blur),
                 range({TRIPLETS}) c(i), range({SAMPLES}) d(sample)""")
        con.execute(f"""
            INSERT INTO scores (case_id, metric, value, status, run_id)
            SELECT case_id, metric, 5 - 0.2 * CAST(split_part(variant_id, '-', 2) AS INTEGER) + {uniform.format("case_id, metric")},
                   'ok', 'run-perf'
            FROM cases, (VALUES {", ".join(f"('{m}')" for m, _ in DEBLUR_METRICS)}) m(metric) WHERE dataset = 'triplets'""")
        return store.query("SELECT count(*) AS n FROM scores").to_pylist()[0]["n"]


BUILD = textwrap.dedent("""
    import json, resource, sys, time
    from restorebench.reports.site import build_site
    started = time.perf_counter()
    build_site(sys.argv[1], sys.argv[2])
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"seconds": time.perf_counter() - started,
                      "cpu_seconds": me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime,
                      "peak_rss_mb": me.ru_maxrss / 1024}))
""")


def build_in_a_process(db: Path, out: Path) -> dict[str, float]:
    """Build the site in a fresh Python process (so its peak memory is the build's alone)."""
    result = subprocess.run([sys.executable, "-c", BUILD, str(db), str(out)], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def databases(tmp_path_factory) -> dict[int, tuple[Path, int]]:
    root = tmp_path_factory.mktemp("perf")
    return {size: (root / f"{size}.duckdb", write_large_database(root / f"{size}.duckdb", size)) for size in SIZES}


@pytest.mark.parametrize("size", SIZES)
def test_site_build(benchmark, databases, tmp_path, size):
    db, n_scores = databases[size]
    assert abs(n_scores - size) < 0.01 * size
    measured = {}

    def build():
        measured.update(build_in_a_process(db, tmp_path / "site"))

    benchmark.pedantic(build, rounds=1, iterations=1)
    benchmark.extra_info.update(n_scores=n_scores, **measured)
    print(f"\n{n_scores} scores: {measured['seconds']:.1f} s wall, {measured['cpu_seconds']:.1f} s CPU (with MkDocs), "
          f"peak RSS {measured['peak_rss_mb']:.0f} MB")
    assert (tmp_path / "site" / "index.html").exists()
    if size == 1_000_000:
        # The budget is 60 s on an idle 2-core machine. Wall time on a shared machine measures the
        # neighbours; the build's CPU time (DuckDB's threads and MkDocs included) does not, and an
        # idle machine's wall time does not exceed it unless the build waits on the disk.
        assert measured["cpu_seconds"] <= 60, f"site build used {measured['cpu_seconds']:.1f} CPU seconds (budget 60 s)"
