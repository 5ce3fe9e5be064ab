"""PSNR on the luma channel, as super-resolution papers report it (full reference; higher is better).

``PSNR_Y = 10 · log10(255² / MSE(Y_image, Y_reference))`` where ``Y`` is MATLAB
``rgb2ycbcr``'s BT.601 limited-range luma of the uint8 image,
``Y = round(16 + (65.481·R + 128.553·G + 24.966·B) / 255)``, and ``crop_border`` pixels are
dropped on every side first (the usual SR convention: crop the scale factor). This is the
evaluation of e.g. Lim et al. (EDSR, CVPRW 2017) and Zhang et al. (RCAN, ECCV 2018), whose MATLAB
scripts compute ``rgb2ycbcr`` on uint8 images. Identical images give ``inf``.
"""
from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from restorebench.metrics.base import Metric, register
from restorebench.metrics.errors import ImageTooSmallError
from restorebench.metrics.matlab import rgb2ycbcr_y
from restorebench.metrics.psnr import psnr


def psnr_y(image: np.ndarray, reference: np.ndarray, *, crop_border: int = 0) -> float:
    """PSNR of the rounded BT.601 luma of two uint8 RGB images, ``crop_border`` px cropped."""
    y_image = rgb2ycbcr_y(image)
    y_reference = rgb2ycbcr_y(reference)
    if crop_border:
        y_image = y_image[crop_border:-crop_border, crop_border:-crop_border]
        y_reference = y_reference[crop_border:-crop_border, crop_border:-crop_border]
    return psnr(y_image, y_reference)


@register()
class PSNRY(Metric):
    """PSNR on MATLAB ``rgb2ycbcr`` luma (uint8, 16..235) with an optional border crop."""

    name = "psnr_y"
    kind = "FR"
    higher_is_better = True
    value_range = (0.0, math.inf)
    conventions = "Y of MATLAB rgb2ycbcr (BT.601 limited range, rounded uint8), data range 255, crop_border px cropped per side; identical → inf"

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        crop_border: int = Field(0, ge=0, description="pixels cropped from each side before comparing (the SR factor, by convention)")

    def compute(self, image: np.ndarray, reference: np.ndarray | None) -> float:
        assert reference is not None
        crop = self.params.crop_border
        h, w = image.shape[:2]
        if min(h, w) <= 2 * crop:
            raise ImageTooSmallError(
                f"metric 'psnr_y' with crop_border={crop} needs images larger than "
                f"{2 * crop}×{2 * crop} pixels, got {w}×{h}"
            )
        return psnr_y(image, reference, crop_border=crop)
