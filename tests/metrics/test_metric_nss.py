"""The NSS building blocks against literal (slow) transcriptions of the authors' MATLAB code."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import correlate
from scipy.special import gamma

from restorebench.metrics.matlab import fspecial_gaussian
from restorebench.metrics.nss import (
    aggd_fit,
    circular_pair_product_rows,
    circular_pair_products,
    ggd_fit,
    mscn,
    nearest_on_grid,
    shape_grid,
)
from restorebench.metrics.parallel import Workspace

GAM = np.arange(0.2, 10.0005, 0.001)[:9801]


def matlab_aggd(vec: np.ndarray) -> tuple[float, float, float]:
    """estimateaggdparam.m, line by line (full 9801-value scan)."""
    r_gam = gamma(2 / GAM) ** 2 / (gamma(1 / GAM) * gamma(3 / GAM))
    leftstd = np.sqrt(np.mean(vec[vec < 0] ** 2))
    rightstd = np.sqrt(np.mean(vec[vec > 0] ** 2))
    gammahat = leftstd / rightstd
    rhat = np.mean(np.abs(vec)) ** 2 / np.mean(vec**2)
    rhatnorm = rhat * (gammahat**3 + 1) * (gammahat + 1) / (gammahat**2 + 1) ** 2
    return GAM[np.argmin((r_gam - rhatnorm) ** 2)], leftstd, rightstd


def matlab_ggd(vec: np.ndarray) -> tuple[float, float]:
    """estimateggdparam.m, line by line."""
    r_gam = gamma(1 / GAM) * gamma(3 / GAM) / gamma(2 / GAM) ** 2
    sigma_sq = np.mean(vec**2)
    rho = sigma_sq / np.mean(np.abs(vec)) ** 2
    return GAM[np.argmin(np.abs(rho - r_gam))], np.sqrt(sigma_sq)


def test_shape_grid_is_matlabs_colon():
    grid = shape_grid()
    assert len(grid) == 9801
    assert grid[0] == 0.2 and grid[-1] == 10.0
    assert grid[4800] == pytest.approx(5.0, abs=1e-12)
    assert np.allclose(np.diff(grid), 0.001)


def test_nearest_on_grid_matches_a_full_scan_including_ties_and_nan():
    table = np.array([0.0, 1.0, 2.0, 4.0])
    values = np.array([-5.0, 0.4, 0.5, 0.6, 3.0, 9.0, np.nan, np.inf])
    # 0.5 and 3.0 are ties: MATLAB's min returns the first index; NaN and inf make every
    # distance NaN/inf, and MATLAB's min then returns index 1 (0 here).
    assert nearest_on_grid(table, values).tolist() == [0, 0, 0, 1, 2, 3, 0, 0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_aggd_and_ggd_fits_match_the_matlab_transcription(seed):
    rng = np.random.default_rng(seed)
    # Asymmetric, heavy-tailed samples with some exact zeros.
    x = rng.standard_t(df=3 + seed, size=5000) * np.where(rng.random(5000) < 0.5, 0.6, 1.3)
    x[:50] = 0.0
    alpha, left, right = aggd_fit(x)
    expected = matlab_aggd(x)
    assert alpha == pytest.approx(expected[0], abs=1e-12)
    assert left == pytest.approx(expected[1], rel=1e-12)
    assert right == pytest.approx(expected[2], rel=1e-12)
    g_alpha, g_sigma = ggd_fit(x)
    g_expected = matlab_ggd(x)
    assert g_alpha == pytest.approx(g_expected[0], abs=1e-12)
    assert g_sigma == pytest.approx(g_expected[1], rel=1e-12)


def test_aggd_fit_is_batched_along_the_last_axis():
    rng = np.random.default_rng(3)
    batch = rng.laplace(size=(3, 4, 800))
    alpha, left, right = aggd_fit(batch)
    assert alpha.shape == left.shape == right.shape == (3, 4)
    single = aggd_fit(batch[2, 1])
    assert (alpha[2, 1], left[2, 1], right[2, 1]) == pytest.approx(single, rel=1e-12)


def test_aggd_gaussian_samples_give_shape_near_two():
    x = np.random.default_rng(4).standard_normal(200_000)
    alpha, left, right = aggd_fit(x)
    assert alpha == pytest.approx(2.0, abs=0.03)
    assert left == pytest.approx(1.0, abs=0.01) and right == pytest.approx(1.0, abs=0.01)


def test_aggd_with_an_empty_side_is_nan_like_matlab():
    alpha, left, right = aggd_fit(np.array([0.0, 1.0, 2.0]))
    assert np.isnan(left) and right == pytest.approx(np.sqrt(2.5))
    assert alpha == 0.2  # NaN ratio: MATLAB's min over all-NaN returns the first grid value


@pytest.mark.parametrize("shift", [(0, 1), (1, 0), (1, 1), (-1, 1), (1, -1), (0, -1), (-1, -1)])
def test_circular_pair_products_equal_circshift(shift):
    image = np.random.default_rng(5).standard_normal((3, 6, 7))
    expected = image * np.roll(image, shift, axis=(-2, -1))
    assert np.array_equal(circular_pair_products(image, shift), expected)
    out = np.empty_like(image)
    assert circular_pair_products(image, shift, out=out) is out
    assert np.array_equal(out, expected)


def mscn_reference(image: np.ndarray, mode: str) -> np.ndarray:
    window = fspecial_gaussian(7, 7 / 6)
    mu = correlate(image, window, mode=mode)
    sigma = np.sqrt(np.abs(correlate(image * image, window, mode=mode) - mu * mu))
    return (image - mu) / (sigma + 1)


@pytest.mark.parametrize(("padding", "mode"), [("replicate", "nearest"), ("zero", "constant")])
def test_mscn_matches_the_2d_filter_definition(padding, mode):
    image = np.random.default_rng(6).integers(0, 256, (40, 33)).astype(np.float64)
    coefficients, sigma = mscn(image, padding=padding)
    assert np.allclose(coefficients, mscn_reference(image, mode), rtol=0, atol=1e-12)
    assert sigma.shape == image.shape


def test_mscn_flat_regions_are_exactly_zero():
    image = np.full((30, 30), 137.0)
    image[:, 20:] = 20.0
    coefficients, _ = mscn(image, padding="replicate")
    assert np.count_nonzero(coefficients[:, :14]) == 0  # no ±1e-14 rounding residue survives
    assert np.count_nonzero(coefficients[:, 17:20]) > 0


def test_mscn_with_a_workspace_reuses_its_arrays():
    workspace = Workspace()
    image = np.random.default_rng(7).random((20, 24)) * 255
    first, _ = mscn(image, workspace=workspace)
    first_copy = first.copy()
    second, _ = mscn(image * 0.5, workspace=workspace)
    assert np.shares_memory(second, first)  # same buffer, overwritten: the documented contract
    assert not np.array_equal(first_copy, second)
    assert np.array_equal(mscn(image)[0], first_copy)


def test_workspace_evicts_least_recently_used():
    workspace = Workspace(capacity=2)
    a = workspace.array("a", (2,))
    workspace.array("b", (2,))
    assert workspace.array("a", (2,)) is a
    workspace.array("c", (2,))  # evicts b, the least recently used
    assert workspace.array("a", (2,)) is a


@pytest.mark.parametrize("shift", [(0, 1), (1, 0), (1, 1), (-1, 1), (1, -1), (0, -1), (-1, -1), (-1, 0)])
@pytest.mark.parametrize("cuts", [(0, 6), (0, 1, 6), (0, 2, 5, 6), (0, 1, 2, 3, 4, 5, 6)])
def test_bands_of_pair_products_put_together_equal_circshift(shift, cuts):
    """Bands that hold the wrapped first or last row, single rows, and the whole image."""
    image = np.random.default_rng(6).standard_normal((6, 7))
    expected = image * np.roll(image, shift, axis=(0, 1))
    bands = [circular_pair_product_rows(image, shift, start, stop, out=np.empty((stop - start, 7)))
             for start, stop in zip(cuts, cuts[1:])]
    assert np.array_equal(np.concatenate(bands), expected)
