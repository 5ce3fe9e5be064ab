"""BRISQUE: Blind/Referenceless Image Spatial Quality Evaluator (no reference; lower is better).

Mittal, Moorthy, Bovik, "No-reference image quality assessment in the spatial domain", IEEE
Transactions on Image Processing 21(12), 2012. Conventions of the authors' LIVE release
(``brisquescore.m`` → ``brisque_feature.m`` → ``svm-scale -r allrange`` → ``svm-predict``):

1. ``I = double(rgb2gray(uint8 image))``.
2. Two scales (scale 2 is ``imresize(I, 0.5)``, bicubic with antialiasing, on doubles); at each,
   MSCN coefficients ``Î = (I − μ)/(σ + 1)`` with the normalised 7×7 Gaussian (σ 7/6) applied by
   ``filter2(…, 'same')`` (zero padding), then 18 features: the GGD fit of ``Î`` →
   ``[α, σ²]``, and for each circular shift ``(0,1), (1,0), (1,1), (−1,1)`` of the whole image
   the AGGD fit of ``Î·shift(Î)`` → ``[α, η, σl², σr²]`` with
   ``η = (σr − σl) · Γ(2/α)/Γ(1/α) · sqrt(Γ(1/α)/Γ(3/α))``.
3. The 36 features are written as text with ``%f`` (6 decimals), scaled by LIBSVM's
   ``svm-scale`` to ``[−1, 1]`` with the LIVE range table (``x' = l + (u − l)(x − min)/(max − min)``,
   exactly ``l``/``u`` at the ends), written with ``%g`` (6 significant digits), and scored by the
   LIVE ε-SVR with an RBF kernel:

       BRISQUE = Σᵢ cᵢ · exp(−γ ‖x' − svᵢ‖²) − ρ        (γ = 0.05, 774 support vectors)

   The two text round trips change the score by up to ~10⁻³ (small features such as σ² lose
   digits in ``%f``); ``libsvm_text_io=False`` skips them.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.special import gamma as gamma_fn

from restorebench.metrics.base import Metric, register
from restorebench.metrics.errors import InvalidImageError
from restorebench.metrics.matlab import imresize
from restorebench.metrics.nss import (
    aggd_from_moments,
    circular_pair_product_rows,
    ggd_from_moments,
    mscn,
    rgb2gray_in_bands,
    signed_moments,
)
from restorebench.metrics.parallel import Workspace, band_bounds, row_grain, run_tasks, thread_workspace

DATA_DIR = Path(__file__).parent / "data" / "brisque_live"
# Whole-image circular shifts of brisque_feature.m, as MATLAB circshift [rows cols] offsets.
BRISQUE_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))


@dataclass(frozen=True)
class SVRModel:
    """A LIBSVM ε-SVR with an RBF kernel, as read from a LIBSVM model file."""

    gamma: float
    rho: float
    coefficients: np.ndarray  # (n_sv,)
    support_vectors: np.ndarray  # (n_sv, n_features), dense (absent sparse entries are 0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``f(x) = Σᵢ cᵢ exp(−γ ‖x − svᵢ‖²) − ρ`` for each row of ``x`` (or for one vector)."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        # Direct squared differences, as LIBSVM's k_function computes them (no |x|²+|y|²−2x·y
        # expansion, which would cancel badly).
        diff = x[:, None, :] - self.support_vectors[None, :, :]
        kernel = np.exp(-self.gamma * np.einsum("ijk,ijk->ij", diff, diff))
        values = kernel @ self.coefficients - self.rho
        return values if values.size > 1 else values.reshape(())


def parse_libsvm_model(text: str) -> SVRModel:
    """Parse a LIBSVM model file (``svm_type epsilon_svr``, ``kernel_type rbf``)."""
    lines = text.splitlines()
    header: dict[str, str] = {}
    start = None
    for number, line in enumerate(lines):
        if line.strip() == "SV":
            start = number + 1
            break
        key, _, value = line.partition(" ")
        header[key] = value.strip()
    if start is None:
        raise ValueError("not a LIBSVM model: no 'SV' line")
    if header.get("svm_type") != "epsilon_svr" or header.get("kernel_type") != "rbf":
        raise ValueError(
            f"expected an epsilon_svr model with an rbf kernel, got {header.get('svm_type')}/{header.get('kernel_type')}"
        )
    rows = [line.split() for line in lines[start:] if line.strip()]
    n_features = max(int(item.split(":")[0]) for row in rows for item in row[1:])
    coefficients = np.empty(len(rows))
    vectors = np.zeros((len(rows), n_features))
    for i, row in enumerate(rows):
        coefficients[i] = float(row[0])
        for item in row[1:]:
            index, value = item.split(":")
            vectors[i, int(index) - 1] = float(value)
    if "total_sv" in header and int(header["total_sv"]) != len(rows):
        raise ValueError(f"model says {header['total_sv']} support vectors, file has {len(rows)}")
    return SVRModel(float(header["gamma"]), float(header["rho"]), coefficients, vectors)


@dataclass(frozen=True)
class FeatureRanges:
    """A LIBSVM ``svm-scale`` range file: target ``[lower, upper]`` and per-feature min/max."""

    lower: float
    upper: float
    minimum: np.ndarray
    maximum: np.ndarray

    def scale(self, features: np.ndarray) -> np.ndarray:
        """``svm-scale``: ``l + (u − l)(x − min)/(max − min)``, exactly ``l`` at ``x == min`` and
        ``u`` at ``x == max``; a feature with ``min == max`` is dropped by svm-scale (→ 0)."""
        x = np.asarray(features, dtype=np.float64)
        span = self.maximum - self.minimum
        with np.errstate(invalid="ignore", divide="ignore"):
            scaled = self.lower + (self.upper - self.lower) * (x - self.minimum) / span
        scaled = np.where(x == self.minimum, self.lower, scaled)
        scaled = np.where(x == self.maximum, self.upper, scaled)
        return np.where(span == 0, 0.0, scaled)


def parse_libsvm_ranges(text: str) -> FeatureRanges:
    """Parse an ``svm-scale -s`` range file (``x`` line, ``lower upper`` line, ``index min max``)."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != ["x"]:
        raise ValueError("not a LIBSVM feature range file (first line must be 'x')")
    lower, upper = float(lines[1][0]), float(lines[1][1])
    entries = {int(row[0]): (float(row[1]), float(row[2])) for row in lines[2:]}
    n = max(entries)
    minimum = np.array([entries.get(i + 1, (0.0, 0.0))[0] for i in range(n)])
    maximum = np.array([entries.get(i + 1, (0.0, 0.0))[1] for i in range(n)])
    return FeatureRanges(lower, upper, minimum, maximum)


@functools.cache
def live_model() -> tuple[SVRModel, FeatureRanges]:
    """The LIVE BRISQUE SVR (``allmodel``) and its scaling ranges (``allrange``), read once."""
    model = parse_libsvm_model((DATA_DIR / "allmodel").read_text())
    ranges = parse_libsvm_ranges((DATA_DIR / "allrange").read_text())
    return model, ranges


#: Fewest pixels per band of the feature statistics. Bands are cut by image size alone, never by
#: the thread count: each band's sums are added in band order, so the features are bit-identical
#: with any number of threads. (Smaller bands lose more to numpy's per-call cost than they gain.)
STATISTICS_BAND_PIXELS = 65536


def _series_moments(coefficients: np.ndarray, series: int, start: int, stop: int, has_zeros: bool) -> np.ndarray:
    """:func:`signed_moments` (as a ``(6,)`` array) of rows ``start:stop`` of series ``series``:
    0 is ``Î`` itself (the GGD's samples), ``k ≥ 1`` its pair product with shift ``k − 1``."""
    scratch = thread_workspace()
    w = coefficients.shape[1]
    if series == 0:
        samples = coefficients[start:stop].reshape(-1)
    else:
        samples = circular_pair_product_rows(coefficients, BRISQUE_SHIFTS[series - 1], start, stop,
                                             out=scratch.array("brisque_pair", (stop - start, w))).reshape(-1)
    negative = scratch.array("brisque_negative", samples.shape)
    return np.array(signed_moments(samples, scratch=negative, has_zeros=has_zeros), dtype=np.float64)


def scale_features(gray: np.ndarray, *, workspace: Workspace | None = None) -> np.ndarray:
    """The 18 BRISQUE features of one scale (``brisque_feature.m`` loop body).

    After the MSCN coefficients, every feature is a function of six sums over the image (of
    ``Î`` for the GGD, of each pair product for the AGGDs; :func:`signed_moments`). Each series
    is summed in bands of rows (:data:`STATISTICS_BAND_PIXELS`), series and bands as tasks on the
    call's threads, and a series' band sums added in band order.
    """
    workspace = Workspace() if workspace is None else workspace
    coefficients, _ = mscn(gray, padding="zero", workspace=workspace)
    # A product is 0 only where a factor is: without zero coefficients no pair count is needed.
    has_zeros = np.count_nonzero(coefficients) < coefficients.size
    h, w = coefficients.shape
    bands = band_bounds(h, threads=max(1, (h * w) // STATISTICS_BAND_PIXELS))
    series = range(1 + len(BRISQUE_SHIFTS))
    moments = run_tasks([functools.partial(_series_moments, coefficients, k, start, stop, has_zeros)
                         for k in series for start, stop in bands])
    by_series = [functools.reduce(np.add, moments[k * len(bands) : (k + 1) * len(bands)]) for k in series]
    n, sum_sq, sum_sq_neg, count_neg, count_pos, sum_abs = np.array(by_series).T
    ggd_alpha, ggd_sigma = ggd_from_moments(n[0], sum_sq[0], sum_abs[0])
    alpha, left_std, right_std = aggd_from_moments(n[1:], sum_sq[1:], sum_sq_neg[1:], count_neg[1:], count_pos[1:], sum_abs[1:])
    with np.errstate(invalid="ignore"):
        eta = (
            (right_std - left_std)
            * (gamma_fn(2 / alpha) / gamma_fn(1 / alpha))
            * (np.sqrt(gamma_fn(1 / alpha)) / np.sqrt(gamma_fn(3 / alpha)))
        )
    columns = [float(ggd_alpha), float(ggd_sigma) ** 2]
    for k in range(len(BRISQUE_SHIFTS)):
        columns += [alpha[k], eta[k], left_std[k] ** 2, right_std[k] ** 2]
    return np.array(columns, dtype=np.float64)


def brisque_features(gray: np.ndarray, *, workspace: Workspace | None = None) -> np.ndarray:
    """The 36 BRISQUE features of a float64 gray image (0..255 scale): two scales of 18."""
    image = np.asarray(gray, dtype=np.float64)
    first = scale_features(image, workspace=workspace)
    second = scale_features(imresize(image, 0.5), workspace=workspace)
    return np.concatenate([first, second])


def _through_text(values: np.ndarray, spec: str) -> np.ndarray:
    """Write each value with printf format ``spec`` and read it back, as the text files between
    MATLAB and the LIBSVM tools do (Python's ``%f``/``%g`` round exactly as C's)."""
    return np.array([float(format(float(v), spec)) for v in values])


def brisque_score(features: np.ndarray, *, libsvm_text_io: bool = True) -> float:
    """SVR score of the 36 raw features with the LIVE model and ranges."""
    model, ranges = live_model()
    x = _through_text(features, "f") if libsvm_text_io else np.asarray(features, dtype=np.float64)
    scaled = ranges.scale(x)
    if libsvm_text_io:
        scaled = _through_text(scaled, "g")
    return float(model.predict(scaled))


def brisque_gray(gray: np.ndarray, *, libsvm_text_io: bool = True, workspace: Workspace | None = None) -> float:
    """BRISQUE of a gray image (float64, 0..255 scale)."""
    return brisque_score(brisque_features(gray, workspace=workspace), libsvm_text_io=libsvm_text_io)


@register()
class BRISQUE(Metric):
    """BRISQUE with the LIVE SVR and range table, exactly as the authors' ``brisquescore.m``."""

    name = "brisque"
    fork_batches = True
    data_files = ("data/brisque_live/allmodel", "data/brisque_live/allrange")
    kind = "NR"
    higher_is_better = False
    # The SVR was trained on DMOS (0..100) but its output is not clipped: slightly negative
    # values occur on pristine images and values above 100 on extreme distortions.
    value_range = (-math.inf, math.inf)
    # Scale 2 must still hold a full 7×7 window and shifted pairs: 16 px → 8 px at scale 2.
    min_size = 16
    conventions = (
        "MATLAB rgb2gray (uint8) → double; 2 scales (imresize 0.5 bicubic+antialiasing); 7×7 Gaussian "
        "σ 7/6, zero padding (filter2 'same'); LIVE allrange scaling + ε-SVR RBF γ 0.05 (allmodel); "
        "LIBSVM text round trip (%f features, %g scaled)"
    )

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        libsvm_text_io: bool = Field(True, description="round features through LIBSVM's text files (%f, %g) as brisquescore.m does")

    def compute(self, image: np.ndarray, reference: np.ndarray | None) -> float:
        workspace = thread_workspace()
        gray = rgb2gray_in_bands(image, out=workspace.array("gray", image.shape[:2]))
        features = brisque_features(gray, workspace=workspace)
        if np.isnan(features).any():
            raise InvalidImageError(
                "metric 'brisque' is undefined on this image: its MSCN coefficients have no "
                "negative or no positive values (a flat image), so the AGGD fit is NaN"
            )
        return brisque_score(features, libsvm_text_io=self.params.libsvm_text_io)
