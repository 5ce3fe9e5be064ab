"""The SinGAN start-scale grid: the sharp photo, the blurred input, and one sample per start scale.

:func:`singan_grid` is a pure function returning the labelled grid as a uint8 RGB array (for
tests, galleries and the site); :func:`save_singan_grid` writes it as a PNG.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from restorebench.metrics.imageio import as_rgb_uint8, save_png

CAPTION_HEIGHT = 18
GAP = 4
BACKGROUND = 255
TEXT = (20, 20, 20)


def panel_labels(samples_by_scale: Mapping[int, np.ndarray], *, blur: str | None = None) -> list[str]:
    """Captions in grid order: ``sharp``, ``blurred (<blur>)``, ``n = <scale>`` ascending."""
    blurred = f"blurred ({blur})" if blur else "blurred"
    return ["sharp", blurred] + [f"n = {n}" for n in sorted(samples_by_scale)]


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _caption(text: str, width: int, height: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    strip = Image.new("RGB", (width, height), (BACKGROUND,) * 3)
    draw = ImageDraw.Draw(strip)
    font = _font(height - 5)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(((width - (right - left)) / 2 - left, (height - (bottom - top)) / 2 - top), text, fill=TEXT, font=font)
    return np.asarray(strip)


def _fit(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``image`` at ``shape`` (MATLAB bicubic when the sizes differ)."""
    if image.shape[:2] == shape:
        return image
    from restorebench.metrics.matlab import imresize

    return imresize(image, output_shape=shape)


def singan_grid(
    sharp: np.ndarray,
    blurred: np.ndarray,
    samples_by_scale: Mapping[int, np.ndarray],
    *,
    title: str | None = None,
    blur: str | None = None,
    columns: int | None = None,
) -> np.ndarray:
    """A labelled grid: sharp, blurred, then one sample per start scale (ascending ``n``).

    All panels are shown at the sharp photo's size (others are resized, MATLAB bicubic), each
    under a caption strip; panels fill rows of ``columns`` (default: all in one row), separated by
    a white gap; an optional ``title`` strip spans the top. Returns uint8 RGB ``(H, W, 3)``.
    """
    sharp = as_rgb_uint8(sharp, name="sharp")
    shape = sharp.shape[:2]
    panels = [sharp, as_rgb_uint8(blurred, name="blurred")]
    panels += [as_rgb_uint8(samples_by_scale[n], name=f"sample n={n}") for n in sorted(samples_by_scale)]
    panels = [_fit(p, shape) for p in panels]
    labels = panel_labels(samples_by_scale, blur=blur)
    columns = len(panels) if columns is None else max(1, min(columns, len(panels)))
    rows = -(-len(panels) // columns)
    tile_h, tile_w = shape[0] + CAPTION_HEIGHT, shape[1]
    width = columns * tile_w + (columns + 1) * GAP
    title_h = CAPTION_HEIGHT + GAP if title else 0
    height = title_h + rows * tile_h + (rows + 1) * GAP
    grid = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    if title:
        grid[GAP : GAP + CAPTION_HEIGHT, :] = _caption(title, width, CAPTION_HEIGHT)
    for i, (panel, label) in enumerate(zip(panels, labels)):
        r, c = divmod(i, columns)
        y = title_h + GAP + r * (tile_h + GAP)
        x = GAP + c * (tile_w + GAP)
        grid[y : y + CAPTION_HEIGHT, x : x + tile_w] = _caption(label, tile_w, CAPTION_HEIGHT)
        grid[y + CAPTION_HEIGHT : y + tile_h, x : x + tile_w] = panel
    return grid


def save_singan_grid(
    path: str | Path,
    sharp: np.ndarray,
    blurred: np.ndarray,
    samples_by_scale: Mapping[int, np.ndarray],
    *,
    title: str | None = None,
    blur: str | None = None,
    columns: int | None = None,
) -> Path:
    """Write :func:`singan_grid` to ``path`` as a PNG (byte-identical for identical pixels)."""
    save_png(singan_grid(sharp, blurred, samples_by_scale, title=title, blur=blur, columns=columns), path)
    return Path(path)
