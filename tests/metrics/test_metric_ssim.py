"""SSIM against references written here from Wang et al.'s ``ssim_index.m``, not from the module:

    window = fspecial('gaussian', 11, 1.5);  C1 = (K1·L)²;  C2 = (K2·L)²  (K = [0.01 0.03], L = 255)
    μ = filter2(window, img, 'valid');  σ² = filter2(window, img.²) − μ²;  σxy likewise
    ssim_map = ((2μxμy + C1)(2σxy + C2)) ./ ((μx² + μy² + C1)(σx² + σy² + C2));  mssim = mean2(ssim_map)

Dark, low-contrast images make both constants matter: changing K1 from 0.01 to 0.015, or K2 from
0.03 to 0.035, moves these values by far more than the tolerances.
"""
from __future__ import annotations

import numpy as np
import pytest

from restorebench import metrics
from restorebench.metrics.ssim import ssim_gray

C1 = (0.01 * 255) ** 2
C2 = (0.03 * 255) ** 2


def fspecial_gaussian_11() -> np.ndarray:
    x = np.arange(-5, 6)
    window = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * 1.5**2))
    return window / window.sum()


def ssim_by_the_formula(x: np.ndarray, y: np.ndarray) -> float:
    """Every 'valid' window position in plain loops, the map averaged."""
    window = fspecial_gaussian_11()
    rows, cols = x.shape[0] - 10, x.shape[1] - 10
    total = 0.0
    for i in range(rows):
        for j in range(cols):
            a, b = x[i : i + 11, j : j + 11], y[i : i + 11, j : j + 11]
            mx, my = (window * a).sum(), (window * b).sum()
            vx = (window * a * a).sum() - mx * mx
            vy = (window * b * b).sum() - my * my
            cxy = (window * a * b).sum() - mx * my
            total += ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2))
    return total / (rows * cols)


def gray_rgb(levels: np.ndarray) -> np.ndarray:
    """R = G = B: MATLAB rgb2gray returns the level itself (its weights sum to 1 − 10⁻¹⁵)."""
    return np.repeat(levels.astype(np.uint8)[:, :, None], 3, axis=2)


def test_flat_images_give_the_luminance_term_alone():
    """σ = σxy = 0: SSIM = (2ab + C1)/(a² + b² + C1) exactly — a function of K1 only."""
    a, b = 10.0, 20.0
    expected = (2 * a * b + C1) / (a * a + b * b + C1)  # 0.8026… with K1 = 0.01 (0.8236 with 0.015)
    x, y = np.full((16, 16), a), np.full((16, 16), b)
    assert ssim_gray(x, y) == pytest.approx(expected, rel=1e-12)
    assert metrics.get("ssim")(gray_rgb(y), gray_rgb(x)) == pytest.approx(expected, rel=1e-12)


def test_textured_dark_images_equal_the_formula():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 12, (17, 19)).astype(np.float64)  # dark, low contrast: C1 and C2 dominate
    y = np.clip(x + rng.integers(-3, 4, x.shape), 0, 255).astype(np.float64)
    expected = ssim_by_the_formula(x, y)
    assert ssim_gray(x, y) == pytest.approx(expected, rel=1e-12)
    assert metrics.get("ssim")(gray_rgb(x), gray_rgb(y)) == pytest.approx(expected, rel=1e-12)


def test_structure_term_alone_depends_on_k2():
    """A pattern and its negative about 100: local means within 2 of each other, so the luminance
    term is within 10⁻³ of 1 and the value is (2σxy + C2)/(σx² + σy² + C2) — governed by K2."""
    rng = np.random.default_rng(1)
    pattern = rng.choice([-2.0, 2.0], size=(15, 15))
    x, y = 100 + pattern, 100 - pattern
    expected = ssim_by_the_formula(x, y)
    assert 0.3 < expected < 0.9  # σxy < 0: only C2 keeps it from −1
    assert ssim_gray(x, y) == pytest.approx(expected, rel=1e-12)
