"""PIQE: Perception-based Image Quality Evaluator (no reference; lower is better, 0..100).

Venkatanath N, Praneeth D, Maruthi Chandrasekhar Bh, Channappayya, Medasani, "Blind image
quality evaluation using perception based features", Twenty First National Conference on
Communications (NCC), 2015. Conventions of MATLAB's ``piqe`` (Image Processing Toolbox):

1. The RGB image is padded (replicate, after) to whole 16×16 blocks; ``I = rgb2gray`` (uint8) as
   doubles 0..255; MSCN ``Î = (I − μ)/(σ + 1)`` with a 7×7 Gaussian (σ 7/6, replicate border).
2. A block is *active* when its sample variance ``v = var(Î_block) > 0.1``; ``N`` = active count.
3. An active block is *impaired* (noticeable artifact) when any 6-pixel run along any of its four
   edges has sample std ``< 0.1``; it is *noisy* when ``sqrt(v) > 2β`` with
   ``β = |sqrt(v) − r| / max(sqrt(v), r)``, ``r = std(centre) / std(surround)`` (centre: block
   columns 8 and 9; surround: the block without columns 8 and 10 — MATLAB deletes column 8, then
   column 9 of what remains; ``r`` is 0 when it is NaN).
4. ``PIQE = 100 · (1 + Σ_active [impaired·(1 − v) + noisy·v]) / (1 + N)``; a uniform image
   (no active block) scores 100.
"""
from __future__ import annotations

import numpy as np

from restorebench.metrics.base import Metric, register
from restorebench.metrics.matlab import padarray
from restorebench.metrics.nss import mscn, rgb2gray_in_bands
from restorebench.metrics.parallel import Workspace, row_grain, run_in_bands, thread_workspace

BLOCK_SIZE = 16
ACTIVITY_THRESHOLD = 0.1
IMPAIRED_THRESHOLD = 0.1
SEGMENT_LENGTH = 6


def impaired_blocks(blocks: np.ndarray, *, threshold: float = IMPAIRED_THRESHOLD) -> np.ndarray:
    """``noticeDistCriterion``: any 6-pixel run on the top, right, bottom or left edge with
    sample std below ``threshold``. ``blocks``: ``(n, B, B)`` → bool ``(n,)``.

    The runs' two-pass std (``sqrt(Σ(x − x̄)²/5)``, as MATLAB's ``std``) from the six shifted
    views of the edges: small arrays, no window copies.
    """
    edges = np.stack([blocks[:, 0, :], blocks[:, :, -1], blocks[:, -1, :], blocks[:, :, 0]], axis=1)
    runs = edges.shape[-1] - SEGMENT_LENGTH + 1
    members = [edges[..., k : k + runs] for k in range(SEGMENT_LENGTH)]  # each (n, 4, runs)
    mean = sum(members[1:], members[0].copy()) / SEGMENT_LENGTH
    squares = sum(((member - mean) ** 2 for member in members[1:]), (members[0] - mean) ** 2)
    std = np.sqrt(squares / (SEGMENT_LENGTH - 1))
    return (std < threshold).any(axis=(1, 2))


def centre_surround_ratio(blocks: np.ndarray, *, scratch: np.ndarray | None = None) -> np.ndarray:
    """``centerSurDev``: ``std(centre) / std(surround)`` per block, 0 where it is NaN.

    Centre: block columns 8 and 9 (1-based). Surround: MATLAB runs ``Block(:, 8) = []`` and then
    ``Block(:, 9) = []`` on the already shortened block, so it drops original columns 8 and 10
    and keeps column 9 — reproduced here. Both stds are two-pass (deviations from the exact
    mean); the surround's sums are the block's less the two dropped columns'. ``scratch``: an
    array shaped like ``blocks``.
    """
    size = blocks.shape[-1]
    first = size // 2 - 1  # 0-based column of MATLAB's (15 + 1)/2 = 8
    dropped = (first, first + 2)
    centre = blocks[:, :, first : first + 2]
    centre_mean = centre.sum(axis=(1, 2)) / centre[0].size
    centre_squares = ((centre - centre_mean[:, None, None]) ** 2).sum(axis=(1, 2))
    surround_count = size * (size - 2)
    surround_sum = blocks.sum(axis=(1, 2)) - blocks[:, :, dropped].sum(axis=(1, 2))
    surround_mean = surround_sum / surround_count
    deviation = np.subtract(blocks, surround_mean[:, None, None], out=scratch)
    np.multiply(deviation, deviation, out=deviation)
    surround_squares = deviation.sum(axis=(1, 2)) - deviation[:, :, dropped].sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.sqrt(centre_squares / (centre[0].size - 1)) / np.sqrt(surround_squares / (surround_count - 1))
    return np.where(np.isnan(ratio), 0.0, ratio)


def noisy_blocks(blocks: np.ndarray, variance: np.ndarray, *, scratch: np.ndarray | None = None) -> np.ndarray:
    """``noiseCriterion``: ``sqrt(v) > 2β`` with ``β = |sqrt(v) − r| / max(sqrt(v), r)`` and
    ``r`` the :func:`centre_surround_ratio`. Bool ``(n,)``."""
    sigma = np.sqrt(variance)
    ratio = centre_surround_ratio(blocks, scratch=scratch)
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = np.abs(sigma - ratio) / np.maximum(sigma, ratio)
        return sigma > 2 * beta


def piqe_gray(gray: np.ndarray, *, workspace: Workspace | None = None) -> float:
    """PIQE of a gray image (0..255 values) whose sides are multiples of 16.

    Rows of blocks run in bands on the call's threads: each block's variance and tests are
    computed alike in any band, and the final sums run over all blocks at once.
    """
    workspace = Workspace() if workspace is None else workspace
    normalised, _ = mscn(np.asarray(gray, dtype=np.float64), padding="replicate", workspace=workspace)
    rows, cols = normalised.shape[0] // BLOCK_SIZE, normalised.shape[1] // BLOCK_SIZE
    n = rows * cols
    blocks = workspace.array("blocks", (n, BLOCK_SIZE, BLOCK_SIZE))
    scratch = workspace.array("deviation", blocks.shape)
    variance = workspace.array("piqe_variance", (n,))
    impaired = workspace.array("piqe_impaired", (n,), dtype=bool)
    noisy = workspace.array("piqe_noisy", (n,), dtype=bool)

    def block_rows(band: int, start: int, stop: int) -> None:
        first, last = start * cols, stop * cols
        own = blocks[first:last]
        own.reshape(stop - start, cols, BLOCK_SIZE, BLOCK_SIZE)[...] = normalised[
            start * BLOCK_SIZE : stop * BLOCK_SIZE
        ].reshape(stop - start, BLOCK_SIZE, cols, BLOCK_SIZE).transpose(0, 2, 1, 3)
        # Two-pass sample variance per block, as MATLAB's var: Σ(x − x̄)² / (N − 1).
        flat = own.reshape(last - first, -1)
        deviation = scratch[first:last].reshape(last - first, -1)
        np.subtract(flat, flat.mean(axis=1, keepdims=True), out=deviation)
        variance[first:last] = np.einsum("ij,ij->i", deviation, deviation) / (flat.shape[1] - 1)
        if (variance[first:last] > ACTIVITY_THRESHOLD).any():
            # Both tests on every block of the band (no copy of the active ones); inactive blocks
            # are multiplied by 0 below.
            impaired[first:last] = impaired_blocks(own)
            noisy[first:last] = noisy_blocks(own, variance[first:last], scratch=scratch[first:last])
        else:
            impaired[first:last] = noisy[first:last] = False

    # At least two rows of blocks a band: einsum sums a lone block in another order than a batch.
    run_in_bands(block_rows, rows, grain=max(2, -(-row_grain(normalised.shape[1]) // BLOCK_SIZE)))
    active = variance > ACTIVITY_THRESHOLD
    if not active.any():
        return 100.0
    distortion = (active * (impaired * (1.0 - variance) + noisy * variance)).sum()
    return float(100.0 * (distortion + 1.0) / (active.sum() + 1.0))


@register()
class PIQE(Metric):
    """PIQE as MATLAB's ``piqe`` computes it (16×16 blocks, MSCN, activity/artifact/noise tests)."""

    name = "piqe"
    fork_batches = True
    kind = "NR"
    higher_is_better = False
    value_range = (0.0, 100.0)
    # One whole 16×16 block; MATLAB would pad anything smaller with copies of its last row/column.
    min_size = BLOCK_SIZE
    conventions = (
        "RGB padded (replicate, post) to 16-px blocks; MATLAB rgb2gray (uint8) → double 0..255; "
        "7×7 Gaussian σ 7/6 replicate MSCN; sample variances/stds (MATLAB piqe)"
    )

    def compute(self, image: np.ndarray, reference: np.ndarray | None) -> float:
        h, w = image.shape[:2]
        pad = (-h % BLOCK_SIZE, -w % BLOCK_SIZE)
        if any(pad):
            image = padarray(image, pad, padding="replicate", direction="post")
        workspace = thread_workspace()
        gray = rgb2gray_in_bands(image, out=workspace.array("gray", image.shape[:2]))
        return piqe_gray(gray, workspace=workspace)
