"""Peak signal-to-noise ratio (full reference; higher is better).

``PSNR = 10 · log10(L² / MSE)`` with ``L = 255`` and the MSE over all pixels and the three RGB
channels — scikit-image's ``peak_signal_noise_ratio`` on uint8 images, which is how the official
calibration values were made. Identical images give ``inf``. For the luma-only variant of
super-resolution papers see :mod:`metrics.psnr_y`.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from restorebench.metrics.base import Metric, register
from restorebench.metrics.parallel import band_bounds, row_grain, run_tasks, thread_workspace


def psnr(image: np.ndarray, reference: np.ndarray, *, data_range: float = 255.0) -> float:
    """``PSNR = 10 · log10(data_range² / MSE)`` over all pixels and channels.

    Identical images give ``inf`` (a real value, not an error), as scikit-image does.
    """
    if image.dtype == np.uint8 and reference.dtype == np.uint8 and image.size < EXACT_SUM_LIMIT:
        mse = sum_squared_differences(image, reference) / image.size
    else:
        diff = image.astype(np.float64) - reference.astype(np.float64)
        mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range * data_range / mse)


#: Below this many values a sum of squared 8-bit differences (each ≤ 255²) stays below 2⁵³, so
#: every partial sum in float64 is an exact integer, whatever the order of the additions.
EXACT_SUM_LIMIT = 2**53 // 255**2


#: Squared 8-bit differences per float32 dot product: each square (≤ 255²) needs 16 bits and a
#: sum of this many of them stays below 2²⁴ (256 · 255² = 16 646 400), so every partial sum is an
#: exact integer in float32, in whatever order the dot product adds.
FLOAT32_EXACT_RUN = 2**24 // 255**2


def sum_squared_differences(image: np.ndarray, reference: np.ndarray) -> float:
    """``Σ (image − reference)²`` of two uint8 arrays of one shape (fewer than
    :data:`EXACT_SUM_LIMIT` values), exact: int16 differences, converted to float32 and squared
    and summed by float32 dot products of :data:`FLOAT32_EXACT_RUN` values (exact, see there), whose
    results add up exactly in float64. Bands of rows run on the call's threads; their exact sums
    add up to the same total in any order. (float32, not float64: half the memory traffic, and
    converting int16 to float32 is four times faster here.)"""
    width = image[0].size

    def rows(start: int, stop: int) -> float:
        scratch = thread_workspace()
        diff = np.subtract(image[start:stop], reference[start:stop], dtype=np.int16,
                           out=scratch.array("psnr_diff", image[start:stop].shape, np.int16))
        values = scratch.array("psnr_values", ((stop - start) * width,), np.float32)
        np.copyto(values, diff.reshape(-1))
        whole = values.size - values.size % FLOAT32_EXACT_RUN
        runs = values[:whole].reshape(-1, FLOAT32_EXACT_RUN)
        rest = values[whole:].astype(np.float64)
        return float(np.vecdot(runs, runs).sum(dtype=np.float64)) + float(rest @ rest)

    # (a cheap pass: bands of fewer than 65536 values are not worth a thread)
    bands = band_bounds(image.shape[0], grain=row_grain(width, pixels=65536))
    return sum(run_tasks([functools.partial(rows, start, stop) for start, stop in bands]))


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
