"""Deep Image Prior: the official skip hourglass and Lanczos-2 downsampler, the fitting loss
falling, the output's consistency with the input, determinism, sizes and parameters.

Fitting cases use a 24×24 LR image (×2, a 64×64 canvas) with 8 channels: about a second on one
core for a few dozen iterations.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from restorebench import models  # noqa: E402
from restorebench.metrics.matlab import imresize  # noqa: E402
from restorebench.models import dip as D  # noqa: E402
from restorebench.models.base import RestoreContext  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def small_lr():
    """A 24×24 LR crop of the astronaut photo (MATLAB bicubic ×½ of a 48×48 crop), float [0, 1]."""
    from skimage import data

    hr = data.astronaut()[100:148, 180:228]
    return imresize(hr.astype(np.float64) / 255.0, 0.5)


def official_skip_parameters(c_in: int, c: int, k: int, scales: int) -> int:
    """The parameter count of the official ``skip(c_in, 3, [c]*n, [c]*n, [k]*n, ...)``, tallied
    from ``models/skip.py`` (every conv with a bias; BN with weight and bias)."""
    conv = lambda a, b, size: a * b * size * size + b  # noqa: E731
    bn = lambda n: 2 * n  # noqa: E731
    total = 0
    for level in range(scales):
        depth = c_in if level == 0 else c
        total += conv(depth, k, 1) + bn(k)  # skip branch
        total += conv(depth, c, 3) + bn(c) + conv(c, c, 3) + bn(c)  # down: stride-2 conv, conv
        total += bn(k + c) + conv(k + c, c, 3) + bn(c) + conv(c, c, 1) + bn(c)  # after the concat
    return total + conv(c, 3, 1)


def test_skip_network_is_the_official_one():
    net = D.build_skip(D.PAPER)
    assert sum(p.numel() for p in net.parameters()) == official_skip_parameters(32, 128, 4, 5) == 2_217_831
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    # Depth first: per scale a skip 1×1, a stride-2 3×3 and a 3×3 on the way down; per scale a
    # 3×3 and a 1×1 after the concat on the way up; the output 1×1.
    assert [(c.kernel_size[0], c.stride[0]) for c in convs] == [(1, 1), (3, 2), (3, 1)] * 5 + [(3, 1), (1, 1)] * 5 + [(1, 1)]
    assert convs[-1].out_channels == 3
    assert all(c.bias is not None for c in convs)
    assert sum(isinstance(m, torch.nn.ReflectionPad2d) for m in net.modules()) == len(convs)
    assert sum(isinstance(m, torch.nn.Upsample) and m.mode == "bilinear" for m in net.modules()) == 5
    assert isinstance(list(net.children())[-1], torch.nn.Sigmoid)
    with torch.no_grad():
        assert net(torch.rand(1, 32, 64, 96)).shape == (1, 3, 64, 96)
    fast = D.build_skip(D.FAST)
    assert sum(p.numel() for p in fast.parameters()) == official_skip_parameters(32, D.FAST.channels, 4, 5)


def test_paper_profile_holds_the_official_constants():
    p = D.PAPER
    assert (p.input_depth, p.channels, p.skip_channels, p.num_scales) == (32, 128, 4, 5)
    assert (p.learning_rate, p.input_noise_scale) == (0.01, 0.1)
    assert (p.iterations(4), p.regularisation(4), p.iterations(8), p.regularisation(8)) == (2000, 0.03, 4000, 0.05)
    assert (p.iterations(2), p.regularisation(2)) == (2000, 0.03)  # ×2 takes the ×4 settings


def test_lanczos2_kernel_is_the_official_table():
    k = D.lanczos2_kernel(4)
    assert k.shape == (16, 16) and k.sum() == pytest.approx(1.0, abs=1e-12)
    # get_kernel(4, 'lanczos', 0.5, 17, support=2), transcribed: d = |i + 0.5 − 9| / 4 for i = 1 … 16.
    d = np.abs(np.arange(1, 17) + 0.5 - 9.0) / 4
    taps = 2 * np.sin(np.pi * d) * np.sin(np.pi * d / 2) / (np.pi**2 * d**2)
    np.testing.assert_allclose(k, np.outer(taps, taps) / np.outer(taps, taps).sum(), rtol=1e-12)
    assert np.allclose(k, k.T) and np.allclose(k, k[::-1, ::-1]) and k.min() < 0  # symmetric, negative lobes
    assert D.lanczos2_kernel(2).shape == (8, 8)


@pytest.mark.parametrize("scale", [2, 4])
def test_downsampler_keeps_ramps_and_samples_cell_centres(scale):
    rows, cols = np.mgrid[0:64, 0:64].astype(np.float32)
    ramps = torch.as_tensor(np.stack([rows, cols, rows + 2 * cols])[None])
    with torch.no_grad():
        out = D.build_downsampler(scale)(ramps)[0].numpy()
    assert out.shape == (3, 64 // scale, 64 // scale)
    # Away from the replicated border, output (i, j) is the ramp at (s·i + (s − 1)/2, s·j + (s − 1)/2),
    # where bicubic imresize samples too.
    i, j = np.mgrid[0 : 64 // scale, 0 : 64 // scale] * scale + (scale - 1) / 2
    inner = (slice(None), slice(2, -2), slice(2, -2))
    np.testing.assert_allclose(out[inner], np.stack([i, j, i + 2 * j])[inner], atol=1e-3)


def test_canvas_is_a_multiple_of_32_with_the_window_on_the_lr_grid():
    assert D.canvas_window(192, 2) == (192, 0)
    assert D.canvas_window(100, 2) == (128, 14)
    assert D.canvas_window(100, 4) == (128, 12)
    assert D.canvas_window(40, 2) == (64, 12)  # at least 64: the deepest scale keeps 2×2 pixels


def test_fitting_lowers_the_loss_and_matches_the_input(small_lr):
    settings = D.resolve_settings("fast", {"channels": 8})
    sr, log = D.fit(small_lr, scale=2, settings=settings, seed=0, device="cpu", iterations=60)
    losses = np.array(log.losses)
    assert sr.shape == (48, 48, 3) and 0.0 <= sr.min() and sr.max() <= 1.0
    # Measured (seed 0): block means 0.064, 0.026, 0.012, 0.0073, 0.0058, 0.0051 (first loss 0.093).
    blocks = losses.reshape(6, 10).mean(axis=1)
    assert np.all(np.diff(blocks) < 0) and blocks[-1] < 0.2 * blocks[0]
    # The output, downscaled through D, is as close to the input as the fit (measured 0.0036 vs 0.0051).
    with torch.no_grad():
        down = D.build_downsampler(2)(torch.as_tensor(sr.transpose(2, 0, 1)[None], dtype=torch.float32))[0]
    assert np.mean((down.numpy().transpose(1, 2, 0) - small_lr) ** 2) < 2 * losses[-10:].mean()


def run(lr: np.ndarray, *, seed: int = 0, scale: int = 2, **params) -> tuple[np.ndarray, D.DIP]:
    method = models.get("dip", profile="fast", channels=8, num_iter=5, **params)
    method.prepare(RestoreContext(task="sr", scale=scale, seed=seed, device="cpu"))
    return method.restore(lr), method


def test_same_seed_same_bytes_other_seed_other_output(small_lr):
    lr = np.clip(np.floor(small_lr * 255 + 0.5), 0, 255).astype(np.uint8)
    (first, _), (again, _), (other, _) = (run(lr, seed=s) for s in (0, 0, 1))
    assert first.tobytes() == again.tobytes() and np.any(first != other)


def test_method_keeps_sizes_that_are_no_multiple_of_32_and_exposes_its_kernel(small_lr):
    lr = np.clip(np.floor(small_lr[:21, :17] * 255 + 0.5), 0, 255).astype(np.uint8)
    out, method = run(lr, scale=4)
    assert out.shape == (84, 68, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(method.estimated_kernel(), D.lanczos2_kernel(4))
    assert len(method.log.losses) == 5


def test_parameters_are_checked_and_only_given_ones_are_recorded():
    assert "dip" in models.available()
    with pytest.raises(ValueError):
        models.get("dip", iterations=10)
    method = models.get("dip", profile="fast", num_iter=7, reg_noise_std=0.0)
    assert method.params_dict == {"profile": "fast", "num_iter": 7, "reg_noise_std": 0.0}
    assert (method.settings.iterations(4), method.settings.iterations(8), method.settings.regularisation(8)) == (7, 7, 0.0)
    assert method.settings.channels == D.FAST.channels and not method.stochastic and method.weights == ()
