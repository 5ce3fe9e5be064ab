"""Peak signal-to-noise ratio (full reference; higher is better).

``PSNR = 10 · log10(L² / MSE)`` with ``L = 255`` and the MSE over all pixels and the three RGB
channels — scikit-image's ``peak_signal_noise_ratio`` on uint8 images, which is how the official
calibration values were made. Identical images give ``inf``. For the luma-only variant of
super-resolution papers see :mod:`metrics.psnr_y`.
"""
from __future__ import annotations

import math

import numpy as np

from restorebench.metrics.base import Metric, register


def psnr(image: np.ndarray, reference: np.ndarray, *, data_range: float = 255.0) -> float:
    """``PSNR = 10 · log10(data_range² / MSE)`` over all pixels and channels.

    Identical images give ``inf`` (a real value, not an error), as scikit-image does.
    """
    if image.dtype == np.uint8 and reference.dtype == np.uint8:
        # Exact integer sum of squared differences: no float copies of the images.
        diff = np.subtract(image, reference, dtype=np.int16)
        mse = float(np.einsum("i,i->", diff.ravel(), diff.ravel(), dtype=np.int64)) / diff.size
    else:
        diff = image.astype(np.float64) - reference.astype(np.float64)
        mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range * data_range / mse)


@register()
class PSNR(Metric):
    """PSNR on the RGB uint8 images, data range 255 (scikit-image's ``peak_signal_noise_ratio``)."""

    name = "psnr"
    kind = "FR"
    higher_is_better = True
    value_range = (0.0, math.inf)
    conventions = "RGB, all channels, data range 255, no border crop; identical images → inf"

    def compute(self, image: np.ndarray, reference: np.ndarray | None) -> float:
        assert reference is not None
        return psnr(image, reference)
