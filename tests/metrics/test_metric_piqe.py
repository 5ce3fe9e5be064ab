"""PIQE's block tests, including MATLAB's centre/surround column quirk."""
from __future__ import annotations

import numpy as np
import pytest

from restorebench import metrics
from restorebench.metrics.piqe import centre_surround_ratio, impaired_blocks, noisy_blocks, piqe_gray


def test_uniform_image_scores_100():
    assert metrics.get("piqe")(np.full((64, 64, 3), 90, np.uint8)) == 100.0
    assert piqe_gray(np.zeros((32, 48))) == 100.0


def test_padding_replicates_to_whole_blocks():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)  # → 48×64 padded
    padded = np.pad(image, ((0, 8), (0, 14), (0, 0)), mode="edge")
    assert metrics.get("piqe")(image) == metrics.get("piqe")(padded)


def test_impaired_needs_a_flat_six_pixel_run_on_an_edge():
    checkerboard = np.indices((16, 16)).sum(axis=0) % 2 * 2.0 - 1.0  # ±1: every run varies
    block = checkerboard[None]
    assert not impaired_blocks(block)[0]
    flat_run = block.copy()
    flat_run[0, 15, 4:10] = 0.3  # six equal pixels on the bottom edge: std 0 < 0.1
    assert impaired_blocks(flat_run)[0]
    five = block.copy()
    five[0, 15, 4:9] = 0.3  # only five
    assert not impaired_blocks(five)[0]


def test_centre_surround_uses_matlabs_surround_columns():
    # MATLAB deletes column 8, then column 9 of the remaining 15 (original column 10): the
    # surround keeps original column 9. Put all variation in column 9 (1-based).
    block = np.zeros((1, 16, 16))
    block[0, :, 8] = np.tile([1.0, -1.0], 8)
    # centre: columns 8, 9 → 16 zeros and 16 ±1; surround: 14 columns, 16 of its 224 values ±1
    expected = np.sqrt(16 / 31) / np.sqrt(16 / 223)
    assert centre_surround_ratio(block)[0] == pytest.approx(expected)
    # (dropping columns 8 and 9 instead would leave an all-zero surround and an infinite ratio)


def test_noise_criterion():
    rng = np.random.default_rng(2)
    block = rng.standard_normal((1, 16, 16))
    variance = np.var(block.reshape(1, -1), ddof=1)
    sigma, ratio = np.sqrt(variance), centre_surround_ratio(block)
    beta = np.abs(sigma - ratio) / np.maximum(sigma, ratio)
    assert noisy_blocks(block, variance)[0] == bool(sigma > 2 * beta[0])
    assert centre_surround_ratio(np.zeros((1, 16, 16)))[0] == 0.0  # 0/0 → 0


@pytest.mark.parametrize("value", [0, 255])
def test_saturated_images_are_inactive(value):
    assert metrics.get("piqe")(np.full((100, 120, 3), value, np.uint8)) == 100.0
