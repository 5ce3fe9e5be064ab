"""Helpers shared by the pretrained methods: loading official checkpoints, checking their layout,
image ↔ tensor conversion and tiled inference.

The weights catalogue itself (declare, resolve, verify, add, fetch) is :mod:`metrics.weights`;
this module only adds what network methods need on top of it. It imports torch inside functions
only, because the method registry imports every module of ``models`` on discovery.

Tiling: a network applied to a large image runs on overlapping windows. The image is split into
*cores* (a partition of the image, ``tile`` pixels on a side); each window is its core grown by
``overlap`` pixels of context on every side (clipped at the image border). Outputs are blended
with weights that are 1 on the core, fall linearly to 0 across the inner half of the context and
are 0 on its outer half: no seams, and for a network whose receptive field fits in half the
overlap the blended result equals the untiled one. Memory depends on the tile size, not on the
image size.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from restorebench.metrics.component import meta_parameter_count, parameter_count  # noqa: F401 — re-exported for the networks
from restorebench.metrics.errors import RestoreBenchError
from restorebench.metrics.weights import CATALOGUE, load_state, resolve

if TYPE_CHECKING:  # pragma: no cover
    import torch


class CheckpointLayoutError(RestoreBenchError):
    """A checkpoint whose keys or tensor shapes are not those of the official network."""


# -- checkpoints ----------------------------------------------------------------------------------

def load_checkpoint(key: str) -> Any:
    """Resolve catalogue entry ``key`` (hash-checked; :class:`WeightsUnavailableError` when it is
    missing or damaged) and load it without executing pickled code."""
    path = resolve(key)
    try:
        return load_state(path)
    except Exception as exc:  # a truncated file or a pickle that is not plain tensors
        wf = CATALOGUE[key]
        raise CheckpointLayoutError(
            f"{wf.component}: cannot read {path} as a checkpoint ({type(exc).__name__}: {exc}). "
            f"Get the file again from {wf.url}"
        ) from None


def strip_prefix(state: Mapping[str, Any], prefix: str = "module.") -> dict[str, Any]:
    """Drop ``prefix`` (DataParallel's ``module.``) from the keys that start with it."""
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state.items()}


def layout_problems(state: Mapping[str, Any], expected: Mapping[str, list[int] | tuple[int, ...]]) -> list[str]:
    """Differences between a state dict and an expected ``{key: shape}`` layout."""
    problems = []
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing:
        problems.append(f"{len(missing)} missing key(s), e.g. {', '.join(missing[:3])}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s), e.g. {', '.join(unexpected[:3])}")
    for k, shape in expected.items():
        if k in state and hasattr(state[k], "shape") and list(state[k].shape) != list(shape):
            problems.append(f"{k} has shape {list(state[k].shape)}, expected {list(shape)}")
            if len(problems) > 6:
                break
    return problems


def load_into(network: "torch.nn.Module", state: Mapping[str, Any], *, what: str) -> None:
    """Load ``state`` into ``network`` strictly (after stripping ``module.``), with a message
    naming the checkpoint when its layout is not the network's."""
    state = strip_prefix(state)
    expected = {k: list(v.shape) for k, v in network.state_dict().items()}
    problems = layout_problems(state, expected)
    if problems:
        raise CheckpointLayoutError(f"{what} does not have the official layout: " + "; ".join(problems))
    network.load_state_dict(state, strict=True)


def read_manifest(path: Path) -> dict[str, Any]:
    """A committed layout manifest (``models/<pkg>/manifest.json``)."""
    return json.loads(Path(path).read_text())


# -- images ---------------------------------------------------------------------------------------

def array_to_tensor(array: np.ndarray, device: "torch.device | str" = "cpu") -> "torch.Tensor":
    """``(H, W, C)`` array → float32 ``(1, C, H, W)`` on ``device``, values unchanged."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32))[None].to(device)


def image_to_tensor(image: np.ndarray, device: "torch.device | str" = "cpu") -> "torch.Tensor":
    """uint8 RGB ``(H, W, 3)`` → float32 ``(1, 3, H, W)`` in [0, 1] (``img / 255``)."""
    return array_to_tensor(image, device) / 255.0


def tensor_to_image(tensor: "torch.Tensor") -> np.ndarray:
    """float ``(1, 3, H, W)`` in [0, 1] → uint8 RGB: clamp, ×255, round half to even (numpy's
    ``round``, what the official scripts' ``(x * 255).round()`` does)."""
    array = tensor.detach().float().clamp_(0.0, 1.0).cpu().numpy()[0].transpose(1, 2, 0)
    return np.round(array * 255.0).astype(np.uint8)


# -- tiling ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Span:
    """One axis of a tile: the window ``[start, stop)`` and its core ``[core_start, core_stop)``."""

    start: int
    stop: int
    core_start: int
    core_stop: int


@dataclass(frozen=True)
class Tile:
    rows: Span
    cols: Span


def spans(length: int, tile: int, overlap: int) -> list[Span]:
    """Split ``[0, length)`` into cores of ``tile`` (the last one shorter) grown by ``overlap``.

    ``tile <= 0`` or ``tile >= length`` gives one span covering everything.
    """
    if tile <= 0 or tile >= length:
        return [Span(0, length, 0, length)]
    out = []
    for core_start in range(0, length, tile):
        core_stop = min(core_start + tile, length)
        out.append(Span(max(0, core_start - overlap), min(length, core_stop + overlap), core_start, core_stop))
    return out


def tiles(height: int, width: int, tile: int, overlap: int) -> list[Tile]:
    """All tiles of an image, row-major."""
    return [Tile(r, c) for r in spans(height, tile, overlap) for c in spans(width, tile, overlap)]


def _ramp(span: Span, scale: int) -> np.ndarray:
    """Blending weights along one axis of a window's output (``scale`` × the input size): 1 on
    the core; across the context, falling linearly to 0 at half its width, and 0 on its outer half
    (the pixels nearest the window edge, where the network saw zero padding instead of the image).
    A network whose receptive field is within half the overlap therefore gives exactly the
    untiled result."""
    n = (span.stop - span.start) * scale
    weights = np.ones(n, dtype=np.float32)
    for length, side in (((span.core_start - span.start) * scale, "left"), ((span.stop - span.core_stop) * scale, "right")):
        if not length:
            continue
        distance = np.arange(length, 0, -1, dtype=np.float32)  # distance from the core, outermost first
        ramp = np.clip(1.0 - distance / (length // 2 + 1), 0.0, 1.0)
        if side == "left":
            weights[:length] = ramp
        else:
            weights[n - length:] = ramp[::-1]
    return weights


def blend_weights(t: Tile, scale: int) -> np.ndarray:
    """2-D blending weights ``(h·scale, w·scale)`` of a tile's output."""
    return np.outer(_ramp(t.rows, scale), _ramp(t.cols, scale))


class Blender:
    """Accumulates blended window outputs into an image ``scale`` × the input size."""

    def __init__(self, height: int, width: int, scale: int, channels: int = 3, device: "torch.device | str" = "cpu"):
        import torch

        self.scale = scale
        self.sum = torch.zeros(1, channels, height * scale, width * scale, device=device)
        self.weight = torch.zeros(1, 1, height * scale, width * scale, device=device)

    def add(self, t: Tile, output: "torch.Tensor") -> None:
        import torch

        s = self.scale
        w = torch.from_numpy(blend_weights(t, s)).to(output.device)[None, None]
        rows = slice(t.rows.start * s, t.rows.stop * s)
        cols = slice(t.cols.start * s, t.cols.stop * s)
        self.sum[:, :, rows, cols] += output * w
        self.weight[:, :, rows, cols] += w

    def result(self) -> "torch.Tensor":
        return self.sum / self.weight


def window(x: "torch.Tensor", t: Tile, scale: int = 1) -> "torch.Tensor":
    """The part of ``x`` (``(B, C, H·scale, W·scale)``) under tile ``t``'s window."""
    return x[:, :, t.rows.start * scale:t.rows.stop * scale, t.cols.start * scale:t.cols.stop * scale]


def core_of_window(y: "torch.Tensor", t: Tile, scale: int = 1) -> "torch.Tensor":
    """The core of a window's output ``y`` (``scale`` × the window size)."""
    r0 = (t.rows.core_start - t.rows.start) * scale
    c0 = (t.cols.core_start - t.cols.start) * scale
    r1 = r0 + (t.rows.core_stop - t.rows.core_start) * scale
    c1 = c0 + (t.cols.core_stop - t.cols.core_start) * scale
    return y[:, :, r0:r1, c0:c1]


def tiled(
    fn: Callable[["torch.Tensor"], "torch.Tensor"], x: "torch.Tensor", *, scale: int, tile: int, overlap: int
) -> "torch.Tensor":
    """Apply ``fn`` (``(1, C, h, w)`` → ``(1, C', h·scale, w·scale)``) to ``x`` tile by tile and
    blend; a single call when the image fits in one tile."""
    _, _, h, w = x.shape
    grid = tiles(h, w, tile, overlap)
    if len(grid) == 1:
        return fn(x)
    blender: Blender | None = None
    for t in grid:
        y = fn(window(x, t))
        if blender is None:
            blender = Blender(h, w, scale, channels=y.shape[1], device=y.device)
        blender.add(t, y)
    assert blender is not None
    return blender.result()
