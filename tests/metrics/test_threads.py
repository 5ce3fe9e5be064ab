"""Metrics on several threads: the same values, bit for bit, as on one; the budget and its sources;
the pieces really split; batch scoring shares its threads out."""
from __future__ import annotations

import multiprocessing

import threading

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage import data

from restorebench import metrics
from restorebench.metrics import parallel
from restorebench.metrics.component import ParameterError
from restorebench.metrics.parallel import (
    available_threads,
    band_bounds,
    current_threads,
    run_in_bands,
    run_tasks,
    thread_budget,
)

# Every metric computed with numpy/scipy here (the torch metrics use torch's own thread pool).
NUMPY_METRICS = ["niqe", "brisque", "piqe", "ssim", "ms_ssim", "psnr", "psnr_y", "sharpness"]
THREAD_COUNTS = [2, 3, 4, 6]  # 4 and 6 cut small images into bands of one or two blocks


def _blurred(image: np.ndarray, sigma: float) -> np.ndarray:
    return np.clip(np.round(gaussian_filter(image.astype(np.float64), (sigma, sigma, 0))), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(image, reference) pairs: three photos of three sizes, one with a flat patch (exact zeros
    in its MSCN coefficients), and seeded noise of an odd size."""
    photos = {name: np.ascontiguousarray(getattr(data, name)()) for name in ("astronaut", "chelsea", "coffee")}
    patched = photos["coffee"].copy()
    patched[40:200, 60:300] = 128
    noise = np.random.default_rng(3).integers(0, 256, (223, 317, 3), dtype=np.uint8)
    images = {**photos, "coffee_flat_patch": patched, "noise_223x317": noise}
    return {name: (_blurred(image, 1.3), image) for name, image in images.items()}


def _score(name: str, threads: int, image: np.ndarray, reference: np.ndarray) -> float:
    metric = metrics.get(name, threads=threads)
    return metric(image, reference) if metric.kind == "FR" else metric(image)


@pytest.mark.parametrize("name", NUMPY_METRICS)
def test_values_are_bit_identical_on_one_and_on_several_threads(pairs, name):
    for label, (image, reference) in pairs.items():
        single = _score(name, 1, image, reference)
        assert np.isfinite(single) or single == np.inf, label
        for threads in THREAD_COUNTS:
            assert _score(name, threads, image, reference) == single, f"{name} on {label} with {threads} threads"


@pytest.fixture
def pieces_per_call(monkeypatch) -> list[int]:
    """How many pieces each parallel run made (recorded where the pieces are handed out)."""
    counts: list[int] = []
    original = parallel._Pieces.__init__

    def recording(self, tasks):
        counts.append(len(tasks))
        original(self, tasks)

    monkeypatch.setattr(parallel._Pieces, "__init__", recording)
    return counts


# sharpness is one gray conversion and one standard deviation: nothing worth a second thread
@pytest.mark.parametrize("name", [name for name in NUMPY_METRICS if name != "sharpness"])
def test_several_threads_really_split_the_work_and_one_thread_does_not(pairs, pieces_per_call, name):
    image, reference = pairs["astronaut"]
    _score(name, 1, image, reference)
    assert pieces_per_call == []  # one thread: everything runs in the caller, no pieces handed out
    _score(name, 2, image, reference)
    assert pieces_per_call and max(pieces_per_call) >= 2


def test_threads_is_a_parameter_of_every_metric_and_not_part_of_its_version():
    for name in metrics.available():
        cls = metrics.REGISTRY.get(name)
        assert "threads" in cls.Params.model_fields, name
        assert "threads" in cls.parameter_schema(), name
        built, with_threads = metrics.get(name), metrics.get(name, threads=2)
        assert built.code_version == with_threads.code_version and built.params_dict == with_threads.params_dict, name
    default, two = metrics.get("niqe"), metrics.get("niqe", threads=2)
    assert two.params.threads == 2 and default.params.threads is None
    assert two.code_version == default.code_version and two.version == default.version
    assert metrics.get("niqe", variant="skvideo").code_version != default.code_version  # other params still count
    assert default.options == two.options == {"variant": "live"}  # what defines the values
    with pytest.raises(ParameterError, match="threads"):
        metrics.get("psnr", threads=0)


def test_available_threads_follows_the_affinity_mask_and_omp_num_threads(monkeypatch):
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5}, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert available_threads() == 6
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert available_threads() == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "16")  # never more than the process may run on
    assert available_threads() == 6
    for ignored in ("0", "", "four"):
        monkeypatch.setenv("OMP_NUM_THREADS", ignored)
        assert available_threads() == 6


def test_the_budget_comes_from_the_metric_else_the_enclosing_block_else_the_process(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    seen: list[int] = []
    original = parallel.band_bounds

    def probe(count, **options):  # what a real metric call's band splitting sees
        seen.append(current_threads())
        return original(count, **options)

    monkeypatch.setattr(parallel, "band_bounds", probe)
    image = data.astronaut()

    def budgets_seen(metric) -> set[int]:
        seen.clear()
        metric(image)
        assert seen
        return set(seen)

    assert budgets_seen(metrics.get("piqe")) == {1}  # the process: OMP_NUM_THREADS
    with thread_budget(3):
        assert budgets_seen(metrics.get("piqe")) == {3}  # the enclosing block
        assert budgets_seen(metrics.get("piqe", threads=2)) == {2}  # the metric's own parameter
        assert current_threads() == 3
    assert current_threads() == 1
    with pytest.raises(ValueError):
        thread_budget(0)


def test_run_tasks_keeps_order_runs_every_task_and_raises_the_first_error():
    assert run_tasks([lambda i=i: i * i for i in range(7)], threads=3) == [i * i for i in range(7)]
    ran = []

    def failing():
        raise KeyError("boom")

    tasks = [lambda: ran.append(1), failing, lambda: ran.append(2), lambda: ran.append(3)]
    with pytest.raises(KeyError, match="boom"):
        run_tasks(tasks, threads=2)
    assert sorted(ran) == [1, 2, 3]


def test_helper_threads_never_fan_out_again():
    inside = run_tasks([lambda: (threading.current_thread().name, current_threads()) for _ in range(6)], threads=3)
    helpers = {budget for name, budget in inside if name.startswith("metric-helper")}
    assert helpers <= {1}
    caller = {budget for name, budget in inside if name == threading.current_thread().name}
    assert caller <= {current_threads()}


def test_bands_cover_the_range_and_respect_the_grain():
    assert band_bounds(10, threads=3) == [(0, 3), (3, 6), (6, 10)]
    assert band_bounds(10, threads=3, grain=4) == [(0, 5), (5, 10)]  # no band below 4 items
    assert band_bounds(3, threads=8) == [(0, 1), (1, 2), (2, 3)]
    assert band_bounds(5, threads=4, grain=100) == [(0, 5)]
    # bands that stay in cache: at most `most` items, in whole rounds over the threads
    assert band_bounds(374, threads=2, grain=4, most=128) == [(0, 93), (93, 187), (187, 280), (280, 374)]
    assert band_bounds(374, threads=1, most=128) == [(0, 124), (124, 249), (249, 374)]
    assert band_bounds(100, threads=2, most=128) == [(0, 50), (50, 100)]
    out = np.zeros(1000)
    run_in_bands(lambda band, start, stop: out.__setitem__(slice(start, stop), band + 1), 1000, threads=4)
    assert [int(v) for v in np.unique(out)] == [1, 2, 3, 4]


@pytest.mark.parametrize("name", ["niqe", "ssim", "psnr"])
def test_batch_scoring_shares_its_threads_and_matches_one_by_one(pairs, name, monkeypatch):
    items = [pair[0] for pair in pairs.values()]
    references = [pair[1] for pair in pairs.values()]
    metric = metrics.get(name, threads=1)
    fr = metric.kind == "FR"
    one_by_one = [metric(i, r) if fr else metric(i) for i, r in zip(items, references)]
    refs = references if fr else None
    built: list[int | None] = []
    original_init = type(metric).__init__

    def recording(self, params=None, **kwargs):
        original_init(self, params, **kwargs)
        built.append(self.params.threads)

    monkeypatch.setattr(type(metric), "__init__", recording)
    # threads: the builds are seen here (forked workers build theirs in their own processes)
    assert metrics.score_many(name, items, refs, threads=4, workers=2, executor="thread") == one_by_one
    assert set(built[1:]) == {2}  # after the validating build: each worker's metric has 4 // 2 threads
    built.clear()
    assert metrics.score_many(name, items, refs, threads=2, executor="thread") == one_by_one  # two workers of one thread
    assert set(built[1:]) == {1}
    built.clear()
    assert metrics.score_many(name, items[:1], refs[:1] if fr else None, threads=3) == one_by_one[:1]
    assert set(built[1:]) == {3}  # one image: one worker with all the threads


@pytest.mark.parametrize("name", ["niqe", "ssim", "piqe"])
def test_forked_batch_scoring_matches_one_by_one_and_reports_errors(pairs, name):
    """The default executor forks workers for numpy metrics; each worker with two threads of its
    own starts helper threads in its own process (the parent's pools are not inherited)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    items = [pair[0] for pair in pairs.values()]
    references = [pair[1] for pair in pairs.values()]
    metric = metrics.get(name, threads=1)
    fr = metric.kind == "FR"
    refs = references if fr else None
    one_by_one = [metric(i, r) if fr else metric(i) for i, r in zip(items, references)]
    _score(name, 2, *pairs["chelsea"])  # the parent has helper threads when it forks
    assert metrics.score_many(name, items, refs, threads=4, workers=2) == one_by_one
    assert metrics.score_many(name, items, refs, threads=2, executor="process") == one_by_one
    tiny = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(metrics.ImageTooSmallError, match=name):
        metrics.score_many(name, [items[0], tiny], [references[0], tiny] if fr else None, threads=2)
