"""MATLAB-compatible image operations.

Published metric values come from the authors' MATLAB code, so the preprocessing must be
MATLAB's, not a generic library's near-equivalent:

- ``round`` is half away from zero (numpy rounds half to even);
- ``rgb2gray`` on uint8 is ``imlincomb`` with the NTSC luma row of ``inv(YIQ)``, rounded;
- ``rgb2ycbcr`` on uint8 gives limited-range BT.601 luma, rounded;
- ``imresize`` (bicubic with antialiasing by default) is ported from MATLAB's
  ``contributions``/``resizeAlongDim`` logic, including the mirrored boundary indices, the
  dimension order, and, for uint8 input, rounding back to uint8 after each dimension.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable

import numpy as np

# First row of inv([1 0.956 0.621; 1 -0.272 -0.647; 1 -1.106 1.703]), as in MATLAB's rgb2gray.
RGB2GRAY_COEFFS = (0.298936021293775, 0.587043074451121, 0.114020904255103)
# BT.601 limited-range luma for inputs in [0, 1]: Y = 16 + 65.481 R + 128.553 G + 24.966 B.
YCBCR_Y_COEFFS = (65.481, 128.553, 24.966)


def round_half_away(x: np.ndarray) -> np.ndarray:
    """MATLAB ``round``: halves go away from zero (``np.round`` sends them to the even neighbour)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(round_half_away(x), 0, 255).astype(np.uint8)


def rgb2gray(image: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2gray``: ``Y = 0.298936·R + 0.587043·G + 0.114021·B``.

    uint8 in → uint8 out (rounded half away from zero, as ``imlincomb`` does); float in → float
    out, unrounded. A 2-D image is returned unchanged.
    """
    if image.ndim == 2:
        return image
    if image.dtype == np.uint8:
        return rgb2gray_double(image).astype(np.uint8)
    return image[..., :3].astype(np.float64) @ np.array(RGB2GRAY_COEFFS)


def rgb2gray_double(image: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """MATLAB ``double(rgb2gray(I))`` of a uint8 RGB image: the rounded gray levels as float64,
    written into ``out`` when given (saves the uint8 round trip and a fresh array)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] < 3:
        raise ValueError("rgb2gray_double expects a uint8 H×W×3 image")
    r, g, b = RGB2GRAY_COEFFS
    # Each uint8 channel is cast to double inside the multiply's loop (no index or float copy of
    # the whole channel); the products are the ones MATLAB forms, summed R + G, then + B. The
    # sum is ≥ 0, so floor(Y + 0.5) is MATLAB's round (half away from zero).
    gray = np.multiply(image[..., 0], r, out=out, dtype=np.float64)
    term = np.multiply(image[..., 1], g, dtype=np.float64)
    gray += term
    gray += np.multiply(image[..., 2], b, out=term, dtype=np.float64)
    gray += 0.5
    return np.floor(gray, out=gray)


def rgb2ycbcr_y(image: np.ndarray, *, rounded: bool = True) -> np.ndarray:
    """Luma of MATLAB ``rgb2ycbcr`` (BT.601, limited range 16..235) of a uint8 RGB image.

    ``Y = 16 + (65.481·R + 128.553·G + 24.966·B) / 255`` with R, G, B in 0..255. MATLAB returns
    it rounded to uint8 (``rounded=True``, the default, as SR papers' evaluation scripts do);
    ``rounded=False`` keeps the float64 value.
    """
    if image.dtype != np.uint8 or image.ndim != 3:
        raise ValueError("rgb2ycbcr_y expects a uint8 H×W×3 image")
    y = 16.0 + image[..., :3].astype(np.float64) @ np.array(YCBCR_Y_COEFFS) / 255.0
    return _to_uint8(y) if rounded else y


# --- imresize -------------------------------------------------------------------------------

def _cubic(x: np.ndarray) -> np.ndarray:
    absx = np.abs(x)
    absx2 = absx * absx
    absx3 = absx2 * absx
    return (1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1) + (
        -0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2
    ) * ((absx > 1) & (absx <= 2))


def _lanczos(a: int) -> Callable[[np.ndarray], np.ndarray]:
    def kernel(x: np.ndarray) -> np.ndarray:
        # MATLAB: (sin(pi*x).*sin(pi*x/a) + eps) ./ ((pi^2*x.^2/a) + eps), zero outside |x| < a
        eps = np.finfo(np.float64).eps
        value = (np.sin(np.pi * x) * np.sin(np.pi * x / a) + eps) / ((np.pi**2 * x * x / a) + eps)
        return value * (np.abs(x) < a)

    return kernel


def _triangle(x: np.ndarray) -> np.ndarray:
    return (x + 1) * ((-1 <= x) & (x < 0)) + (1 - x) * ((0 <= x) & (x <= 1))


def _box(x: np.ndarray) -> np.ndarray:
    return ((-0.5 <= x) & (x < 0.5)).astype(np.float64)


_KERNELS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
    "bicubic": (_cubic, 4.0),
    "cubic": (_cubic, 4.0),
    "bilinear": (_triangle, 2.0),
    "triangle": (_triangle, 2.0),
    "box": (_box, 1.0),
    "lanczos2": (_lanczos(2), 4.0),
    "lanczos3": (_lanczos(3), 6.0),
}


@lru_cache(maxsize=256)
def _contributions(
    in_length: int, out_length: int, scale: float, method: str, antialiasing: bool
) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB's ``contributions``: for each output pixel, input indices (0-based) and weights."""
    kernel, width = _KERNELS[method]
    if scale < 1 and antialiasing:
        # Stretch the kernel so that it low-pass filters while shrinking.
        h = lambda x: scale * kernel(scale * x)  # noqa: E731
        width = width / scale
    else:
        h = kernel
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    weights = h(u[:, None] - indices)
    weights = weights / weights.sum(axis=1, keepdims=True)
    # Out-of-range indices are mirrored (symmetric padding, edge pixel repeated).
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    indices = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    keep = np.any(weights != 0, axis=0)
    return np.ascontiguousarray(indices[:, keep]), np.ascontiguousarray(weights[:, keep])


@lru_cache(maxsize=256)
def _resize_matrix(in_length: int, out_length: int, scale: float, method: str, antialiasing: bool):
    """The contributions as a sparse ``out × in`` matrix (CSR). Repeated indices at the mirrored
    borders stay separate entries, so each weight multiplies its pixel on its own, as in MATLAB."""
    from scipy.sparse import csr_matrix

    indices, weights = _contributions(in_length, out_length, scale, method, antialiasing)
    taps = indices.shape[1]
    indptr = np.arange(0, out_length * taps + 1, taps)
    return csr_matrix((weights.ravel(), indices.ravel(), indptr), shape=(out_length, in_length))


def _resize_along(image: np.ndarray, axis: int, matrix) -> np.ndarray:
    """``out[i] = Σ_t w[i, t] · image[index[i, t]]`` along ``axis``, as one sparse product."""
    moved = np.moveaxis(image, axis, 0)
    flat = np.ascontiguousarray(moved).reshape(moved.shape[0], -1)
    out = np.asarray(matrix @ flat).reshape((matrix.shape[0],) + moved.shape[1:])
    return np.moveaxis(out, 0, axis)


def imresize(
    image: np.ndarray,
    scale: float | None = None,
    *,
    output_shape: tuple[int, int] | None = None,
    method: str = "bicubic",
    antialiasing: bool = True,
) -> np.ndarray:
    """MATLAB ``imresize(image, scale)`` or ``imresize(image, [rows cols])``.

    Each output pixel ``i`` along a dimension samples input position
    ``u = i/s + 0.5·(1 − 1/s)`` (1-based) with kernel ``k`` (``s·k(s·x)`` when shrinking with
    antialiasing), weights normalised to sum 1, mirrored at the borders. Dimensions are processed
    from the smallest scale factor up (rows first on ties). uint8 input is rounded and clipped back
    to uint8 after each dimension, as MATLAB's ``imresizemex`` does; float input stays float64.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` array, uint8 or float.
        scale: one factor for both dimensions (output size ``ceil(scale · size)``).
        output_shape: ``(rows, cols)`` instead of ``scale``.
        method: ``bicubic`` (default), ``bilinear``, ``box``, ``lanczos2``, ``lanczos3``.
        antialiasing: MATLAB's ``'Antialiasing'`` option (on by default, as in MATLAB).
    """
    if method not in _KERNELS:
        raise ValueError(f"unknown imresize method {method!r}; choose from {sorted(_KERNELS)}")
    if (scale is None) == (output_shape is None):
        raise ValueError("give exactly one of scale and output_shape")
    in_shape = image.shape[:2]
    if output_shape is None:
        assert scale is not None
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        scales = (float(scale), float(scale))
        out_shape = tuple(int(math.ceil(scale * n)) for n in in_shape)
    else:
        out_shape = (int(output_shape[0]), int(output_shape[1]))
        if min(out_shape) < 1:
            raise ValueError(f"output_shape must be positive, got {output_shape}")
        scales = (out_shape[0] / in_shape[0], out_shape[1] / in_shape[1])
    is_uint8 = image.dtype == np.uint8
    out = np.asarray(image, dtype=np.float64)  # no copy of a float64 image: nothing writes to it
    for axis in np.argsort(scales, kind="stable"):
        matrix = _resize_matrix(in_shape[axis], out_shape[axis], scales[axis], method, antialiasing)
        out = _resize_along(out, int(axis), matrix)
        if is_uint8:
            out = round_half_away(np.clip(out, 0, 255))
    return out.astype(np.uint8) if is_uint8 else out


# --- fspecial / padarray / imfilter -----------------------------------------------------------

# MATLAB padarray / imfilter boundary option → numpy.pad mode and scipy.ndimage mode.
_NP_PAD_MODES = {"replicate": "edge", "symmetric": "symmetric", "circular": "wrap"}
_NDIMAGE_MODES = {"replicate": "nearest", "symmetric": "reflect", "circular": "wrap"}


def gaussian_kernel_1d(size: int, sigma: float) -> np.ndarray:
    """1-D factor of MATLAB ``fspecial('gaussian', size, sigma)``: ``exp(-x²/2σ²)`` on
    ``x = -(size-1)/2 … (size-1)/2``, normalised to sum 1. The 2-D kernel is its outer product
    (``fspecial`` normalises the 2-D product, which is the same thing up to rounding)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def fspecial_gaussian(size: int, sigma: float) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', [size size], sigma)``: ``exp(-(x²+y²)/2σ²)``, sum 1."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2.0 * sigma * sigma))
    return g / g.sum()


def padarray(
    image: np.ndarray,
    pad: tuple[int, int],
    *,
    padding: str | float = 0.0,
    direction: str = "both",
) -> np.ndarray:
    """MATLAB ``padarray(image, [rows cols], padding, direction)`` on the first two axes.

    ``padding``: a number (constant, MATLAB's default 0), ``'replicate'`` (edge value repeated),
    ``'symmetric'`` (mirror including the edge: ``c b a | a b c``) or ``'circular'``.
    ``direction``: ``'both'``, ``'pre'`` or ``'post'``.
    """
    if direction not in ("both", "pre", "post"):
        raise ValueError(f"direction must be 'both', 'pre' or 'post', got {direction!r}")
    before = [p if direction in ("both", "pre") else 0 for p in pad]
    after = [p if direction in ("both", "post") else 0 for p in pad]
    widths = [(before[0], after[0]), (before[1], after[1])] + [(0, 0)] * (image.ndim - 2)
    if isinstance(padding, str):
        if padding not in _NP_PAD_MODES:
            raise ValueError(f"unknown padding {padding!r}; choose a number or one of {sorted(_NP_PAD_MODES)}")
        return np.pad(image, widths, mode=_NP_PAD_MODES[padding])
    return np.pad(image, widths, mode="constant", constant_values=padding)


def _separable_factors(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(column, row)`` with ``outer(column, row) == kernel`` (to rounding), else ``None``.

    The factors are the kernel's column and row through its largest entry, the row divided by
    that entry: exact for box kernels, within an ulp for Gaussians.
    """
    if kernel.shape[0] == 1 or kernel.shape[1] == 1 or not np.any(kernel):
        return None
    i, j = np.unravel_index(np.argmax(np.abs(kernel)), kernel.shape)
    column = kernel[:, j].copy()
    row = kernel[i, :] / kernel[i, j]
    if not np.allclose(np.outer(column, row), kernel, rtol=1e-12, atol=1e-15 * np.abs(kernel).max()):
        return None
    return column, row


def imfilter(image: np.ndarray, kernel: np.ndarray, *, padding: str | float = 0.0) -> np.ndarray:
    """MATLAB ``imfilter(image, kernel, padding, 'same')`` with correlation (its default).

    ``B(i, j) = Σ_{k,l} h(k, l) · A(i + k − c_r, j + l − c_c)`` with the kernel anchored at
    ``c = floor((size + 1) / 2)`` (1-based, so an even-sized kernel looks one pixel further
    forward than back) and the image extended beyond its border by ``padding``: a number
    (MATLAB's default 0), ``'replicate'``, ``'symmetric'`` or ``'circular'``. A 3-D image is
    filtered plane by plane. The result is float64 (MATLAB casts back to the input class; the
    metrics here always filter doubles). ``filter2(h, X, 'same')`` is ``imfilter(X, h)``.

    A separable kernel (rank 1, e.g. a Gaussian or a box) is applied as two 1-D passes, as MATLAB
    also does; the difference is rounding only.
    """
    from scipy.ndimage import correlate, correlate1d

    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim == 1:
        kernel = kernel[None, :]
    image = np.asarray(image, dtype=np.float64)
    if isinstance(padding, str):
        if padding not in _NDIMAGE_MODES:
            raise ValueError(f"unknown padding {padding!r}; choose a number or one of {sorted(_NDIMAGE_MODES)}")
        mode, cval = _NDIMAGE_MODES[padding], 0.0
    else:
        mode, cval = "constant", float(padding)
    kr, kc = kernel.shape
    # scipy centres a kernel of size k at index k//2, MATLAB at (k+1)//2 - 1: shift even sizes.
    origin_r, origin_c = (kr - 1) // 2 - kr // 2, (kc - 1) // 2 - kc // 2
    factors = _separable_factors(kernel)
    if factors is not None:
        column, row = factors
        out = correlate1d(image, column, axis=0, mode=mode, cval=cval, origin=origin_r)
        return correlate1d(out, row, axis=1, mode=mode, cval=cval, origin=origin_c)
    full_kernel = kernel if image.ndim == 2 else kernel[:, :, None]
    origins = (origin_r, origin_c) if image.ndim == 2 else (origin_r, origin_c, 0)
    return correlate(image, full_kernel, mode=mode, cval=cval, origin=origins)
