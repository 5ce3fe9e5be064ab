"""The ``skvideo`` NIQE variant: the NIQE of the blind-SR study (lower is better).

The blind-SR study (github.com/vsantjr/DL_BlindSR, ``calculate_NIQE.py``) adapted Praful Gupta's
Python NIQE, itself scikit-video's ``skvideo.measure.niqe`` with ``scipy.misc.imresize`` replaced.
It shares the paper's idea (Mittal, Soundararajan, Bovik, IEEE SPL 2013) with the LIVE release
(:mod:`restorebench.metrics.niqe`) but not its numbers; values on natural images are about 8–40.
What it computes, in the study's order:

1. Gray levels of PIL's ``image.convert("LA")``: ``L = (19595 R + 38470 G + 7471 B + 2¹⁵) >> 16``
   (uint8; the LIVE code uses MATLAB ``rgb2gray``).
2. The image must exceed 193 px in both sides; it is cropped to whole 96-px blocks (bottom and
   right rows dropped) and cast to float32.
3. Scale 2: ``Image.fromarray(float32).resize((w2, h2))``, PIL mode ``F``, PIL's default filter
   (bicubic since Pillow 7), with ``h2 = int(0.5·H)``. The study sets ``w2 = h2`` (a square
   resize); see "Shapes" below.
4. At each scale, float32 MSCN coefficients ``(I − μ)/(σ + 1)``: ``μ`` and ``E[I²]`` from
   ``scipy.ndimage.correlate1d`` along rows then columns with **zero padding** (``mode='constant'``)
   and a 7-tap Gaussian built in float32/float64 as ``gen_gauss_window(3, 7/6)`` does;
   ``σ = sqrt(|E[I²] − μ²|)``.
5. Non-overlapping blocks (96 px at scale 1, 48 px at scale 2, row-major), 18 features each from
   five AGGD fits — the coefficients and their products with the in-block circular neighbours
   ``(0,1), (1,0), (1,1), (1,−1)``:

       [α, (βl + βr)/2,  α₁, η₁, βl₁, βr₁,  α₂, η₂, βl₂, βr₂,  α₃, η₃, βl₃, βl₃,  α₄, η₄, βl₄, βl₄]

   — the two diagonal products repeat ``βl`` where the LIVE code has ``βr`` (the model was fitted
   that way, which makes its covariance singular). An AGGD fit: with ``x`` the float32 samples,
   ``σl = sqrt(mean(x² | x < 0))``, ``σr = sqrt(mean(x² | x ≥ 0))`` (float32 means; **zeros count
   on the right**, 0 for an empty side), ``γ̂ = σl/σr`` (∞ when ``σr = 0``), ``r̂ = mean|x|² /
   mean(x²)`` (∞ when ``mean(x²) = 0``), ``R̂ = r̂ (γ̂³ + 1)(γ̂ + 1)/(γ̂² + 1)²``, ``α`` the value of
   ``numpy.arange(0.2, 10, 0.001)`` whose ``Γ(2/α)²/(Γ(1/α)Γ(3/α))`` is nearest ``R̂`` (first
   index on ties, and for a NaN ``R̂``), ``β = σ·sqrt(Γ(1/α)/Γ(3/α))``,
   ``η = (βr − βl)·Γ(2/α)/Γ(1/α)``.
6. ``NIQE = sqrt((μd − μp) · pinv((Σp + Σd)/2) · (μd − μp))`` with ``μd, Σd`` the mean and
   covariance (``numpy.cov``) of the block features, ``μp, Σp`` scikit-video's
   ``niqe_image_params.mat`` and ``scipy.linalg.pinv``.

Precision, as the study ran it (NumPy 1.x, spring 2023): the image statistics are float32 with
NumPy's own float32 reductions; every scalar after them is float64, because NumPy 1.x promoted a
float32 scalar combined with a Python number (``np.float32(g) + 1``, ``-0.5 * np.float32(k²)``)
to float64 — NumPy 2 keeps float32 there (NEP 50). The scalars are computed here as Python floats
from the float32 values, which is NumPy 1.x's arithmetic on any NumPy version.

Shapes. The study's square resize makes scale 2 hold ``(H/96)²`` blocks against
``(H/96)·(W/96)`` at scale 1, so its function fails (``numpy.hstack`` of unequal row counts)
unless the cropped image is square. Here scale 2 is ``(W/2, H/2)`` — the same as the study's
``(H/2, H/2)`` on every image the study's function can score, and what scikit-video's original
``imresize(img, 0.5)`` did on the others. A non-square image is therefore scored as scikit-video
would score it; the study itself never reported such a value (its outputs were square).
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
from scipy.ndimage import correlate1d
from scipy.special import gamma as gamma_fn

from restorebench.metrics.errors import ImageTooSmallError

DATA_DIR = Path(__file__).parent / "data" / "niqe_skvideo"
BLOCK_SIZE = 96
# calculate_NIQE.py asserts M > patch_size*2 + 1 and N > patch_size*2 + 1 on the gray image.
MIN_SIDE = 2 * BLOCK_SIZE + 2
# paired_product's np.roll shifts (rows, columns): horizontal, vertical, two diagonals.
SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


@functools.cache
def pristine_model() -> tuple[np.ndarray, np.ndarray]:
    """``(pop_mu, pop_cov)`` of scikit-video's ``niqe_image_params.mat`` (36, 36×36)."""
    with np.load(DATA_DIR / "niqe_image_params.npz") as params:
        mu = np.ascontiguousarray(params["pop_mu"], dtype=np.float64).ravel()
        cov = np.ascontiguousarray(params["pop_cov"], dtype=np.float64)
    mu.setflags(write=False)
    cov.setflags(write=False)
    return mu, cov


@functools.cache
def shape_table() -> tuple[np.ndarray, np.ndarray]:
    """``(α grid, Γ(2/α)²/(Γ(1/α)Γ(3/α)))`` on ``numpy.arange(0.2, 10, 0.001)`` — the grid of the
    Python code: 9800 values ``0.2 + k·0.001`` up to 9.999 (MATLAB's ``0.2:0.001:10`` has 9801,
    ends exactly at 10 and differs in the last ulp elsewhere)."""
    alphas = np.arange(0.2, 10, 0.001)
    numerator = gamma_fn(2.0 / alphas)
    ratio = numerator * numerator / (gamma_fn(1.0 / alphas) * gamma_fn(3.0 / alphas))
    alphas.setflags(write=False)
    ratio.setflags(write=False)
    return alphas, ratio


@functools.cache
def gaussian_window() -> np.ndarray:
    """``gen_gauss_window(3, 7/6)`` as NumPy 1.x computed it: the variance squared in float32,
    each tap ``exp(−k²/2σ²)`` in float64, normalised by ``1 + 2(t₁ + t₂ + t₃)`` summed in order."""
    variance = np.float32(7.0 / 6.0) * np.float32(7.0 / 6.0)  # float32 × float32 stays float32
    taps = [float(np.exp(-0.5 * (k * k) / float(variance))) for k in (1, 2, 3)]
    total = 1.0
    for tap in taps:
        total += 2.0 * tap
    window = np.array(taps[::-1] + [1.0] + taps) / total
    window.setflags(write=False)
    return window


def gray_levels(image: np.ndarray) -> np.ndarray:
    """PIL ``Image.fromarray(rgb).convert("LA")``'s luminance of a uint8 RGB image (uint8)."""
    from PIL import Image

    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).convert("LA"))[..., 0]


def half_size(image: np.ndarray) -> np.ndarray:
    """Scale 2: PIL bicubic resize of the float32 image (mode ``F``) to ``(W//2, H//2)``."""
    from PIL import Image

    h, w = image.shape
    return np.asarray(Image.fromarray(image).resize((w // 2, h // 2), Image.Resampling.BICUBIC))


def mscn_float32(image: np.ndarray) -> np.ndarray:
    """float32 ``(I − μ)/(σ + 1)`` with zero-padded separable Gaussian statistics."""
    window = gaussian_window()
    image = np.asarray(image, dtype=np.float32)
    mu = correlate1d(image, window, axis=0, output=np.float32, mode="constant")
    mu = correlate1d(mu, window, axis=1, output=np.float32, mode="constant")
    energy = correlate1d(image * image, window, axis=0, output=np.float32, mode="constant")
    energy = correlate1d(energy, window, axis=1, output=np.float32, mode="constant")
    sigma = np.sqrt(np.abs(energy - mu * mu))
    return (image - mu) / (sigma + np.float32(1.0))


def aggd(samples: np.ndarray) -> tuple[float, float, float, float]:
    """``(α, η, βl, βr)`` of one float32 sample set, with the study's precision and edge cases."""
    x = samples.ravel()
    squares = x * x
    left, right = squares[x < 0], squares[x >= 0]
    zero = np.float32(0.0)
    left_std = np.sqrt(np.mean(left)) if left.size else zero  # float32
    right_std = np.sqrt(np.mean(right)) if right.size else zero
    g = float(left_std / right_std) if right_std != 0 else math.inf  # a float32 quotient
    mean_square = float(np.mean(squares))
    r_hat = float(np.mean(np.abs(x))) ** 2 / mean_square if mean_square != 0 else math.inf
    r_norm = r_hat * (((math.pow(g, 3) + 1) * (g + 1)) / math.pow(math.pow(g, 2) + 1, 2))
    alphas, table = shape_table()
    alpha = float(alphas[np.argmin((table - r_norm) ** 2)])  # NaN anywhere → index 0
    gamma1, gamma2, gamma3 = (float(gamma_fn(k / alpha)) for k in (1.0, 2.0, 3.0))
    scale = math.sqrt(gamma1) / math.sqrt(gamma3)
    beta_l, beta_r = scale * float(left_std), scale * float(right_std)
    return alpha, (beta_r - beta_l) * (gamma2 / gamma1), beta_l, beta_r


def block_features(block: np.ndarray) -> list[float]:
    """The 18 features of one float32 MSCN block (``βl`` repeated for the diagonals)."""
    alpha, _, beta_l, beta_r = aggd(block)
    features = [alpha, (beta_l + beta_r) / 2.0]
    for k, shift in enumerate(SHIFTS):
        product = np.roll(block, shift, axis=(0, 1)) * block
        alpha_k, eta_k, left_k, right_k = aggd(product)
        features += [alpha_k, eta_k, left_k, left_k if k >= 2 else right_k]
    return features


def scale_features(coefficients: np.ndarray, size: int) -> np.ndarray:
    """Block features ``(n, 18)`` of an MSCN map, blocks of ``size`` px in row-major order."""
    h, w = coefficients.shape
    rows = [
        block_features(np.ascontiguousarray(coefficients[top : top + size, left : left + size]))
        for top in range(0, h - size + 1, size)
        for left in range(0, w - size + 1, size)
    ]
    return np.array(rows, dtype=np.float64)


def niqe_features(gray: np.ndarray) -> np.ndarray:
    """Block features at both scales ``(n, 36)`` of a 2-D gray image (0..255)."""
    h, w = gray.shape
    image = np.asarray(gray)[: h - h % BLOCK_SIZE, : w - w % BLOCK_SIZE].astype(np.float32)
    first = scale_features(mscn_float32(image), BLOCK_SIZE)
    second = scale_features(mscn_float32(half_size(image)), BLOCK_SIZE // 2)
    return np.hstack((first, second))


def niqe_distance(features: np.ndarray) -> float:
    """``sqrt((μd − μp) · pinv((Σp + Σd)/2) · (μd − μp))`` with scikit-video's pristine model."""
    from scipy.linalg import pinv  # imported on use: it costs worker processes ~0.1 s at start-up

    pop_mu, pop_cov = pristine_model()
    difference = np.mean(features, axis=0) - pop_mu
    inverse = pinv((pop_cov + np.cov(features.T)) / 2.0)
    return float(np.sqrt(np.dot(np.dot(difference, inverse), difference)))


def niqe_skvideo(image: np.ndarray) -> float:
    """The study's NIQE of a uint8 RGB image (both sides > 193 px)."""
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ImageTooSmallError(f"the skvideo NIQE needs both sides above {MIN_SIDE - 1} px, got {w}×{h}")
    return niqe_distance(niqe_features(gray_levels(image)))
