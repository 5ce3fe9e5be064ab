"""Structural similarity, as Wang et al.'s reference MATLAB code ``ssim.m`` computes it."""
from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

from metrics.base import Metric, register
from metrics.matlab import rgb2gray


def gaussian_window_1d(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """1-D factor of MATLAB ``fspecial('gaussian', size, sigma)`` (normalised to sum 1)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


def _filter_valid(image: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``filter2(g' * g, image, 'valid')`` done separably."""
    r = len(g) // 2
    out = correlate1d(correlate1d(image, g, axis=0, mode="constant"), g, axis=1, mode="constant")
    return out[r : image.shape[0] - r, r : image.shape[1] - r]


def ssim_downsample(gray: np.ndarray, factor: int) -> np.ndarray:
    """``ssim.m``'s automatic scale: ``imfilter(img, ones(f)/f², 'symmetric', 'same')`` then
    every ``f``-th pixel. MATLAB anchors an even-sized kernel at ``floor((f+1)/2)``."""
    if factor <= 1:
        return gray
    before = (factor + 1) // 2 - 1
    after = factor - 1 - before
    padded = np.pad(gray, ((before, after), (before, after)), mode="symmetric")
    h, w = gray.shape
    rows = sum(padded[a : a + h, :] for a in range(factor))
    filtered = sum(rows[:, b : b + w] for b in range(factor)) / (factor * factor)
    return filtered[::factor, ::factor]


def ssim_gray(
    x: np.ndarray,
    y: np.ndarray,
    *,
    data_range: float = 255.0,
    k1: float = 0.01,
    k2: float = 0.03,
    window_size: int = 11,
    sigma: float = 1.5,
    downsample: bool = False,
) -> float:
    """Mean SSIM of two gray images (float64 arrays on a 0..data_range scale).

    ``SSIM = ((2 μx μy + C1)(2 σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2))`` with
    ``C1 = (k1·L)²``, ``C2 = (k2·L)²``, local statistics under an 11×11 Gaussian (σ 1.5) window,
    'valid' region only, averaged — the original ``ssim_index.m``, which reproduces the official
    values. With ``downsample`` the images are first reduced by ``f = max(1, round(min(H, W)/256))``
    as the later ``ssim.m`` (2011) does.
    """
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    if downsample:
        factor = max(1, int(np.floor(min(x.shape) / 256 + 0.5)))
        x, y = ssim_downsample(x, factor), ssim_downsample(y, factor)
    g = gaussian_window_1d(window_size, sigma)
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    mu_x = _filter_valid(x, g)
    mu_y = _filter_valid(y, g)
    xx = _filter_valid(x * x, g) - mu_x * mu_x
    yy = _filter_valid(y * y, g) - mu_y * mu_y
    xy = _filter_valid(x * y, g) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * xy + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (xx + yy + c2))
    return float(ssim_map.mean())


@register()
class SSIM(Metric):
    """SSIM (Wang, Bovik, Sheikh, Simoncelli, IEEE TIP 2004) on MATLAB ``rgb2gray`` of both images."""

    name = "ssim"
    kind = "FR"
    higher_is_better = True
    value_range = (-1.0, 1.0)
    min_size = 11
    conventions = "MATLAB rgb2gray (uint8), Gaussian 11×11 σ1.5, K=(0.01, 0.03), L=255, valid region, no downsampling (ssim_index.m)"

    def compute(self, image: np.ndarray, reference: np.ndarray | None) -> float:
        assert reference is not None
        return ssim_gray(rgb2gray(image), rgb2gray(reference))
