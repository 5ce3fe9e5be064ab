"""The reference (pure PyTorch) paths of StyleGAN2-ADA's custom ops: FIR resampling
(``upfirdn2d``), fused bias + activation (``bias_act``) and convolution with up/downsampling
(``conv2d_resample``).

NVlabs/stylegan2-ada-pytorch (``torch_utils/ops``) compiles CUDA kernels for ``upfirdn2d`` and
``bias_act`` and falls back to ``_upfirdn2d_ref`` / ``_bias_act_ref`` without them; this module
implements that reference behaviour (it runs on any device). ``conv2d_gradfix`` only makes the
official convolutions' weight gradients skippable during regularisation; it changes no value, so
plain ``torch.nn.functional.conv2d`` stands in for it.

``upfirdn2d(x, f, up, down, padding)``, per channel: insert ``up − 1`` zeros after each pixel,
pad (negative padding crops), convolve with the FIR filter ``f`` (a true convolution unless
``flip_filter``), keep every ``down``-th pixel; ``gain`` scales the filter.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

# name: (function, default alpha, default gain) — the official ``activation_funcs`` used here.
ACTIVATIONS = {
    "linear": (lambda x, alpha: x, 0.0, 1.0),
    "relu": (lambda x, alpha: F.relu(x), 0.0, math.sqrt(2)),
    "lrelu": (lambda x, alpha: F.leaky_relu(x, alpha), 0.2, math.sqrt(2)),
}


def default_gain(activation: str) -> float:
    return ACTIVATIONS[activation][2]


def bias_act(x: torch.Tensor, b: torch.Tensor | None = None, *, act: str = "linear", alpha: float | None = None,
             gain: float | None = None, clamp: float | None = None, dim: int = 1) -> torch.Tensor:
    """``clamp(act(x + b) · gain, ±clamp)`` (``_bias_act_ref``)."""
    func, def_alpha, def_gain = ACTIVATIONS[act]
    if b is not None:
        x = x + b.reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    x = func(x, float(alpha if alpha is not None else def_alpha))
    gain = float(gain if gain is not None else def_gain)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def setup_filter(f: Sequence[float] | np.ndarray | torch.Tensor, *, normalize: bool = True, flip_filter: bool = False,
                 gain: float = 1, separable: bool | None = None) -> torch.Tensor:
    """A float32 FIR filter: 1-D taps become their outer product (non-separable) unless there are
    8 or more, normalised to unit DC gain."""
    f = torch.as_tensor(f, dtype=torch.float32)
    if f.ndim == 0:
        f = f[np.newaxis]
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    return f * (gain ** (f.ndim / 2))


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _padding(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    if isinstance(padding, int):
        return padding, padding, padding, padding
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    return tuple(int(p) for p in padding)  # type: ignore[return-value]


def filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    if f is None:
        return 1, 1
    return int(f.shape[-1]), int(f.shape[0])


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, *, up: int | Sequence[int] = 1, down: int | Sequence[int] = 1,
              padding: int | Sequence[int] = 0, flip_filter: bool = False, gain: float = 1) -> torch.Tensor:
    """Upsample, pad, FIR-filter and downsample a batch of images (``_upfirdn2d_ref``)."""
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    b, c, h, w = x.shape
    upx, upy = _pair(up)
    downx, downy = _pair(down)
    px0, px1, py0, py1 = _padding(padding)
    x = x.reshape(b, c, h, 1, w, 1)
    x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
    x = x.reshape(b, c, h * upy, w * upx)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    f = (f * (gain ** (f.ndim / 2))).to(x.dtype).to(x.device)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f[None, None].repeat([c, 1] + [1] * f.ndim)
    if f.ndim == 4:
        x = F.conv2d(x, f, groups=c)
    else:
        x = F.conv2d(x, f.unsqueeze(2), groups=c)
        x = F.conv2d(x, f.unsqueeze(3), groups=c)
    return x[:, :, ::downy, ::downx]


def upsample2d(x: torch.Tensor, f: torch.Tensor, *, up: int = 2, padding: int | Sequence[int] = 0,
               flip_filter: bool = False, gain: float = 1) -> torch.Tensor:
    """``upfirdn2d`` padded so that the output is ``up`` × the input (gain ``up²`` keeps DC)."""
    upx, upy = _pair(up)
    px0, px1, py0, py1 = _padding(padding)
    fw, fh = filter_size(f)
    p = [px0 + (fw + upx - 1) // 2, px1 + (fw - upx) // 2, py0 + (fh + upy - 1) // 2, py1 + (fh - upy) // 2]
    return upfirdn2d(x, f, up=up, padding=p, flip_filter=flip_filter, gain=gain * upx * upy)


def downsample2d(x: torch.Tensor, f: torch.Tensor, *, down: int = 2, padding: int | Sequence[int] = 0,
                 flip_filter: bool = False, gain: float = 1) -> torch.Tensor:
    """``upfirdn2d`` padded so that the output is 1/``down`` of the input."""
    downx, downy = _pair(down)
    px0, px1, py0, py1 = _padding(padding)
    fw, fh = filter_size(f)
    p = [px0 + (fw - downx + 1) // 2, px1 + (fw - downx) // 2, py0 + (fh - downy + 1) // 2, py1 + (fh - downy) // 2]
    return upfirdn2d(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain)


def _conv(x: torch.Tensor, w: torch.Tensor, *, stride: int = 1, padding: int | Sequence[int] = 0, groups: int = 1,
          transpose: bool = False, flip_weight: bool = True) -> torch.Tensor:
    if not flip_weight:  # conv2d() computes a correlation; a convolution flips the kernel
        w = w.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None = None, *, up: int = 1, down: int = 1,
                    padding: int | Sequence[int] = 0, groups: int = 1, flip_weight: bool = True,
                    flip_filter: bool = False) -> torch.Tensor:
    """2-D convolution with optional FIR up/downsampling, padding applied once at the start
    (the official ``conv2d_resample``, same order of operations in every case)."""
    out_channels, in_per_group, kh, kw = w.shape
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = _padding(padding)
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2
    if kw == 1 and kh == 1 and down > 1 and up == 1:
        x = upfirdn2d(x, f, down=down, padding=[px0, px1, py0, py1], flip_filter=flip_filter)
        return _conv(x, w, groups=groups, flip_weight=flip_weight)
    if kw == 1 and kh == 1 and up > 1 and down == 1:
        x = _conv(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d(x, f, up=up, padding=[px0, px1, py0, py1], gain=up ** 2, flip_filter=flip_filter)
    if down > 1 and up == 1:
        x = upfirdn2d(x, f, padding=[px0, px1, py0, py1], flip_filter=flip_filter)
        return _conv(x, w, stride=down, groups=groups, flip_weight=flip_weight)
    if up > 1:
        if groups == 1:
            w = w.transpose(0, 1)
        else:
            w = w.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
            w = w.reshape(groups * in_per_group, out_channels // groups, kh, kw)
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        pxt, pyt = max(min(-px0, -px1), 0), max(min(-py0, -py1), 0)
        x = _conv(x, w, stride=up, padding=[pyt, pxt], groups=groups, transpose=True, flip_weight=not flip_weight)
        x = upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up ** 2, flip_filter=flip_filter)
        if down > 1:
            x = upfirdn2d(x, f, down=down, flip_filter=flip_filter)
        return x
    if up == 1 and down == 1 and px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return _conv(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight)
    x = upfirdn2d(x, f if up > 1 else None, up=up, padding=[px0, px1, py0, py1], gain=up ** 2, flip_filter=flip_filter)
    x = _conv(x, w, groups=groups, flip_weight=flip_weight)
    if down > 1:
        x = upfirdn2d(x, f, down=down, flip_filter=flip_filter)
    return x
