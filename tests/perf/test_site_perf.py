"""Speed of `restorebench site` on a database of 100 000 score rows (the acceptance bound is
60 s on the project's 2-core machine; this is a benchmark, not a timed assertion).

    .venv/bin/python -m pytest -m perf tests/perf/test_site_perf.py --benchmark-only
"""
from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pytest

from restorebench.bench.store import Store
from restorebench.reports.site import build_site

pytestmark = pytest.mark.perf

DOMAINS = {"aerial": 4, "fauna": 2, "flora": 2, "medical": 2, "satellite": 4}
SR_METHODS = ["bicubic", "dan", "moesr", "blindsr", "kernelgan"]
SR_METRICS = [("maniqa", True), ("niqe", False), ("brisque", False), ("piqe", False), ("nima", True),
              ("psnr", True), ("sharpness", True)]
IMAGES_PER_SET = 202
SINGAN_SCALES, BLURS, TRIPLETS, SAMPLES = (1, 2, 3, 4, 5), ("motion", "defocus"), 10, 5
DEBLUR_METRICS = [("nima", True), ("psnr", True), ("sharpness", True)]


def write_large_database(path: Path) -> int:
    """The blind-SR study's shape (5 techniques × 14 sets, 202 images per set, 7 metrics) plus a
    SinGAN start-scale study (5 scales × 2 blurs × 10 images × 5 samples, 3 metrics): 100 480
    score rows. Returns the number of score rows."""
    rng = np.random.default_rng(0)
    now = dt.datetime(2026, 1, 1)
    cases, scores = [], []

    def case_id(*parts) -> str:
        return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:32]

    for domain, n_sets in DOMAINS.items():
        for s in range(n_sets):
            group = f"{domain}-{s}"
            quality = rng.normal(0, 1, IMAGES_PER_SET)
            for m, method in enumerate(SR_METHODS):
                noise = rng.normal(0, 0.5, (IMAGES_PER_SET, len(SR_METRICS)))
                for i in range(IMAGES_PER_SET):
                    cid = case_id("lr", group, i, method)
                    cases.append({"case_id": cid, "run_id": "run-perf", "origin": "run", "dataset": "lr-sets", "task": "sr",
                                  "domain": domain, "group_name": group, "item": f"img{i:03d}.png", "method": method,
                                  "variant_id": method, "seed": 0, "sample": 0, "status": "ok", "seconds_restore": 0.5,
                                  "seconds_total": 1.0, "finished_at": now})
                    for k, (metric, higher) in enumerate(SR_METRICS):
                        value = 0.1 * m + quality[i] + noise[i, k]
                        scores.append({"case_id": cid, "metric": metric, "value": float(value if higher else -value),
                                       "status": "ok", "run_id": "run-perf"})
    for scale in SINGAN_SCALES:
        for blur in BLURS:
            for i in range(TRIPLETS):
                for sample in range(SAMPLES):
                    cid = case_id("triplets", blur, i, scale, sample)
                    cases.append({"case_id": cid, "run_id": "run-perf", "origin": "run", "dataset": "triplets",
                                  "task": "deblur", "group_name": blur, "item": f"{i:03d}", "blur": blur, "method": "singan",
                                  "variant_id": f"singan-{scale}", "seed": 0, "sample": sample, "status": "ok",
                                  "finished_at": now})
                    for metric, _ in DEBLUR_METRICS:
                        scores.append({"case_id": cid, "metric": metric, "value": float(rng.normal(5 - 0.2 * scale, 1)),
                                       "status": "ok", "run_id": "run-perf"})
    with Store(path) as store:
        store.upsert("runs", [{"run_id": "run-perf", "kind": "run", "spec_name": "perf", "started_at": now,
                               "finished_at": now, "status": "ok", "machine": {"cores": 2}}])
        store.upsert("metrics", [{"name": n, "kind": "NR", "higher_is_better": h} for n, h in dict(SR_METRICS + DEBLUR_METRICS).items()])
        store.upsert("methods", [{"variant_id": m, "name": m, "label": m, "params": {}} for m in SR_METHODS]
                     + [{"variant_id": f"singan-{s}", "name": "singan", "label": f"singan {s}", "params": {"gen_start_scale": s}}
                        for s in SINGAN_SCALES])
        store.write_results(cases, scores)
    return len(scores)


@pytest.fixture(scope="module")
def large_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("perf") / "large.duckdb"
    assert write_large_database(path) >= 100_000
    return path


def test_site_build_100k_scores(benchmark, large_db, tmp_path):
    out = tmp_path / "site"
    index = benchmark.pedantic(build_site, args=(large_db, out), rounds=1, iterations=1)
    assert index.exists()
    assert benchmark.stats.stats.max <= 60, f"site build took {benchmark.stats.stats.max:.1f} s (budget 60 s)"
