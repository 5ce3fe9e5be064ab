"""NIQE internals: feature layout, NaN-aware statistics, MATLAB pinv, block cropping."""
from __future__ import annotations

import numpy as np
import pytest

from restorebench.metrics.niqe import (
    NIQE_SHIFTS,
    block_features,
    matlab_pinv,
    nan_mean_cov,
    niqe_distance,
    niqe_features,
    pristine_model,
)


def test_pristine_model_shapes():
    mu, cov = pristine_model()
    assert mu.shape == (36,) and cov.shape == (36, 36)
    assert np.allclose(cov, cov.T)


def test_nan_mean_cov_is_nanmean_and_complete_row_nancov():
    features = np.array([[1.0, 2.0], [3.0, np.nan], [5.0, 6.0], [7.0, 10.0]])
    mu, cov = nan_mean_cov(features)
    assert mu.tolist() == [4.0, 6.0]  # column 2 averages 2, 6, 10
    # rows 1, 3, 4 are complete: cov of [[1,2],[5,6],[7,10]] with N − 1
    assert np.allclose(cov, np.cov(np.array([[1, 2], [5, 6], [7, 10.0]]), rowvar=False))
    _, single = nan_mean_cov(np.array([[1.0, 2.0], [np.nan, 1.0]]))
    assert single.tolist() == [[0.0, 0.0], [0.0, 0.0]]  # MATLAB cov of one observation


def test_matlab_pinv_drops_tiny_singular_values():
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    assert np.allclose(matlab_pinv(singular), singular / 25.0)  # pinv of a rank-1 A = Aᵀ/‖A‖²_F
    regular = np.array([[2.0, 1.0], [1.0, 3.0]])
    assert np.allclose(matlab_pinv(regular), np.linalg.inv(regular))


def test_distance_is_zero_at_the_pristine_mean():
    mu, cov = pristine_model()
    rng = np.random.default_rng(0)
    features = mu + rng.standard_normal((40, 36)) * 1e-3
    features -= features.mean(axis=0) - mu  # exactly the pristine mean
    assert niqe_distance(features, mu, cov) == pytest.approx(0.0, abs=1e-9)


def test_block_features_layout():
    rng = np.random.default_rng(1)
    blocks = rng.laplace(size=(3, 96, 96))
    features = block_features(blocks)
    assert features.shape == (3, 18)
    # Feature 2 is (βl + βr)/2 of the block itself; 4 shifted groups follow, [α, η, βl, βr] each.
    assert np.all(features[:, 1] > 0) and np.all(features[:, [5, 9, 13, 17]] > 0)
    assert NIQE_SHIFTS == ((0, 1), (1, 0), (1, 1), (1, -1))


def test_features_use_whole_blocks_only():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (200, 300)).astype(np.float64)
    features = niqe_features(image)
    assert features.shape == (2 * 3, 36)  # 2×3 blocks of 96 px; the rest is cropped
    # The cropped margin does not matter (MATLAB keeps the top-left whole blocks).
    changed = image.copy()
    changed[192:, :] = 0
    changed[:, 288:] = 0
    assert np.array_equal(niqe_features(changed), features)
