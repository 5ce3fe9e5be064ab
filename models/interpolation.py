"""Interpolation upscalers with MATLAB ``imresize`` semantics (what SR papers' baselines use)."""
from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from restorebench.metrics.matlab import imresize
from restorebench.models.base import Method, register


class InterpolationParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scale: int | None = Field(None, ge=1, description="upscaling factor; default: the dataset's")


class _Interpolation(Method):
    tasks = frozenset({"sr"})
    Params = InterpolationParams
    kernel: ClassVar[str]

    def restore(self, image: np.ndarray) -> np.ndarray:
        scale = self.params.scale or self.ctx.scale
        h, w = image.shape[:2]
        return imresize(image, output_shape=(h * scale, w * scale), method=self.kernel)


@register()
class Bicubic(_Interpolation):
    name = "bicubic"
    kernel = "bicubic"
    summary = "MATLAB imresize, bicubic (a = −0.5)"


@register()
class Lanczos(_Interpolation):
    name = "lanczos"
    kernel = "lanczos3"
    summary = "MATLAB imresize, Lanczos-3"
