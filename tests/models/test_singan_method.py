"""SinGAN end to end on a tiny pyramid: injection uses the blurred image, caching, determinism.

The model is trained once per module (48×48 photo, 5 scales of 20…40 px, 8 channels,
25 iterations per scale: a few seconds on one core). Its quality is poor, but the properties
tested here are structural.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from restorebench import models
from restorebench.metrics.errors import RestoreBenchError
from restorebench.metrics.matlab import imresize
from restorebench.metrics.psnr import psnr
from restorebench.models.base import RestoreContext
from restorebench.models.singan import cache

TINY = dict(profile="fast", max_size=40, min_size=20, iterations=25, nfc=8, min_nfc=8)
SIZE = (48, 48)
SCALES = 5  # 20, 24, 29, 34, 40 px


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def photos():
    from scipy.ndimage import gaussian_filter
    from skimage import data

    sharp = imresize(data.astronaut()[:300, 100:400], output_shape=SIZE)
    blurred = np.clip(gaussian_filter(sharp.astype(np.float64), (1.5, 1.5, 0)) + 0.5, 0, 255).astype(np.uint8)
    other = imresize(data.chelsea(), output_shape=SIZE)
    return sharp, blurred, other


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("singan-cache")


def run(photos, cache_dir, *, start, sample=0, seed=0, image=None):
    sharp, blurred, _ = photos
    method = models.get("singan", gen_start_scale=start, **TINY)
    method.prepare(RestoreContext(task="deblur", training_image=sharp, blur="motion", seed=seed, sample=sample, cache_dir=cache_dir, device="cpu"))
    return method.restore(blurred if image is None else image)


@pytest.fixture(scope="module")
def outputs(photos, cache_dir):
    """Two samples at every start scale 1…4 (trains the pyramid once)."""
    before = cache.COUNTS["trained"]
    result = {n: [run(photos, cache_dir, start=n, sample=s) for s in range(2)] for n in range(1, SCALES)}
    assert cache.COUNTS["trained"] == before + 1, "every start scale and sample must share one training"
    return result


def test_output_is_uint8_at_the_input_size(outputs):
    for samples in outputs.values():
        for out in samples:
            assert out.dtype == np.uint8 and out.shape == (*SIZE, 3)


def test_injection_near_the_top_follows_the_blurred_image(photos, outputs):
    _, blurred, other = photos
    top = outputs[SCALES - 1]
    for out in top:
        assert psnr(out, blurred) > psnr(out, other) + 8.0


def test_injection_at_a_coarse_scale_departs_more_from_the_blurred_image(photos, outputs):
    _, blurred, _ = photos
    mean_psnr = {n: np.mean([psnr(o, blurred) for o in outs]) for n, outs in outputs.items()}
    assert mean_psnr[1] < mean_psnr[SCALES - 1] - 3.0
    assert mean_psnr[1] < mean_psnr[2] < mean_psnr[SCALES - 1]


def test_injected_image_changes_the_output(photos, cache_dir, outputs):
    _, blurred, other = photos
    with_other = run(photos, cache_dir, start=SCALES - 1, image=other)
    assert psnr(with_other, other) > psnr(with_other, blurred) + 8.0


def test_same_seed_and_sample_give_the_same_output(photos, cache_dir, outputs):
    again = run(photos, cache_dir, start=2, sample=1)
    assert np.array_equal(again, outputs[2][1])
    assert not np.array_equal(outputs[2][0], outputs[2][1])


def test_second_prepare_loads_from_disk_without_training(photos, cache_dir, outputs):
    trained = cache.COUNTS["trained"]
    loaded = cache.COUNTS["loaded"]
    cache.forget_memory()
    out = run(photos, cache_dir, start=3, sample=0)
    assert cache.COUNTS["trained"] == trained
    assert cache.COUNTS["loaded"] == loaded + 1
    assert np.array_equal(out, outputs[3][0])
    files = sorted(p.suffix for p in cache_dir.joinpath("singan").iterdir())
    assert files == [".json", ".lock", ".pt"]


def test_cached_file_loads_with_weights_only(cache_dir, outputs):
    path = next(cache_dir.joinpath("singan").glob("*.pt"))
    state = torch.load(path, weights_only=True)
    assert len(state["generators"]) == SCALES and len(state["reals"]) == SCALES
    assert state["noise_amps"][0] == 1.0 and all(0 < a < 1 for a in state["noise_amps"][1:])
    assert state["z_opt"][1].abs().max() == 0  # Z_opt is zero above the coarsest scale


def test_random_mode_gives_unconditional_samples(photos, cache_dir, outputs):
    a = run(photos, cache_dir, start="random", sample=0)
    b = run(photos, cache_dir, start="random", sample=1)
    assert a.shape == (*SIZE, 3) and not np.array_equal(a, b)


def test_start_scale_beyond_the_pyramid_is_a_clear_error(photos, cache_dir, outputs):
    with pytest.raises(RestoreBenchError, match=f"1…{SCALES - 1}"):
        run(photos, cache_dir, start=SCALES)


def test_missing_training_image_is_a_clear_error():
    method = models.get("singan", gen_start_scale=1, **TINY)
    with pytest.raises(RestoreBenchError, match="sharp photo"):
        method.prepare(RestoreContext(task="deblur"))


def test_params_are_validated():
    from restorebench.metrics.component import ParameterError

    with pytest.raises(ParameterError, match="random"):
        models.get("singan", gen_start_scale=0)
    with pytest.raises(ParameterError, match="'iteration' is not a parameter of method 'singan'"):
        models.get("singan", iteration=10)
    method = models.get("singan", profile="paper", gen_start_scale=3)
    assert method.settings.iterations == 2000 and method.stochastic and method.tasks == {"deblur"}


def test_training_is_deterministic_under_the_seed(photos):
    from restorebench.models.singan.geometry import pyramid_geometry
    from restorebench.models.singan.settings import TrainingSettings
    from restorebench.models.singan.training import train_pyramid

    sharp = photos[0]
    settings = TrainingSettings(max_size=30, min_size=20, iterations=3, nfc=4, min_nfc=4)
    geometry = pyramid_geometry(sharp.shape[:2], min_size=20, max_size=30, scale_factor=0.75)
    first, second, third = (train_pyramid(sharp, geometry, settings, seed=s, device=torch.device("cpu")) for s in (5, 5, 6))
    w = lambda p: p.generators[-1].state_dict()["head.conv.weight"]  # noqa: E731
    assert torch.equal(w(first), w(second)) and first.noise_amps == second.noise_amps
    assert not torch.equal(w(first), w(third))


def test_discovery_does_not_import_torch():
    code = "import models.singan, sys; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
