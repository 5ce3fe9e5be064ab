"""Kernel accuracy: how close a method's estimate of the degradation kernel is to the true one.

Blind SR is blind about the kernel ``k`` of ``LR = (k ∗ HR)↓s + n``. Methods that estimate it
(KernelGAN) or assume it (ZSSR: bicubic) expose it through ``Method.estimated_kernel()``; the
builtin LR sets store the true one (``kernel.psf.npy``). Both are PSFs in the dataset convention
(convolution, then every ``s``-th pixel). Where a kernel sits in its array carries no
information a method could know — the official KernelGAN post-processing recentres every
estimate, and the datasets sample at different phases — so kernels are compared **centred**:
each is normalised to sum 1, zero-padded onto a common odd canvas and shifted (cubic spline) so
that its centre of mass is the canvas centre (:func:`centred_pair`). Then, for an estimate ``ê``
and the truth ``t``:

- ``kernel_error = ‖ê − t‖₂ / ‖t‖₂`` — 0 for the true kernel, 1 for an estimate as far from it as
  the zero kernel; lower is better.
- ``kernel_psnr = PSNR(D_ê(HR), D_t(HR))`` with ``D_k(x) = (k ∗ x)`` sampled every ``s`` pixels
  (reflected borders, float, no noise, no quantisation), peak 255 — how differently the two
  kernels degrade the item's own HR image, in dB; higher is better (``inf`` for the true kernel).

:func:`case_rows` turns one case's estimate into score rows (metric names :data:`KERNEL_ERROR`,
:data:`KERNEL_PSNR`) and an artifact row (kind ``kernel``: the estimate saved as ``.npy``).
"""
from __future__ import annotations

import hashlib
import io
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

KERNEL_ERROR = "kernel_error"
KERNEL_PSNR = "kernel_psnr"
ARTIFACT_KIND = "kernel"
# Room around the larger kernel, so that a centring shift loses no mass.
CANVAS_MARGIN = 4


def metric_records() -> list[dict[str, Any]]:
    """Rows of the ``metrics`` table for the two scores (their direction and range), for a
    runner to store beside the spec's metrics: they are scored for every case whose method
    exposes a kernel, whatever the spec lists."""
    version = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    common = {"kind": "kernel", "options": {}, "code_version": version, "weights": {}, "version": version,
              "measures": "kernel"}  # not image quality: kept out of the quality analyses
    return [
        {"name": KERNEL_ERROR, "higher_is_better": False, "range_low": 0.0, "range_high": math.inf,
         "conventions": "‖ê − t‖₂ / ‖t‖₂ of the centred, sum-1 PSFs", **common},
        {"name": KERNEL_PSNR, "higher_is_better": True, "range_low": 0.0, "range_high": math.inf,
         "conventions": "PSNR (peak 255) of the HR image degraded with the centred estimate vs the centred truth", **common},
    ]


def _checked(kernel: np.ndarray, what: str) -> np.ndarray:
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2 or not np.all(np.isfinite(kernel)) or kernel.sum() <= 0:
        raise ValueError(f"{what} kernel must be a finite 2-D array with a positive sum, got shape {kernel.shape}")
    return kernel / kernel.sum()


def centred(kernel: np.ndarray, size: int) -> np.ndarray:
    """``kernel`` (sum 1) zero-padded to ``size×size`` (odd) with its centre of mass moved to the
    middle by a cubic-spline shift; renormalised to sum 1."""
    from scipy.ndimage import center_of_mass, shift

    rows, cols = kernel.shape
    canvas = np.zeros((size, size))
    top, left = (size - rows) // 2, (size - cols) // 2
    canvas[top : top + rows, left : left + cols] = kernel
    moved = shift(canvas, (size - 1) / 2 - np.array(center_of_mass(canvas)), order=3)
    return moved / moved.sum()


def centred_pair(estimate: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both kernels, normalised and :func:`centred` on one odd canvas ``CANVAS_MARGIN`` pixels
    wider (each side) than the larger of them."""
    estimate, truth = _checked(estimate, "the estimated"), _checked(truth, "the true")
    size = max(*estimate.shape, *truth.shape) + 2 * CANVAS_MARGIN
    size += 1 - size % 2
    return centred(estimate, size), centred(truth, size)


def kernel_error(estimate: np.ndarray, truth: np.ndarray) -> float:
    """``‖ê − t‖₂ / ‖t‖₂`` of the centred kernels (see the module docstring)."""
    e, t = centred_pair(estimate, truth)
    return float(np.linalg.norm(e - t) / np.linalg.norm(t))


def degrade(hr: np.ndarray, kernel: np.ndarray, scale: int) -> np.ndarray:
    """``(kernel ∗ hr)`` per channel, reflected borders, sampled every ``scale`` pixels (float)."""
    from scipy.ndimage import convolve

    hr = np.asarray(hr, dtype=np.float64)
    if hr.ndim == 2:
        hr = hr[..., None]
    return convolve(hr, kernel[..., None], mode="reflect")[::scale, ::scale]


def kernel_psnr(estimate: np.ndarray, truth: np.ndarray, hr: np.ndarray, *, scale: int, peak: float = 255.0) -> float:
    """PSNR (dB, peak ``peak``) between ``hr`` degraded with the centred estimate and with the
    centred truth (see the module docstring); ``inf`` when they agree exactly."""
    e, t = centred_pair(estimate, truth)
    diff = degrade(hr, e, scale) - degrade(hr, t, scale)
    mse = float(np.mean(diff * diff))
    return math.inf if mse == 0.0 else 10.0 * math.log10(peak * peak / mse)


def encode_kernel(kernel: np.ndarray) -> bytes:
    """The bytes of ``kernel`` as a float64 ``.npy`` file."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(kernel, dtype=np.float64), allow_pickle=False)
    return buffer.getvalue()


def save_kernel(kernel: np.ndarray, path: Path) -> str:
    """Write ``kernel`` as a float64 ``.npy`` file; return its sha256."""
    data = encode_kernel(kernel)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def case_rows(
    estimate: np.ndarray | None,
    *,
    truth: np.ndarray | None,
    hr: np.ndarray | None,
    scale: int,
    case_id: str,
    run_id: str,
    artifact_path: Path | None,
) -> dict[str, list[dict[str, Any]]]:
    """Rows for one case: ``{"scores": [...], "artifacts": [...]}``, both empty when the method
    estimated no kernel. Never raises for a bad kernel: the rows say what went wrong."""
    if estimate is None:
        return {"scores": [], "artifacts": []}
    artifacts = []
    if artifact_path is not None:
        sha = save_kernel(estimate, artifact_path)
        artifacts.append({"case_id": case_id, "kind": ARTIFACT_KIND, "path": str(artifact_path), "sha256": sha})
    scores = []
    for metric in (KERNEL_ERROR, KERNEL_PSNR):
        row: dict[str, Any] = {"case_id": case_id, "metric": metric, "value": None, "error": None, "run_id": run_id}
        start = time.perf_counter()
        if truth is None:
            row.update(status="not_applicable", error="the dataset stores no true kernel for this item")
        elif metric == KERNEL_PSNR and hr is None:
            row.update(status="not_applicable", error="no reference image to re-degrade")
        else:
            try:
                value = kernel_error(estimate, truth) if metric == KERNEL_ERROR else kernel_psnr(estimate, truth, hr, scale=scale)
                row.update(status="ok", value=value)
            except ValueError as exc:
                row.update(status="failed", error=str(exc))
        row["seconds"] = time.perf_counter() - start
        scores.append(row)
    return {"scores": scores, "artifacts": artifacts}
