"""Multi-scale structural similarity (full reference; higher is better).

Wang, Simoncelli, Bovik, "Multi-scale structural similarity for image quality assessment",
37th Asilomar Conference on Signals, Systems and Computers, 2003. Conventions of the authors'
MATLAB ``msssim.m`` fed ``rgb2gray`` of the uint8 images:

- 5 scales, weights ``w = [0.0448 0.2856 0.3001 0.2363 0.1333]``, ``K = [0.01 0.03]``, ``L = 255``,
  11×11 Gaussian window (σ 1.5), SSIM/CS maps over the 'valid' region (``ssim_index_new.m``);
- between scales: ``imfilter(img, ones(2)/4, 'symmetric', 'same')`` then every second pixel
  (2×2 block means, the last row/column mirrored when a side is odd);
- pooling, ``msssim.m``'s two methods:

      'wtd_sum':  MS-SSIM = Σ_{j<5} ŵⱼ·CSⱼ + ŵ₅·SSIM₅        (ŵ = w / Σw)
      'product':  MS-SSIM = Π_{j<5} CSⱼ^wⱼ · SSIM₅^w₅       (the paper's formula)

The official calibration values (``calibration/official.csv``: 0.6733 and 0.9996 on the two
TID2013 pairs) are reproduced by ``'wtd_sum'`` (0.67331, 0.99963); ``'product'`` gives 0.66998 on
I03, 0.0033 away. ``'wtd_sum'`` is therefore the default; choose ``method='product'`` for the
paper's formula. With ``'product'`` a negative mean CS (anti-correlated images) is clamped to 0,
where MATLAB would return a complex number.
"""
from __future__ import annotations

import functools
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from restorebench.metrics.base import Metric, register
from restorebench.metrics.nss import rgb2gray_in_bands
from restorebench.metrics.parallel import run_tasks, thread_workspace
from restorebench.metrics.ssim import ssim_and_cs, ssim_downsample

# The published weights; they sum to 1.0001, hence the normalisation in 'wtd_sum'.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW_SIZE = 11
METHODS = ("wtd_sum", "product")


def ms_ssim_gray(
    x: np.ndarray,
    y: np.ndarray,
    *,
    weights: tuple[float, ...] = MS_SSIM_WEIGHTS,
    method: str = "wtd_sum",
    data_range: float = 255.0,
) -> float:
    """MS-SSIM of two gray images (float64, 0..data_range) with ``len(weights)`` scales."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    levels = len(weights)
    mean_ssim = np.empty(levels)
    mean_cs = np.empty(levels)
    for level in range(levels):
        mean_ssim[level], mean_cs[level] = ssim_and_cs(x, y, data_range=data_range)
        if level < levels - 1:
            x, y = run_tasks([functools.partial(ssim_downsample, x, 2), functools.partial(ssim_downsample, y, 2)])
    w = np.asarray(weights, dtype=np.float64)
    if method == "wtd_sum":
        w = w / w.sum()
        return float(np.dot(mean_cs[:-1], w[:-1]) + mean_ssim[-1] * w[-1])
    factors = np.append(np.maximum(mean_cs[:-1], 0.0), max(mean_ssim[-1], 0.0))
    return float(np.prod(factors**w))


@register()
class MSSSIM(Metric):
    """MS-SSIM (Wang, Simoncelli, Bovik 2003) on MATLAB ``rgb2gray`` of both images."""

    name = "ms_ssim"
    fork_batches = True
    kind = "FR"
    higher_is_better = True
    value_range = (-1.0, 1.0)
    # msssim.m: the coarsest of the 5 scales (1/16 size) must still hold the 11×11 window.
    min_size = WINDOW_SIZE * 2 ** (len(MS_SSIM_WEIGHTS) - 1)
    conventions = (
        "MATLAB rgb2gray (uint8); 5 scales, 2×2 mean + decimation (imfilter symmetric); Gaussian 11×11 "
        "σ1.5, K=(0.01, 0.03), L=255, valid region; 'wtd_sum' pooling (reproduces the official values)"
    )

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        method: Literal[METHODS] = Field("wtd_sum", description="pooling of the scales: 'wtd_sum' (reproduces the official values) or 'product' (the paper's formula)")

    def compute(self, image: np.ndarray, reference: np.ndarray | None) -> float:
        assert reference is not None
        # msssim(img1, img2): img1 is the reference; SSIM is symmetric, so the order is moot.
        workspace = thread_workspace()
        gray_reference = rgb2gray_in_bands(reference, out=workspace.array("gray_reference", image.shape[:2]))
        gray_image = rgb2gray_in_bands(image, out=workspace.array("gray", image.shape[:2]))
        return ms_ssim_gray(gray_reference, gray_image, method=self.params.method)

