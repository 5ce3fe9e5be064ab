"""The scale pyramid: how many scales, their sizes, and the re-fitted scale factor.

These are the formulas of the official ``adjust_scales2image`` and ``creat_reals_pyramid``,
evaluated in the same floating-point order so that sizes match it to the pixel:

- ``num_scales = ⌈log_{r₀}(min_size / min(H, W))⌉ + 1`` with the initial factor ``r₀``;
- ``scale2stop = ⌈log_{r₀}(min(max_size, max(H, W)) / max(H, W))⌉`` and
  ``stop_scale = num_scales − scale2stop`` (the index of the finest scale);
- the finest scale is the image resized by ``scale1 = min(max_size / max(H, W), 1)``, i.e.
  ``⌈H · scale1⌉ × ⌈W · scale1⌉``;
- the factor is re-fitted so that the coarsest short side is ``min_size``:
  ``r = (min_size / min(H₁, W₁))^(1 / stop_scale)`` with ``H₁ × W₁`` the finest size;
- scale ``n`` (0 = coarsest) is the finest image resized by ``r^(stop_scale − n)``:
  ``⌈H₁ · r^(stop_scale − n)⌉ × ⌈W₁ · r^(stop_scale − n)⌉`` (MATLAB/Shocher ``imresize`` sizes).

Example: 256×256 with the defaults (25, 250, 0.75) → 10 scales, ``scale1 = 250/256``,
``r = 0.1^(1/9) ≈ 0.7743``, sizes 26, 33, 42, 54, 70, 90, 117, 150, 194, 250 (the coarsest is 26, not 25:
``250 · r⁹`` evaluates to 25.000000000000014 in floating point, and the official code gets 26 too).
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class PyramidGeometry:
    """Sizes of a SinGAN pyramid for one training-image size.

    Attributes:
        image_shape: ``(H, W)`` of the training image as given.
        scale1: factor from the image to the finest scale (≤ 1).
        scale_factor: the re-fitted factor between consecutive scales.
        shapes: ``(H, W)`` of each scale, coarsest first.
    """

    image_shape: tuple[int, int]
    scale1: float
    scale_factor: float
    shapes: tuple[tuple[int, int], ...]

    @property
    def num_scales(self) -> int:
        return len(self.shapes)

    @property
    def top_shape(self) -> tuple[int, int]:
        return self.shapes[-1]

    def downscale_to(self, scale: int) -> float:
        """Factor from the finest scale to ``scale``: ``r^(stop_scale − scale)``."""
        return math.pow(self.scale_factor, self.num_scales - 1 - scale)


def resized_shape(shape: tuple[int, int], factor: float) -> tuple[int, int]:
    """Output size of ``imresize(image, factor)``: ``⌈n · factor⌉`` per side."""
    return int(math.ceil(shape[0] * factor)), int(math.ceil(shape[1] * factor))


def pyramid_geometry(
    image_shape: tuple[int, int], *, min_size: int, max_size: int, scale_factor: float
) -> PyramidGeometry:
    """The pyramid the official code builds for an image of ``image_shape = (H, W)``.

    Raises ``ValueError`` when the image is too small for two scales.
    """
    height, width = int(image_shape[0]), int(image_shape[1])
    short, long = min(height, width), max(height, width)
    if short <= min_size:
        raise ValueError(
            f"SinGAN needs an image whose short side exceeds min_size={min_size}, got {width}×{height}"
        )
    num_scales = math.ceil(math.log(math.pow(min_size / short, 1), scale_factor)) + 1
    scale2stop = math.ceil(math.log(min(max_size, long) / long, scale_factor))
    stop_scale = num_scales - scale2stop
    if stop_scale < 1:
        raise ValueError(
            f"max_size={max_size} and min_size={min_size} leave a single scale for a {width}×{height} image"
        )
    scale1 = min(max_size / long, 1)
    top = resized_shape((height, width), scale1)
    refitted = math.pow(min_size / min(top), 1 / stop_scale)
    shapes = tuple(resized_shape(top, math.pow(refitted, stop_scale - n)) for n in range(stop_scale + 1))
    return PyramidGeometry(image_shape=(height, width), scale1=scale1, scale_factor=refitted, shapes=shapes)
