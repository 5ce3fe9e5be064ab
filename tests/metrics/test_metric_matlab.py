"""MATLAB-compatible helpers, each against values worked out by hand from MATLAB's definitions
(or MATLAB's documented outputs), with the arithmetic in the comments."""
from __future__ import annotations

import numpy as np
import pytest

from restorebench.metrics.matlab import (
    RGB2GRAY_COEFFS,
    fspecial_gaussian,
    gaussian_kernel_1d,
    imfilter,
    imresize,
    padarray,
    rgb2gray,
    rgb2gray_double,
    rgb2ycbcr_y,
    round_half_away,
)


def pixel(r: int, g: int, b: int) -> np.ndarray:
    return np.array([[[r, g, b]]], dtype=np.uint8)


# --- round / rgb2gray / rgb2ycbcr -------------------------------------------------------------

def test_round_half_away_from_zero_like_matlab():
    assert round_half_away(np.array([0.5, 1.5, 2.5, -0.5, -2.5, 2.4999])).tolist() == [1, 2, 3, -1, -3, 2]


@pytest.mark.parametrize(
    ("rgb", "gray"),
    [
        ((255, 0, 0), 76),  # 0.298936·255 = 76.229
        ((0, 255, 0), 150),  # 0.587043·255 = 149.696
        ((0, 0, 255), 29),  # 0.114021·255 = 29.075
        ((255, 255, 255), 255),  # coefficients sum to 1 − 1e-15
        ((100, 150, 200), 141),  # 29.894 + 88.056 + 22.804 = 140.754
        ((1, 1, 1), 1),
    ],
)
def test_rgb2gray_uint8_known_values(rgb, gray):
    assert rgb2gray(pixel(*rgb))[0, 0] == gray


def test_rgb2gray_rounds_half_away_from_zero():
    # Find a colour whose luma is just above x.5 and one just below: both must round to nearest.
    v = np.arange(256, dtype=np.float64)
    luma = v[:, None] * RGB2GRAY_COEFFS[0] + v[None, :] * RGB2GRAY_COEFFS[1]
    fraction = luma - np.floor(luma)
    r, g = np.unravel_index(np.argmin(np.abs(fraction - 0.5)), luma.shape)
    assert rgb2gray(pixel(int(r), int(g), 0))[0, 0] == np.floor(luma[r, g] + 0.5)


def test_rgb2gray_float_is_unrounded_and_gray_passes_through():
    value = rgb2gray(pixel(255, 0, 0).astype(np.float64))[0, 0]
    assert value == pytest.approx(0.298936021293775 * 255, abs=1e-12)
    gray = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert rgb2gray(gray) is gray


def test_rgb2gray_matches_the_direct_formula_on_a_million_colours():
    # Every R, G and 16 levels of B: the fast path (no float copies) against the plain formula.
    v = np.arange(256, dtype=np.uint8)
    colours = np.stack(np.meshgrid(v, v, v[::17], indexing="ij"), axis=-1).reshape(1024, -1, 3)
    direct = round_half_away(colours.astype(np.float64) @ np.array(RGB2GRAY_COEFFS))
    assert np.array_equal(rgb2gray_double(colours), direct)
    assert np.array_equal(rgb2gray(colours), direct.astype(np.uint8))


@pytest.mark.parametrize(
    ("rgb", "luma"),
    [
        ((0, 0, 0), 16),
        ((255, 255, 255), 235),  # 16 + 219
        ((255, 0, 0), 81),  # 16 + 65.481 (MATLAB: rgb2ycbcr red → [81 90 240])
        ((0, 255, 0), 145),  # 16 + 128.553
        ((0, 0, 255), 41),  # 16 + 24.966
    ],
)
def test_rgb2ycbcr_luma_known_values(rgb, luma):
    assert rgb2ycbcr_y(pixel(*rgb))[0, 0] == luma


def test_rgb2ycbcr_luma_unrounded():
    assert rgb2ycbcr_y(pixel(255, 0, 0), rounded=False)[0, 0] == pytest.approx(81.481)


# --- fspecial / padarray / imfilter -------------------------------------------------------------

def test_fspecial_gaussian_7_by_7():
    window = fspecial_gaussian(7, 7 / 6)
    assert window.sum() == pytest.approx(1.0)
    # centre / its neighbour = exp(1 / (2σ²)) with σ = 7/6
    assert window[3, 3] / window[3, 4] == pytest.approx(np.exp(1 / (2 * (7 / 6) ** 2)))
    assert window[3, 3] == pytest.approx(0.11739636, abs=1e-8)  # the LIVE NIQE release's window
    assert np.allclose(np.outer(gaussian_kernel_1d(7, 7 / 6), gaussian_kernel_1d(7, 7 / 6)), window, atol=1e-16)


def test_padarray_modes():
    row = np.array([[1, 2, 3]])
    assert padarray(row, (0, 2), padding="symmetric").tolist() == [[2, 1, 1, 2, 3, 3, 2]]
    assert padarray(row, (0, 2), padding="replicate").tolist() == [[1, 1, 1, 2, 3, 3, 3]]
    assert padarray(row, (0, 2), padding="circular").tolist() == [[2, 3, 1, 2, 3, 1, 2]]
    assert padarray(row, (0, 2)).tolist() == [[0, 0, 1, 2, 3, 0, 0]]
    assert padarray(row, (0, 2), padding=9, direction="post").tolist() == [[1, 2, 3, 9, 9]]
    assert padarray(row, (1, 0), padding="replicate", direction="pre").tolist() == [[1, 2, 3], [1, 2, 3]]
    rgb = np.zeros((2, 2, 3))
    assert padarray(rgb, (1, 2)).shape == (4, 6, 3)


def test_imfilter_3x3_zero_padding_hand_computed():
    a = np.arange(1, 17, dtype=np.float64).reshape(4, 4)
    h = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 10]], dtype=np.float64)  # not separable
    out = imfilter(a, h)
    # B(1,1) = h22·A11 + h23·A12 + h32·A21 + h33·A22 = 5 + 12 + 40 + 60
    assert out[0, 0] == 117
    # B(2,2) = Σ h·A(1:3, 1:3) = 1+4+9 + 20+30+42 + 63+80+110
    assert out[1, 1] == 359


def test_imfilter_even_kernel_anchors_like_matlab():
    # MATLAB anchors ones(2)/4 at (1,1): B(i,j) = mean(A(i:i+1, j:j+1)), mirrored past the end.
    a = np.arange(1, 17, dtype=np.float64).reshape(4, 4)
    out = imfilter(a, np.ones((2, 2)) / 4, padding="symmetric")
    assert out[0, 0] == (1 + 2 + 5 + 6) / 4
    assert out[0, 3] == (4 + 4 + 8 + 8) / 4
    assert out[3, 3] == 16


def test_imfilter_replicate_and_circular():
    a = np.array([[1.0, 2.0, 4.0]])
    assert imfilter(a, np.array([[1.0, 1.0, 1.0]]), padding="replicate").tolist() == [[4, 7, 10]]
    assert imfilter(a, np.array([[1.0, 1.0, 1.0]]), padding="circular").tolist() == [[7, 7, 7]]
    assert imfilter(a, np.array([[1.0, 0.0, 0.0]])).tolist() == [[0, 1, 2]]  # correlation, not convolution


# --- imresize -------------------------------------------------------------------------------------
#
# Shrinking [1 2 3 4] by 0.5 with antialiasing: the cubic kernel is stretched to width 8, output
# pixel 1 sits at u = 1.5; taps at u − k for k = −3…6 have |0.5·(u − k)| = 2.25 … 0.25, weights
# 0.5·cubic(·) = [0, −0.01171875, −0.03515625, 0.11328125, 0.43359375, 0.43359375, 0.11328125,
# −0.03515625, −0.01171875, 0] (sum 1), indices mirrored [4 3 2 1 | 1 2 3 4 | 4 3]:
# 1.4609375; by symmetry the second output is 5 − 1.4609375.

def test_imresize_half_antialiased_hand_computed():
    out = imresize(np.array([[1.0, 2.0, 3.0, 4.0]]), 0.5)
    assert out.shape == (1, 2)
    assert out.tolist() == [[1.4609375, 3.5390625]]


def test_imresize_half_without_antialiasing():
    # Kernel width 4: u = 1.5, taps k = −1…4, distances 2.5 … −2.5 → weights [0, −0.0625, 0.5625,
    # 0.5625, −0.0625, 0] on indices [2 1 1 2 3 4]: −0.0625 + 0.5625 + 1.125 − 0.1875 = 1.4375.
    out = imresize(np.array([[1.0, 2.0, 3.0, 4.0]]), 0.5, antialiasing=False)
    assert out.tolist() == [[1.4375, 3.5625]]


def test_imresize_double_hand_computed():
    # Scale 2: u = x/2 + 0.25; x = 1 → weights cubic([1.75, 0.75, −0.25, −1.25]) on indices
    # [2 1 1 2]: −0.0234375·2 + 0.2265625 + 0.8671875 − 0.0703125·2 = 0.90625;
    # x = 2 → cubic([1.25, 0.25, −0.75, −1.75]) on [1 1 2 3]: 1.1796875.
    out = imresize(np.array([[1.0, 2.0, 3.0, 4.0]]), 2)
    assert out.shape == (2, 8)  # MATLAB doubles the single row too (a scale-1 copy of it)
    assert np.array_equal(out[0], out[1])
    assert out[0, :2].tolist() == [0.90625, 1.1796875]
    assert out[0, ::-1].tolist() == pytest.approx((5 - out[0]).tolist())


def test_imresize_uint8_rounds_after_each_dimension():
    out = imresize(np.array([[10, 20, 30, 40]], dtype=np.uint8), 0.5)
    assert out.dtype == np.uint8
    assert out.tolist() == [[15, 35]]  # round(14.609375), round(35.390625)


def test_imresize_output_shape_and_dimension_order():
    image = np.random.default_rng(0).random((10, 7, 3))
    assert imresize(image, 0.5).shape == (5, 4, 3)  # ceil(0.5·7) = 4
    assert imresize(image, output_shape=(4, 9)).shape == (4, 9, 3)
    # Constant images stay constant (weights sum to 1) in every direction.
    assert np.allclose(imresize(np.full((9, 13), 7.0), 0.37), 7.0)


def test_imresize_rejects_bad_arguments():
    with pytest.raises(ValueError):
        imresize(np.zeros((4, 4)), 0.5, output_shape=(2, 2))
    with pytest.raises(ValueError):
        imresize(np.zeros((4, 4)), 0.5, method="nearest-ish")
