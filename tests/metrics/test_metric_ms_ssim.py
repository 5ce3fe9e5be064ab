"""MS-SSIM pooling and PSNR on luma."""
from __future__ import annotations

import numpy as np
import pytest

from restorebench import metrics
from restorebench.metrics.ms_ssim import ms_ssim_gray
from restorebench.metrics.psnr_y import psnr_y
from restorebench.metrics.ssim import ssim_downsample


def msssim_reference(x: np.ndarray, y: np.ndarray, method: str) -> float:
    """``msssim.m`` written here from the authors' definition (not from the module): at each of 5
    scales the 'valid' SSIM and CS maps under ``fspecial('gaussian', 11, 1.5)`` (2-D correlation),
    then ``imfilter(img, ones(2)/4, 'symmetric', 'same')`` (anchor at the top-left of the 2×2) and
    every second pixel; 'wtd_sum' = Σ ŵⱼ·CSⱼ + ŵ₅·SSIM₅ (ŵ = w/Σw), 'product' = Π CSⱼ^wⱼ · SSIM₅^w₅."""
    from scipy.signal import correlate2d

    r = np.arange(-5, 6)
    window = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / 4.5)
    window /= window.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    weights = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
    css, ssims = [], []
    for level in range(5):
        f = lambda a: correlate2d(a, window, mode="valid")  # noqa: E731
        mx, my = f(x), f(y)
        vx, vy, cxy = f(x * x) - mx * mx, f(y * y) - my * my, f(x * y) - mx * my
        cs = (2 * cxy + c2) / (vx + vy + c2)
        css.append(cs.mean())
        ssims.append((((2 * mx * my + c1) / (mx * mx + my * my + c1)) * cs).mean())
        if level < 4:
            pad = lambda a: np.pad(a, ((0, 1), (0, 1)), mode="symmetric")  # noqa: E731
            x, y = [(p[:-1, :-1] + p[1:, :-1] + p[:-1, 1:] + p[1:, 1:])[::2, ::2] / 4 for p in (pad(x), pad(y))]
    if method == "wtd_sum":
        return float(np.dot(css[:4], weights[:4] / weights.sum()) + ssims[4] * weights[4] / weights.sum())
    return float(np.prod(np.array(css[:4]) ** weights[:4]) * ssims[4] ** weights[4])


def test_pooling_formulas():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (180, 191)).astype(np.float64)  # an odd side: the mirrored column
    y = np.clip(x + rng.normal(0, 20, x.shape), 0, 255)
    assert ms_ssim_gray(x, y) == pytest.approx(msssim_reference(x, y, "wtd_sum"), rel=1e-12)
    assert ms_ssim_gray(x, y, method="product") == pytest.approx(msssim_reference(x, y, "product"), rel=1e-12)
    with pytest.raises(ValueError):
        ms_ssim_gray(x, y, method="mean")


def test_downsampling_is_two_by_two_means():
    image = np.arange(1, 26, dtype=np.float64).reshape(5, 5)
    half = ssim_downsample(image, 2)
    assert half.shape == (3, 3)
    assert half[0, 0] == (1 + 2 + 6 + 7) / 4
    assert half[2, 2] == 25  # odd side: the last pixel mirrored onto itself


def test_ms_ssim_option_is_recorded():
    assert metrics.get("ms_ssim").options == {"method": "wtd_sum"}
    assert metrics.get("ms_ssim", method="product").options == {"method": "product"}
    with pytest.raises(ValueError):
        metrics.get("ms_ssim", method="sum")


def test_psnr_y_known_value():
    a = np.zeros((10, 10, 3), np.uint8)
    b = a.copy()
    b[0, 0] = (255, 255, 255)  # Y: 16 vs 235 at one pixel of 100 → MSE 219²/100
    assert psnr_y(b, a) == pytest.approx(10 * np.log10(255**2 / (219**2 / 100)))
    assert psnr_y(b, a, crop_border=1) == float("inf")  # the differing pixel is cropped
    assert metrics.get("psnr_y", crop_border=1)(b, a) == float("inf")
