"""Per-image time of each metric on the calibration image I03 (512×384 RGB), with one thread
(``test_metric_time_per_image``, comparable across revisions whatever their thread defaults) and
with every thread the process may use (``test_metric_time_per_image_all_threads``, the default).

Run with ``pytest -m perf tests/perf/test_metrics_perf.py`` (``make perf``) and
``RESTOREBENCH_CALIBRATION_DIR`` pointing at the calibration folder. The comparison with
IQA-PyTorch is ``tests/perf/compare_pyiqa.py`` (it needs ``pyiqa``, kept out of the project's
environment); batch scoring is ``tests/perf/test_batch_perf.py``. Times land in
pytest-benchmark's table; ``extra_info`` holds the value scored and the threads used.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from restorebench import metrics
from restorebench.metrics.imageio import load_image
from restorebench.metrics.parallel import available_threads

CALIBRATION_DIR = os.environ.get("RESTOREBENCH_CALIBRATION_DIR")
METRICS = ["niqe", "brisque", "piqe", "ssim", "ms_ssim", "psnr", "psnr_y", "sharpness"]

pytestmark = [
    pytest.mark.perf,
    pytest.mark.skipif(not CALIBRATION_DIR, reason="set RESTOREBENCH_CALIBRATION_DIR to the calibration folder"),
]


@pytest.fixture(scope="module")
def pair():
    folder = Path(CALIBRATION_DIR)
    return load_image(folder / "dist" / "I03.bmp"), load_image(folder / "ref" / "I03.bmp")


def _time_metric(benchmark, pair, name: str, **options) -> None:
    dist, ref = pair
    metric = metrics.get(name, **options)
    arguments = (dist, ref) if metric.kind == "FR" else (dist,)
    metric(*arguments)  # parameter files, caches and scratch arrays: set up once, as in a batch
    value = benchmark.pedantic(metric, args=arguments, rounds=30, iterations=1, warmup_rounds=2)
    benchmark.extra_info["value"] = value
    benchmark.extra_info["image"] = f"I03 {dist.shape[1]}×{dist.shape[0]}"
    benchmark.extra_info["threads"] = options.get("threads", available_threads())
    assert value == metric(*arguments)


@pytest.mark.parametrize("name", METRICS)
def test_metric_time_per_image(benchmark, pair, name):
    _time_metric(benchmark, pair, name, threads=1)


@pytest.mark.parametrize("name", METRICS)
def test_metric_time_per_image_all_threads(benchmark, pair, name):
    _time_metric(benchmark, pair, name)
