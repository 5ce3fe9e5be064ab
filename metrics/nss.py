"""Natural-scene-statistics building blocks shared by NIQE, BRISQUE and PIQE (and the gray
conversion in bands of rows that SSIM and MS-SSIM use too).

These follow the LIVE MATLAB releases (Mittal, Moorthy, Bovik: BRISQUE, IEEE TIP 2012; Mittal,
Soundararajan, Bovik: NIQE, IEEE SPL 2013) and MathWorks' ``piqe``:

- MSCN coefficients ``Î = (I − μ) / (σ + 1)`` with ``μ``, ``σ`` local Gaussian-weighted mean and
  standard deviation (7×7 window, σ = 7/6), ``σ = sqrt(|G∗I² − μ²|)``;
- the generalised Gaussian (GGD) and asymmetric generalised Gaussian (AGGD) shape estimated by
  moment matching on the grid ``gam = 0.2:0.001:10`` exactly as ``estimateggdparam.m`` and
  ``estimateaggdparam.m`` do (the grid value whose moment ratio is nearest; ties → first).

Every function here works on a batch: the last axis holds the samples of one distribution, the
leading axes index independent distributions (blocks, shifts), so nothing loops over blocks.

Speed note: the metrics pass a :class:`~restorebench.metrics.parallel.Workspace` so that their
image-sized scratch arrays are reused from one image to the next.
"""
from __future__ import annotations

import functools

import numpy as np
from scipy.ndimage import correlate1d
from scipy.special import gamma as gamma_fn

from restorebench.metrics.matlab import gaussian_kernel_1d, rgb2gray_double
from restorebench.metrics.parallel import Workspace, row_grain, run_in_bands

GRID_START, GRID_STEP, GRID_STOP = 0.2, 0.001, 10.0
# |I − μ| at or below this many ulp of max |I| is filtering round-off of an exact 0 (see mscn).
FLAT_RESIDUE_ULPS = 32


def rgb2gray_in_bands(image: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """:func:`~restorebench.metrics.matlab.rgb2gray_double` of a uint8 RGB image in bands of rows
    on the call's threads (every pixel is computed alike in any band), into ``out`` when given."""
    out = np.empty(image.shape[:2]) if out is None else out
    run_in_bands(lambda band, start, stop: rgb2gray_double(image[start:stop], out=out[start:stop]),
                 image.shape[0], grain=row_grain(image.shape[1]))
    return out


@functools.cache
def shape_grid() -> np.ndarray:
    """MATLAB's ``0.2:0.001:10`` (9801 values), built as MATLAB's colon operator builds it:
    the first half as ``a + k·d``, the second half as ``b − (n−1−k)·d``, so both ends are exact."""
    n = int(np.floor((GRID_STOP - GRID_START) / GRID_STEP + 0.5)) + 1
    k = np.arange(n, dtype=np.float64)
    half = n // 2
    grid = GRID_START + k * GRID_STEP
    grid[half:] = GRID_STOP - (n - 1 - k[half:]) * GRID_STEP
    grid.setflags(write=False)
    return grid


@functools.cache
def _aggd_ratio_table() -> np.ndarray:
    """``r(γ) = Γ(2/γ)² / (Γ(1/γ) Γ(3/γ))`` on the grid: strictly increasing in γ."""
    g = shape_grid()
    table = gamma_fn(2 / g) ** 2 / (gamma_fn(1 / g) * gamma_fn(3 / g))
    table.setflags(write=False)
    return table


@functools.cache
def _ggd_ratio_table() -> np.ndarray:
    """``ρ(γ) = Γ(1/γ) Γ(3/γ) / Γ(2/γ)²`` on the grid: strictly decreasing in γ."""
    g = shape_grid()
    table = gamma_fn(1 / g) * gamma_fn(3 / g) / gamma_fn(2 / g) ** 2
    table.setflags(write=False)
    return table


def nearest_on_grid(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of ``argmin_k |table[k] − v|`` for each ``v`` of a strictly increasing ``table``,
    the first index on ties, index 0 for NaN and ±inf — what MATLAB's
    ``[~, i] = min((table − v).^2)`` returns (an all-NaN or all-inf vector gives index 1).

    A binary search plus a comparison of the two neighbours replaces the full 9801-element scan;
    the distance is monotone on both sides of the insertion point, so the minimum is there.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    safe = np.where(finite, values, table[0])
    upper = np.clip(np.searchsorted(table, safe, side="left"), 1, len(table) - 1)
    lower = upper - 1
    take_lower = np.abs(table[lower] - safe) <= np.abs(table[upper] - safe)
    index = np.where(take_lower, lower, upper)
    # NaN or ±inf make every distance NaN or inf, and MATLAB's min then returns the first index.
    return np.where(finite, index, 0)


def circular_pair_products(image: np.ndarray, shift: tuple[int, int], *, out: np.ndarray | None = None) -> np.ndarray:
    """``image · circshift(image, shift)`` over the last two axes (one image or a stack of blocks).

    MATLAB ``circshift(A, [dr dc])`` is ``np.roll``: ``B[i, j] = A[(i − dr) mod H, (j − dc) mod W]``.
    Done on the flattened image: away from the wrapped first/last row and column the neighbour
    sits at a fixed flat offset ``dr·W + dc``, so one contiguous product covers the bulk and the
    wrapped row and column are patched after. ``|dr|, |dc| ≤ 1``.
    """
    dr, dc = shift
    if abs(dr) > 1 or abs(dc) > 1:
        raise ValueError(f"shift components must be -1, 0 or 1, got {shift}")
    h, w = image.shape[-2:]
    flat = image.reshape(image.shape[:-2] + (h * w,))
    out = np.empty_like(image) if out is None else out
    if out.shape != image.shape or not out.flags.c_contiguous:
        raise ValueError("out must be a C-contiguous array shaped like image")
    result = out
    out = out.reshape(flat.shape)
    offset = dr * w + dc
    if offset >= 0:
        np.multiply(flat[..., offset:], flat[..., : h * w - offset], out=out[..., offset:])
    else:
        np.multiply(flat[..., :offset], flat[..., -offset:], out=out[..., :offset])
    out = result
    if dc:  # the column whose left/right neighbour wraps around
        column = 0 if dc > 0 else w - 1
        out[..., :, column] = image[..., :, column] * np.roll(image[..., :, (column - dc) % w], dr, axis=-1)
    if dr:  # the row whose upper/lower neighbour wraps around
        row = 0 if dr > 0 else h - 1
        out[..., row, :] = image[..., row, :] * np.roll(image[..., (row - dr) % h, :], dc, axis=-1)
    return out


def circular_pair_product_rows(
    image: np.ndarray, shift: tuple[int, int], start: int, stop: int, *, out: np.ndarray
) -> np.ndarray:
    """Rows ``start:stop`` of :func:`circular_pair_products` of a 2-D ``image``, into ``out``
    (``stop − start`` rows; C-contiguous): each element is the same product of the same two
    values, so bands put together equal the whole."""
    dr, dc = shift
    if abs(dr) > 1 or abs(dc) > 1:
        raise ValueError(f"shift components must be -1, 0 or 1, got {shift}")
    h, w = image.shape
    if out.shape != (stop - start, w) or not out.flags.c_contiguous:
        raise ValueError("out must be a C-contiguous array of the band's shape")
    flat, band = image.reshape(-1), out.reshape(-1)
    offset = dr * w + dc
    # the bulk: the neighbour at a fixed flat offset (where it falls outside the image, the
    # wrapped column or row patched below covers the element)
    first, last = max(start * w, offset), min(stop * w, h * w + offset)
    if first < last:
        np.multiply(flat[first:last], flat[first - offset : last - offset], out=band[first - start * w : last - start * w])
    if dc:  # the column whose left/right neighbour wraps around
        column = 0 if dc > 0 else w - 1
        sources = (np.arange(start, stop) - dr) % h
        out[:, column] = image[start:stop, column] * image[sources, (column - dc) % w]
    if dr:  # the row whose upper/lower neighbour wraps around
        row = 0 if dr > 0 else h - 1
        if start <= row < stop:
            out[row - start, :] = image[row, :] * np.roll(image[(row - dr) % h, :], dc)
    return out


def signed_moments(
    samples: np.ndarray, *, scratch: np.ndarray | None = None, has_zeros: bool = True
) -> tuple[np.ndarray, ...]:
    """Sufficient statistics of the AGGD fit along the last axis:
    ``(n, Σx², Σx⁻², count(x < 0), count(x > 0), Σ|x|)`` with ``x⁻ = min(x, 0)``.

    Five reductions of ``x`` and ``x⁻`` give all of them: ``Σ|x| = Σx − 2Σx⁻``, and the positive
    count is the non-zero count less the negative one. ``scratch`` (shaped like ``samples``)
    receives ``x⁻``. A caller that knows ``samples`` holds no exact zero passes
    ``has_zeros=False`` and saves the non-zero count (then ``count(x > 0) = n − count(x < 0)``).
    """
    x = np.asarray(samples, dtype=np.float64)
    negative = np.minimum(x, 0.0, out=scratch)
    # einsum, not the BLAS dot: the same single-threaded loop for one vector or a batch (a BLAS
    # thread pool only adds synchronisation on a loaded machine).
    sum_sq = np.einsum("...i,...i->...", x, x)
    sum_sq_neg = np.einsum("...i,...i->...", negative, negative)
    if x.ndim == 1:
        # Counting a comparison's booleans is 3× faster than counting non-zero float64 values, and
        # it runs without holding the GIL. (x < 0 where x⁻ ≠ 0: the same count for finite x.)
        count_neg = np.count_nonzero(np.less(x, 0.0))
        count_pos = (x.shape[-1] - np.count_nonzero(np.equal(x, 0.0)) if has_zeros else x.shape[-1]) - count_neg
    else:
        count_neg = np.count_nonzero(negative, axis=-1)
        count_pos = (np.count_nonzero(x, axis=-1) if has_zeros else x.shape[-1]) - count_neg
    sum_abs = x.sum(axis=-1) - 2.0 * negative.sum(axis=-1)
    return (
        np.full(np.shape(sum_sq), float(x.shape[-1])),
        np.asarray(sum_sq, dtype=np.float64),
        np.asarray(sum_sq_neg, dtype=np.float64),
        np.asarray(count_neg, dtype=np.float64),
        np.asarray(count_pos, dtype=np.float64),
        np.asarray(sum_abs, dtype=np.float64),
    )


def aggd_from_moments(n, sum_sq, sum_sq_neg, count_neg, count_pos, sum_abs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(alpha, left_std, right_std)`` from :func:`signed_moments` (broadcasting arrays)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        left_std = np.sqrt(sum_sq_neg / count_neg)
        right_std = np.sqrt((sum_sq - sum_sq_neg) / count_pos)
        gamma_hat = left_std / right_std
        r_hat = (sum_abs / n) ** 2 / (sum_sq / n)
        r_hat_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    alpha = shape_grid()[nearest_on_grid(_aggd_ratio_table(), r_hat_norm)]
    return alpha, left_std, right_std


def aggd_fit(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Asymmetric GGD fit along the last axis: ``(alpha, left_std, right_std)``.

    ``σl = sqrt(mean(x² | x < 0))``, ``σr = sqrt(mean(x² | x > 0))``, ``γ̂ = σl/σr``,
    ``r̂ = mean(|x|)² / mean(x²)``, ``R̂ = r̂ (γ̂³ + 1)(γ̂ + 1) / (γ̂² + 1)²`` and ``α`` the grid
    value whose ``Γ(2/α)² / (Γ(1/α) Γ(3/α))`` is nearest ``R̂`` (``estimateaggdparam.m``).
    Zeros count in ``mean(|x|)`` and ``mean(x²)`` but on neither side. An empty side gives NaN,
    as MATLAB's ``mean([])`` does.
    """
    return aggd_from_moments(*signed_moments(samples))


def ggd_fit(samples: np.ndarray, *, scratch: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Zero-mean GGD fit along the last axis: ``(alpha, sigma)`` (``estimateggdparam.m``).

    ``σ² = mean(x²)``, ``ρ = σ² / mean(|x|)²`` and ``α`` the grid value whose
    ``Γ(1/α) Γ(3/α) / Γ(2/α)²`` is nearest ``ρ``.
    """
    x = np.asarray(samples, dtype=np.float64)
    sum_sq = np.einsum("...i,...i->...", x, x)
    sum_abs = x.sum(axis=-1) - 2.0 * np.minimum(x, 0.0, out=scratch).sum(axis=-1)
    return ggd_from_moments(x.shape[-1], sum_sq, sum_abs)


def ggd_from_moments(n, sum_sq, sum_abs) -> tuple[np.ndarray, np.ndarray]:
    """``(alpha, sigma)`` of :func:`ggd_fit` from ``n``, ``Σx²`` and ``Σ|x|`` (broadcasting)."""
    sigma_sq = np.asarray(sum_sq, dtype=np.float64) / n
    mean_abs = np.asarray(sum_abs, dtype=np.float64) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = sigma_sq / mean_abs**2
    # The table falls with γ; its negation rises, and |(−t) − (−ρ)| = |t − ρ| keeps the ties.
    index = nearest_on_grid(-_ggd_ratio_table(), -rho)
    return shape_grid()[index], np.sqrt(sigma_sq)


def _padded_pair(image: np.ndarray, r: int, padding: str, workspace: Workspace) -> tuple[np.ndarray, str]:
    """``[I; I²]`` with ``r`` rows of border above and below, and the scipy mode for the columns."""
    h, w = image.shape
    padded = workspace.array("padded", (2, h + 2 * r, w))
    padded[0, r : r + h] = image
    np.multiply(image, image, out=padded[1, r : r + h])
    if padding == "replicate":
        padded[:, :r] = padded[:, r : r + 1]
        padded[:, r + h :] = padded[:, r + h - 1 : r + h]
        return padded, "nearest"
    if padding == "zero":
        padded[:, :r] = 0.0
        padded[:, r + h :] = 0.0
        return padded, "constant"
    raise ValueError(f"padding must be 'replicate' or 'zero', got {padding!r}")


def _filter_rows(
    padded: np.ndarray, window: np.ndarray, mode: str, start: int, stop: int, vertical: np.ndarray, filtered: np.ndarray
) -> None:
    """Rows ``start:stop`` of ``w ∗ [I; I²]`` into ``filtered`` (``vertical`` is scratch).

    The vertical pass adds mirrored pairs of shifted row blocks, ``w_k (x_{i−k} + x_{i+k})``
    (contiguous, no per-line copies); the horizontal pass is scipy's 1-D correlation along the
    contiguous axis. Rows are independent, so disjoint row ranges can run on different threads.
    """
    r = len(window) // 2
    rows = vertical[:, start:stop]
    pair = filtered[:, start:stop]  # free until the horizontal pass overwrites it
    np.multiply(padded[:, start + r : stop + r], window[r], out=rows)
    for k in range(r):
        np.add(padded[:, start + k : stop + k], padded[:, start + 2 * r - k : stop + 2 * r - k], out=pair)
        pair *= window[k]
        rows += pair
    correlate1d(rows, window, axis=2, mode=mode, output=pair)


def local_mean_and_energy(
    image: np.ndarray, window: np.ndarray, *, padding: str, workspace: Workspace | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(w ∗ I, w ∗ I²)`` for a symmetric 1-D window ``w`` applied along both axes ('same' size).

    ``padding``: ``'replicate'`` (edge rows/columns repeated) or ``'zero'``. I and I² are
    filtered together (see :func:`_filter_rows`).
    """
    h, w = image.shape
    workspace = Workspace() if workspace is None else workspace
    padded, mode = _padded_pair(image, len(window) // 2, padding, workspace)
    filtered = workspace.array("filtered", (2, h, w))
    _filter_rows(padded, window, mode, 0, h, workspace.array("vertical", (2, h, w)), filtered)
    return filtered[0], filtered[1]


def mscn(
    gray: np.ndarray,
    *,
    padding: str = "replicate",
    window_size: int = 7,
    sigma: float = 7.0 / 6.0,
    workspace: Workspace | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean-subtracted contrast-normalised coefficients and the local σ map.

    ``μ = w ∗ I``, ``σ = sqrt(|w ∗ I² − μ²|)``, ``Î = (I − μ) / (σ + 1)`` with ``w`` the
    normalised ``fspecial('gaussian', 7, 7/6)`` applied by correlation. ``padding`` is how the
    authors' code extends the border: ``'replicate'`` (NIQE's ``imfilter(…, 'replicate')``,
    PIQE's ``imgaussfilt``) or ``'zero'`` (BRISQUE's ``filter2(…, 'same')``).

    Over a flat window (or a ramp, or any neighbourhood symmetric about the pixel) ``I − μ`` is
    exactly 0, but any filter leaves a rounding residue of a few ulp whose sign depends on the
    summation order (MATLAB's, scipy's, ours); that sign decides which side of an AGGD fit the
    sample joins. On I03 (1.7 % flat) it moves NIQE by ±0.3 %; on images whose coefficients are
    mostly flat (heavy JPEG, posterised) by up to ~13 % (NIQE) and ~11 points (BRISQUE) — the
    cause of the gaps to the authors' values on strongly distorted images (site page "Quality
    metrics"). MATLAB's own residues (SVD-factored filters, its accumulation order) cannot be
    reproduced, so residues within ``FLAT_RESIDUE_ULPS`` ulp of ``max |I|`` are set to the exact
    0: the result is the same on every platform. (Genuine differences in 8-bit data are many
    orders larger.)

    With a ``workspace`` both returned arrays live in it (valid until its next use). Row bands
    run on the call's threads (:mod:`restorebench.metrics.parallel`); the result does not
    depend on their number.
    """
    image = np.asarray(gray, dtype=np.float64)
    workspace = Workspace() if workspace is None else workspace
    window = gaussian_kernel_1d(window_size, sigma)
    h, w = image.shape
    padded, mode = _padded_pair(image, len(window) // 2, padding, workspace)
    vertical = workspace.array("vertical", (2, h, w))
    filtered = workspace.array("filtered", (2, h, w))
    # Residue of an exact-arithmetic zero (a flat window, but also a ramp or any neighbourhood
    # symmetric about the pixel): a few ulp of the image's magnitude.
    # (max |I| as max(max I, −min I): exact, and no |I| array to allocate)
    largest = max(float(image.max(initial=0.0)), -float(image.min(initial=0.0)))
    tolerance = FLAT_RESIDUE_ULPS * np.finfo(np.float64).eps * largest

    def rows(band: int, start: int, stop: int) -> None:
        _filter_rows(padded, window, mode, start, stop, vertical, filtered)
        mu, mean_sq, scratch = filtered[0, start:stop], filtered[1, start:stop], vertical[0, start:stop]
        # σ in place in the buffer of w ∗ I², Î in place in the buffer of μ.
        np.multiply(mu, mu, out=scratch)
        np.subtract(mean_sq, scratch, out=mean_sq)
        np.abs(mean_sq, out=mean_sq)
        np.sqrt(mean_sq, out=mean_sq)
        centred = np.subtract(image[start:stop], mu, out=mu)
        centred[np.abs(centred, out=scratch) <= tolerance] = 0.0
        np.add(mean_sq, 1.0, out=scratch)
        centred /= scratch

    run_in_bands(rows, h, grain=row_grain(w))
    return filtered[0], filtered[1]
