"""Structural similarity (full reference; higher is better), as Wang et al.'s MATLAB code computes it.

Wang, Bovik, Sheikh, Simoncelli, "Image quality assessment: from error visibility to structural
similarity", IEEE Transactions on Image Processing 13(4), 2004:

    SSIM = mean over the valid region of ((2 μx μy + C1)(2 σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2))

with local statistics under an 11×11 Gaussian window (σ 1.5), ``C1 = (0.01·255)²``,
``C2 = (0.03·255)²``, on MATLAB ``rgb2gray`` of both uint8 images and without the automatic
downsampling of the 2011 ``ssim.m`` (what the official calibration values use).
"""
from __future__ import annotations

import numpy as np

from restorebench.metrics.base import Metric, register
from restorebench.metrics.nss import rgb2gray_in_bands
from restorebench.metrics.parallel import Workspace, row_grain, run_in_bands, thread_workspace


#: Pixels of a band of rows that stays in cache through the filter passes (five planes of them).
TILE_PIXELS = 65536


def gaussian_window_1d(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """1-D factor of MATLAB ``fspecial('gaussian', size, sigma)`` (normalised to sum 1)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


def _filter_valid_stack(stack: np.ndarray, g: np.ndarray, workspace: Workspace) -> np.ndarray:
    """``filter2(g' * g, plane, 'valid')`` of every plane of ``stack`` (n, H, W) for a symmetric
    ``g``: sums of mirrored pairs of shifted slices, rows then columns, no padding needed."""
    n, h, w = stack.shape
    k = len(g)
    r = k // 2
    vh, vw = h - 2 * r, w - 2 * r
    rows = np.multiply(stack[:, r : r + vh], g[r], out=workspace.array("ssim_rows", (n, vh, w)))
    pair = workspace.array("ssim_pair_rows", (n, vh, w))
    for t in range(r):
        np.add(stack[:, t : t + vh], stack[:, k - 1 - t : k - 1 - t + vh], out=pair)
        pair *= g[t]
        rows += pair
    out = np.multiply(rows[:, :, r : r + vw], g[r], out=workspace.array("ssim_valid", (n, vh, vw)))
    pair = workspace.array("ssim_pair_cols", (n, vh, vw))
    for t in range(r):
        np.add(rows[:, :, t : t + vw], rows[:, :, k - 1 - t : k - 1 - t + vw], out=pair)
        pair *= g[t]
        out += pair
    return out


def ssim_downsample(gray: np.ndarray, factor: int) -> np.ndarray:
    """``ssim.m``'s automatic scale: ``imfilter(img, ones(f)/f², 'symmetric', 'same')`` then
    every ``f``-th pixel. MATLAB anchors an even-sized kernel at ``floor((f+1)/2)``."""
    if factor <= 1:
        return gray
    before = (factor + 1) // 2 - 1
    after = factor - 1 - before
    padded = np.pad(gray, ((before, after), (before, after)), mode="symmetric")
    h, w = gray.shape
    rows = sum(padded[a : a + h, :] for a in range(factor))
    filtered = sum(rows[:, b : b + w] for b in range(factor)) / (factor * factor)
    return filtered[::factor, ::factor]


def ssim_and_cs(
    x: np.ndarray,
    y: np.ndarray,
    *,
    data_range: float = 255.0,
    k1: float = 0.01,
    k2: float = 0.03,
    window_size: int = 11,
    sigma: float = 1.5,
) -> tuple[float, float]:
    """Mean SSIM and mean contrast-structure term of two gray images, as ``ssim_index_new.m``.

    ``SSIM = ((2 μx μy + C1)(2 σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2))`` and
    ``CS = (2 σxy + C2) / (σx² + σy² + C2)``, with ``C1 = (k1·L)²``, ``C2 = (k2·L)²`` and the local
    statistics under the Gaussian window over the 'valid' region.

    Bands of output rows run on the call's threads, each from its own rows of the images (plus
    the window's margin) to its rows of the two maps; the means are taken over the whole maps.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    workspace = thread_workspace()
    g = gaussian_window_1d(window_size, sigma)
    margin = 2 * (len(g) // 2)
    valid = (x.shape[0] - margin, x.shape[1] - margin)
    ssim_map = workspace.array("ssim_map", valid)
    cs_map = workspace.array("cs_map", valid)
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2

    def rows(band: int, start: int, stop: int) -> None:
        scratch = thread_workspace()
        # x, y, x², y², xy of the band's rows filtered in one stacked pass.
        stack = scratch.array("ssim_stack", (5, stop - start + margin, x.shape[1]))
        own_x, own_y = x[start : stop + margin], y[start : stop + margin]
        stack[0], stack[1] = own_x, own_y
        np.multiply(own_x, own_x, out=stack[2])
        np.multiply(own_y, own_y, out=stack[3])
        np.multiply(own_x, own_y, out=stack[4])
        mu_x, mu_y, e_xx, e_yy, e_xy = _filter_valid_stack(stack, g, scratch)
        mu_xy = np.multiply(mu_x, mu_y, out=scratch.array("ssim_mu_xy", mu_x.shape))
        mu_xx = np.multiply(mu_x, mu_x, out=mu_x)
        mu_yy = np.multiply(mu_y, mu_y, out=mu_y)
        # σx² + σy² + C2 and 2σxy + C2, then the contrast-structure map.
        variances = np.add(e_xx, e_yy, out=e_xx)
        variances -= mu_xx
        variances -= mu_yy
        variances += c2
        covariance = np.subtract(e_xy, mu_xy, out=e_xy)
        covariance *= 2
        covariance += c2
        cs = np.divide(covariance, variances, out=cs_map[start:stop])
        # (2 μx μy + C1) / (μx² + μy² + C1) · CS
        luminance = np.multiply(mu_xy, 2, out=mu_xy)
        luminance += c1
        denominator = np.add(mu_xx, mu_yy, out=e_yy)
        denominator += c1
        luminance /= denominator
        np.multiply(luminance, cs, out=ssim_map[start:stop])

    # Bands of at most ~64k pixels even on one thread: their five planes stay in cache between
    # the passes (a quarter less time than whole images at 512×384).
    # (SSIM costs some 60 ns a pixel: a band of 2048 pixels is already worth a thread.)
    run_in_bands(rows, valid[0], grain=row_grain(x.shape[1], pixels=2048), most=max(1, TILE_PIXELS // x.shape[1]))
    return float(ssim_map.mean()), float(cs_map.mean())


def ssim_gray(
    x: np.ndarray,
    y: np.ndarray,
    *,
    data_range: float = 255.0,
    k1: float = 0.01,
    k2: float = 0.03,
    window_size: int = 11,
    sigma: float = 1.5,
    downsample: bool = False,
) -> float:
    """Mean SSIM of two gray images (float64 arrays on a 0..data_range scale).

    ``SSIM = ((2 μx μy + C1)(2 σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2))`` with
    ``C1 = (k1·L)²``, ``C2 = (k2·L)²``, local statistics under an 11×11 Gaussian (σ 1.5) window,
    'valid' region only, averaged — the original ``ssim_index.m``, which reproduces the official
    values. With ``downsample`` the images are first reduced by ``f = max(1, round(min(H, W)/256))``
    as the later ``ssim.m`` (2011) does.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if downsample:
        factor = max(1, int(np.floor(min(x.shape) / 256 + 0.5)))
        x, y = ssim_downsample(x, factor), ssim_downsample(y, factor)
    mean_ssim, _ = ssim_and_cs(x, y, data_range=data_range, k1=k1, k2=k2, window_size=window_size, sigma=sigma)
    return mean_ssim


@register()
class SSIM(Metric):
    """SSIM (Wang, Bovik, Sheikh, Simoncelli, IEEE TIP 2004) on MATLAB ``rgb2gray`` of both images."""

    name = "ssim"
    fork_batches = True
    kind = "FR"
    higher_is_better = True
    value_range = (-1.0, 1.0)
    min_size = 11
    conventions = "MATLAB rgb2gray (uint8), Gaussian 11×11 σ1.5, K=(0.01, 0.03), L=255, valid region, no downsampling (ssim_index.m)"

    def compute(self, image: np.ndarray, reference: np.ndarray | None) -> float:
        assert reference is not None
        workspace = thread_workspace()
        gray_image = rgb2gray_in_bands(image, out=workspace.array("gray", image.shape[:2]))
        gray_reference = rgb2gray_in_bands(reference, out=workspace.array("gray_reference", image.shape[:2]))
        return ssim_gray(gray_image, gray_reference)
