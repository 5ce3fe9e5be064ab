"""Pixel conventions and resizing, as the official SinGAN code has them.

The official code keeps images as float tensors in ``[-1, 1]`` (``norm(x / 255)``, clamped), and
its ``imresize`` does three things: convert to uint8 by *truncation*
(``uint8(255 · denorm(x))``), resize the uint8 values in floating point with Shocher's port of
MATLAB ``imresize`` (bicubic, antialiasing when shrinking, no rounding), then map back to
``[-1, 1]`` with a clamp. The truncation and the clamp are part of what the generators see
between scales, so we keep both:

- :func:`to_levels` truncates ``255 · (x + 1) / 2`` like the official ``torch2uint8``, with a
  guard of 1e-3 of a level: the official float32 round trip turns 63 of the 256 exact integer
  levels into the level below (e.g. 1 → 0.99999994 → 0) at every resize, an artefact we do not
  reproduce;
- the resize itself is :func:`metrics.matlab.imresize` on float64 levels (MATLAB semantics, the
  ones Shocher's port implements; no rounding for float input);
- inside the training loop the same linear operator is applied as two small matrices on the
  device (:class:`Upsampler`), built once per scale pair by resizing an identity matrix.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from restorebench.metrics.matlab import imresize

LEVEL_GUARD = 1e-3


# -- numpy, H×W×3 -------------------------------------------------------------------------------

def to_signed(levels: np.ndarray) -> np.ndarray:
    """``[0, 255]`` levels (any float or uint8) → float32 in ``[-1, 1]``: ``clamp(2·(v/255) − 1)``."""
    return np.clip((np.asarray(levels, dtype=np.float64) / 255.0 - 0.5) * 2.0, -1.0, 1.0).astype(np.float32)


def to_levels(signed: np.ndarray) -> np.ndarray:
    """``[-1, 1]`` → truncated uint8 levels as float64 (the official ``torch2uint8``)."""
    unit = np.clip((np.asarray(signed, dtype=np.float64) + 1.0) / 2.0, 0.0, 1.0)
    return np.floor(unit * 255.0 + LEVEL_GUARD)


def official_resize(signed: np.ndarray, factor: float) -> np.ndarray:
    """The official ``imresize(x, factor)`` on an ``(H, W, 3)`` image in ``[-1, 1]``."""
    return to_signed(imresize(to_levels(signed), factor))


def to_uint8(signed: np.ndarray) -> np.ndarray:
    """``[-1, 1]`` → uint8, rounded to the nearest level (the official saves via matplotlib,
    which truncates; rounding is the unbiased choice for scoring)."""
    unit = np.clip((np.asarray(signed, dtype=np.float64) + 1.0) / 2.0, 0.0, 1.0)
    return np.floor(unit * 255.0 + 0.5).astype(np.uint8)


def crop(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Top-left crop to ``shape`` (the official ``x[:, :, :H, :W]`` after every resize)."""
    return image[: shape[0], : shape[1]]


# -- torch, B×3×H×W -------------------------------------------------------------------------------

def resize_matrix(length: int, factor: float) -> np.ndarray:
    """The ``(⌈length · factor⌉, length)`` matrix ``A`` with ``imresize`` along one axis = ``A @ x``.

    Obtained by resizing an identity matrix held as ``length`` channels of a ``length × 1``
    image, so that it is exactly the operator of :func:`metrics.matlab.imresize`.
    """
    identity = np.eye(length, dtype=np.float64)[:, None, :]
    return imresize(identity, factor)[:, 0, :]


def tensor_to_levels(x: torch.Tensor) -> torch.Tensor:
    """Torch version of :func:`to_levels`."""
    return torch.floor(((x + 1.0) * 0.5).clamp_(0.0, 1.0).mul_(255.0).add_(LEVEL_GUARD))


def tensor_to_signed(levels: torch.Tensor) -> torch.Tensor:
    """Torch version of :func:`to_signed`."""
    return levels.mul(2.0 / 255.0).sub_(1.0).clamp_(-1.0, 1.0)


@dataclass(frozen=True)
class Upsampler:
    """The official step from scale n to n+1: ``imresize(x, 1/r)`` then a crop to scale n+1.

    ``rows`` and ``cols`` are the cropped one-axis operators, so that the result is
    ``signed(rows @ levels(x) @ colsᵀ)`` for a batch ``x`` of shape ``(B, 3, H_n, W_n)``.
    """

    rows: torch.Tensor
    cols_t: torch.Tensor

    @classmethod
    def build(cls, source: tuple[int, int], target: tuple[int, int], factor: float, *, device: torch.device) -> "Upsampler":
        rows = resize_matrix(source[0], factor)
        cols = resize_matrix(source[1], factor)
        if rows.shape[0] < target[0] or cols.shape[0] < target[1]:
            raise ValueError(f"upsampling {source} by {factor} cannot cover {target}")
        as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device=device, dtype=torch.get_default_dtype())  # noqa: E731
        return cls(rows=as_tensor(rows[: target[0]]), cols_t=as_tensor(cols[: target[1]].T))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        levels = tensor_to_levels(x)
        return tensor_to_signed(torch.matmul(torch.matmul(self.rows, levels), self.cols_t))


def upsamplers(shapes: tuple[tuple[int, int], ...], scale_factor: float, *, device: torch.device) -> list[Upsampler]:
    """One :class:`Upsampler` per consecutive pair of pyramid scales."""
    return [Upsampler.build(a, b, 1.0 / scale_factor, device=device) for a, b in zip(shapes, shapes[1:])]
