"""SinGAN training speed (pytest-benchmark): seconds per iteration at the coarsest and the finest
scale of the 96×128 reference image, paper architecture (``make perf``; the full per-scale table
against the official implementation is ``tests/perf/singan_speed.py``)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.perf


@pytest.fixture(scope="module")
def pyramid():
    from restorebench.models.singan.geometry import pyramid_geometry
    from restorebench.models.singan.pyramid import Pyramid
    from restorebench.models.singan.settings import PAPER
    from restorebench.models.singan.training import reals_pyramid, train_scale

    spec = importlib.util.spec_from_file_location("singan_speed", Path(__file__).with_name("singan_speed.py"))
    speed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(speed)
    IMAGE_SHAPE, test_image = speed.IMAGE_SHAPE, speed.test_image

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    geometry = pyramid_geometry(IMAGE_SHAPE, min_size=PAPER.min_size, max_size=PAPER.max_size, scale_factor=PAPER.scale_factor)
    pyr = Pyramid(settings=PAPER, geometry=geometry, reals=reals_pyramid(test_image(), geometry, device=torch.device("cpu")))
    rng = torch.Generator()
    rng.manual_seed(0)
    for _ in range(geometry.num_scales - 1):
        netG, _, z_opt, amp = train_scale(pyr, generator=rng, iterations=1)
        pyr.add_scale(netG, z_opt, amp)
    yield pyr, rng
    torch.set_num_threads(threads)


def _scale_view(pyr, scale: int):
    """The pyramid as it is when scale ``scale`` is being trained."""
    from restorebench.models.singan.pyramid import Pyramid

    view = Pyramid(settings=pyr.settings, geometry=pyr.geometry, reals=pyr.reals)
    for n in range(scale):
        view.add_scale(pyr.generators[n], pyr.z_opt[n], pyr.noise_amps[n])
    return view


@pytest.mark.parametrize("scale", [0, 6])
def test_training_iteration(benchmark, pyramid, scale):
    from restorebench.models.singan.training import train_scale

    pyr, rng = pyramid
    view = _scale_view(pyr, scale)
    iterations = 10 if scale == 0 else 2
    benchmark.extra_info["iterations_per_round"] = iterations
    benchmark.pedantic(lambda: train_scale(view, generator=rng, iterations=iterations), rounds=3, warmup_rounds=1)
