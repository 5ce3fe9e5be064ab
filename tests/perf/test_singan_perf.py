"""SinGAN training speed (``make perf``), paper architecture on the 96×128 test image, 2 threads.

- ``test_training_iteration[0|6]``: seconds per iteration of our loop at the coarsest and the
  finest scale (pytest-benchmark; ``make perf-compare`` guards these against regressions), and a
  check that the loop it times computes the official iteration at that scale (float64, against
  ``tests/models/singan_official.py``);
- ``test_official_iteration[0|6]``: the official loop's transcription, timed the same way, so
  that the benchmark table shows both side by side (skipped by ``make perf-compare``, which
  compares revisions of our code only);
- ``test_side_by_side_per_scale``: the full table of ``singan_speed.py`` — official and our time
  per scale 0…6 in alternating passes, ratio, roofline limit — printed, and ours must not be
  slower than the official loop at any scale.

``test_roofline_counts_every_convolution_an_iteration_runs`` is not a benchmark (it runs with
``make test``): the roofline's work list equals the convolutions an iteration dispatches.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

import torch

HERE = Path(__file__).resolve().parent
THREADS = 2
ITERATIONS = {0: 10, 6: 2}
RELATIVE_ONLY = os.environ.get("RESTOREBENCH_PERF_RELATIVE_ONLY") == "1"  # set by compare_revisions.py


def _speed():
    if "singan_speed" not in sys.modules:
        spec = importlib.util.spec_from_file_location("singan_speed", HERE / "singan_speed.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["singan_speed"] = module
        spec.loader.exec_module(module)
    return sys.modules["singan_speed"]


@pytest.fixture(scope="module")
def threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield THREADS
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def bench(threads):
    return _speed().build()


@pytest.fixture(scope="module")
def bench64(threads):
    """The same frozen pyramid in float64 (for the equivalence check)."""
    with _speed().official_module().default_dtype(torch.float64):
        return _speed().build()


def _computes_the_official_iteration(bench64, scale: int) -> None:
    """One iteration of both loops from the same start, float64: the same weights."""
    official = _speed().official_module()
    with official.default_dtype(torch.float64):
        state = torch.get_rng_state()
        rng = torch.Generator()
        rng.set_state(state)
        netG, netD, _, _ = bench64.run_ours(scale, 1, rng)
        torch.set_rng_state(state)
        reference_G, reference_D, _ = bench64.run_official(scale, 1)
    # a real difference moves weights by Adam steps of ~5e-4; rounding at the finest scales, ~1e-10
    official.assert_same_state(netG.state_dict(), reference_G.state_dict(), atol=1e-9)
    official.assert_same_state(dict(netD.named_parameters()), dict(reference_D.named_parameters()), critic=True, atol=1e-9)


@pytest.mark.perf
@pytest.mark.parametrize("scale", [0, 6])
def test_training_iteration(benchmark, bench, bench64, scale):
    iterations = ITERATIONS[scale]
    rng = torch.Generator().manual_seed(0)
    benchmark.extra_info["iterations_per_round"] = iterations
    netG, netD, z_opt, noise_amp = benchmark.pedantic(lambda: bench.run_ours(scale, iterations, rng), rounds=3, warmup_rounds=1)
    assert all(bool(torch.isfinite(t).all()) for t in [*netG.state_dict().values(), *netD.state_dict().values(), z_opt])
    assert noise_amp > 0
    _computes_the_official_iteration(bench64, scale)


@pytest.mark.perf
@pytest.mark.skipif(RELATIVE_ONLY, reason="the official loop is the reference of `make perf`, not a revision of ours")
@pytest.mark.parametrize("scale", [0, 6])
def test_official_iteration(benchmark, bench, scale):
    iterations = ITERATIONS[scale]
    torch.manual_seed(0)
    benchmark.extra_info["iterations_per_round"] = iterations
    netG, _, _ = benchmark.pedantic(lambda: bench.run_official(scale, iterations), rounds=3, warmup_rounds=1)
    assert all(bool(torch.isfinite(t).all()) for t in netG.state_dict().values())


@pytest.mark.perf
@pytest.mark.skipif(RELATIVE_ONLY, reason="minutes of work; `make perf` only")
def test_side_by_side_per_scale(benchmark, bench, capsys):
    speed = _speed()
    rows = []
    benchmark.pedantic(
        lambda: rows.extend(speed.measure(bench, scale, passes=2) for scale in range(bench.geometry.num_scales)),
        rounds=1, iterations=1,
    )
    with capsys.disabled():
        print(f"\n\nSinGAN, seconds per training iteration, {THREADS} threads (tests/perf/singan_speed.py):\n")
        print(speed.table(rows))
    slower = [r["scale"] for r in rows if r["ratio"] >= 1.0]
    assert not slower, f"our loop is slower than the official loop at scales {slower}"


@pytest.fixture
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_roofline_counts_every_convolution_an_iteration_runs(one_thread):
    """The work list of ``singan_roofline.count`` = the convolutions (forward, backward and the
    penalty's double backward) that one iteration of ``train_scale`` dispatches, at three
    scales (difference of a 2- and a 3-iteration run: the snapshot passes cancel)."""
    from restorebench.models.singan.geometry import pyramid_geometry
    from restorebench.models.singan.pyramid import Pyramid
    from restorebench.models.singan.settings import TrainingSettings
    from restorebench.models.singan.training import reals_pyramid, train_scale

    roofline = _speed().roofline_module()
    settings = TrainingSettings(max_size=48, min_size=26, nfc=8, min_nfc=8)
    geometry = pyramid_geometry((40, 48), min_size=settings.min_size, max_size=settings.max_size, scale_factor=settings.scale_factor)
    pyramid = Pyramid(settings=settings, geometry=geometry, reals=reals_pyramid(_speed().test_image((40, 48)), geometry, device=torch.device("cpu")))
    rng = torch.Generator().manual_seed(0)
    assert geometry.num_scales >= 3
    for scale in range(3):
        two = roofline.record_convolutions(lambda: train_scale(pyramid, generator=rng, iterations=2))
        three = roofline.record_convolutions(lambda: train_scale(pyramid, generator=rng, iterations=3))
        work = roofline.count(settings, geometry, scale)
        assert three - two == roofline.flops(work) > 0
        netG, _, z_opt, amp = train_scale(pyramid, generator=rng, iterations=1)
        pyramid.add_scale(netG, z_opt, amp)
