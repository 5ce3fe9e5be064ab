"""MS-SSIM pooling and PSNR on luma."""
from __future__ import annotations

import numpy as np
import pytest

from restorebench import metrics
from restorebench.metrics.ms_ssim import MS_SSIM_WEIGHTS, ms_ssim_gray
from restorebench.metrics.psnr_y import psnr_y
from restorebench.metrics.ssim import ssim_and_cs, ssim_downsample


def test_pooling_formulas():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (180, 190)).astype(np.float64)
    y = np.clip(x + rng.normal(0, 20, x.shape), 0, 255)
    ssim_values, cs_values = [], []
    a, b = x, y
    for _ in range(5):
        s, c = ssim_and_cs(a, b)
        ssim_values.append(s)
        cs_values.append(c)
        a, b = ssim_downsample(a, 2), ssim_downsample(b, 2)
    w = np.array(MS_SSIM_WEIGHTS)
    weighted_sum = np.dot(cs_values[:4], w[:4] / w.sum()) + ssim_values[4] * w[4] / w.sum()
    product = np.prod(np.array(cs_values[:4]) ** w[:4]) * ssim_values[4] ** w[4]
    assert ms_ssim_gray(x, y) == pytest.approx(weighted_sum, rel=1e-14)
    assert ms_ssim_gray(x, y, method="product") == pytest.approx(product, rel=1e-14)
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
