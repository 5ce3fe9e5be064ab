"""Sharpness as RMS contrast (no reference; higher is sharper), what the blind-SR study computed.

``RMS = sqrt(mean((I − mean(I))²))``, the population standard deviation of the gray levels of
MATLAB ``rgb2gray`` (Peli, "Contrast in complex images", JOSA A 7(10), 1990, defines RMS
contrast). Other sharpness measures belong in modules of their own names.
"""
from __future__ import annotations

import numpy as np

from restorebench.metrics.base import Metric, register
from restorebench.metrics.matlab import rgb2gray


def rms_contrast(gray: np.ndarray) -> float:
    """``sqrt(mean((I − mean(I))²))``: the population standard deviation of the gray levels."""
    return float(np.std(gray.astype(np.float64)))


@register()
class Sharpness(Metric):
    """RMS contrast of MATLAB ``rgb2gray`` of the image, in gray levels (0..127.5)."""

    name = "sharpness"
    kind = "NR"
    higher_is_better = True
    value_range = (0.0, 127.5)
    conventions = "std of MATLAB rgb2gray (uint8, rounded) of the image; population std (ddof 0)"
    #: What the score measures: not image quality but sharpness. Reports plug their sharpness
    #: analyses in by this attribute (any metric that sets it takes part), not by the name.
    measures = "sharpness"

    def compute(self, image: np.ndarray, reference: np.ndarray | None) -> float:
        return rms_contrast(rgb2gray(image))
