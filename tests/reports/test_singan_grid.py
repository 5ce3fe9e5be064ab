"""The start-scale grid image."""
from __future__ import annotations

import numpy as np
import pytest

from restorebench.reports.singan_grid import CAPTION_HEIGHT, GAP, panel_labels, save_singan_grid, singan_grid


@pytest.fixture
def photos():
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    blurred = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    samples = {n: np.full((40, 60, 3), 40 * n, dtype=np.uint8) for n in (3, 1, 2)}
    return sharp, blurred, samples


def test_panels_are_placed_in_order_under_their_captions(photos):
    sharp, blurred, samples = photos
    grid = singan_grid(sharp, blurred, samples, title="triplet 1", blur="motion")
    title = CAPTION_HEIGHT + GAP
    assert grid.dtype == np.uint8
    assert grid.shape == (title + 2 * GAP + CAPTION_HEIGHT + 40, 5 * 60 + 6 * GAP, 3)
    top = title + GAP + CAPTION_HEIGHT
    tile = lambda i: grid[top : top + 40, GAP + i * (60 + GAP) : GAP + i * (60 + GAP) + 60]  # noqa: E731
    assert np.array_equal(tile(0), sharp)
    assert np.array_equal(tile(1), blurred)
    assert [int(tile(i)[0, 0, 0]) for i in (2, 3, 4)] == [40, 80, 120]  # n = 1, 2, 3
    caption = grid[title + GAP : top, GAP : GAP + 60]
    assert caption.min() < 128 < caption.max()  # text drawn on white
    assert panel_labels(samples, blur="motion") == ["sharp", "blurred (motion)", "n = 1", "n = 2", "n = 3"]


def test_columns_wrap_and_sizes_are_unified(photos):
    sharp, blurred, samples = photos
    samples = {**samples, 4: np.zeros((20, 30, 3), dtype=np.uint8)}
    grid = singan_grid(sharp, blurred, samples, columns=3)
    assert grid.shape == (2 * (CAPTION_HEIGHT + 40) + 3 * GAP, 3 * 60 + 4 * GAP, 3)


def test_png_is_written(photos, tmp_path):
    sharp, blurred, samples = photos
    path = save_singan_grid(tmp_path / "grid.png", sharp, blurred, samples, title="t", blur="defocus")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
