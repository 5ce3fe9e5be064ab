"""Registering an image to a reference before full-reference metrics.

The public blur dataset's sharp, motion-blurred and defocused photos were taken one after the
other with a hand-held camera, so they are not pixel-aligned: PSNR or SSIM against the sharp
photo would mostly measure the misalignment. :func:`register_to` estimates the translation
between the two by cross-correlation (Guizar-Sicairos et al., 2008, via
``skimage.registration.phase_cross_correlation``; sub-pixel by upsampled DFT) of the MATLAB
``rgb2gray`` luma, mean removed and multiplied by a Hann window — without the window, the
image borders, which the DFT treats as periodic, bias the sub-pixel peak by up to half a pixel
between a blurred and a sharp photo (windowed: ≤ 0.1 px in our tests) — and shifts the image by it (cubic spline interpolation, edge pixels repeated
into the border the shift uncovers). The shift is returned so that the harness can record which
registration was applied and how large it was. Only translations are modelled; rotation and
scale changes between photos are left alone.
"""
from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np

from restorebench.metrics.errors import SizeMismatchError
from restorebench.metrics.imageio import as_rgb_uint8
from restorebench.metrics.matlab import rgb2gray

RegistrationMethod = Literal["phase", "none"]


class Registration(NamedTuple):
    """An aligned image and the ``(rows, cols)`` shift that was applied to obtain it."""

    image: np.ndarray
    shift: tuple[float, float]


def estimate_shift(image: np.ndarray, reference: np.ndarray, *, upsample_factor: int = 20) -> tuple[float, float]:
    """``(dy, dx)`` that moves ``image`` onto ``reference`` (a pixel content at ``(y, x)`` in
    ``image`` belongs at ``(y + dy, x + dx)``), to ``1 / upsample_factor`` of a pixel."""
    from skimage.filters import window
    from skimage.registration import phase_cross_correlation

    moving = rgb2gray(as_rgb_uint8(image, name="image").astype(np.float64))
    fixed = rgb2gray(as_rgb_uint8(reference, name="reference").astype(np.float64))
    if moving.shape != fixed.shape:
        raise SizeMismatchError(f"registration: image {moving.shape[::-1]} and reference {fixed.shape[::-1]} differ in size")
    taper = window("hann", fixed.shape)
    shift, _error, _phase = phase_cross_correlation(
        (fixed - fixed.mean()) * taper, (moving - moving.mean()) * taper, upsample_factor=upsample_factor, normalization=None
    )
    return float(shift[0]), float(shift[1])


def apply_shift(image: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """``image`` translated by ``shift = (dy, dx)``: cubic spline interpolation, border filled by
    repeating the edge pixels, rounded back to uint8."""
    from scipy.ndimage import shift as nd_shift

    image = as_rgb_uint8(image)
    if shift == (0.0, 0.0):
        return image.copy()
    moved = nd_shift(image.astype(np.float64), (shift[0], shift[1], 0.0), order=3, mode="nearest")
    return np.clip(np.floor(moved + 0.5), 0, 255).astype(np.uint8)


def register_to(
    image: np.ndarray,
    reference: np.ndarray,
    *,
    method: RegistrationMethod = "phase",
    upsample_factor: int = 20,
) -> Registration:
    """Align ``image`` to ``reference`` (same size, uint8 RGB) by a translation.

    ``method="phase"``: phase correlation, sub-pixel (``1 / upsample_factor``); ``"none"``:
    the image unchanged with a zero shift. Returns :class:`Registration` ``(image, shift)``.
    """
    if method == "none":
        return Registration(as_rgb_uint8(image).copy(), (0.0, 0.0))
    if method != "phase":
        raise ValueError(f"unknown registration method {method!r}; choose 'phase' or 'none'")
    shift = estimate_shift(image, reference, upsample_factor=upsample_factor)
    return Registration(apply_shift(image, shift), shift)
