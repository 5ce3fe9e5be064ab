"""The DAN networks: a Restorer and an Estimator unrolled for ``loop`` alternating steps.

DANv1: Luo et al., "Unfolding the Alternating Optimization for Blind Super Resolution",
NeurIPS 2020. DANv2: Luo et al., "End-to-end Alternating Optimization for Blind Super
Resolution", 2021. Official code: https://github.com/greatlog/DAN (``codes/config/DANv1`` and
``codes/config/DANv2``, ``models/modules/dan_arch.py``); this is an independent implementation
with the same module names, so that the official checkpoints load unchanged.

The blur kernel is represented by its code in a PCA basis (``encoder``: ``k² × input_para``,
10 numbers for the 21×21 kernels of setting 1). The loop starts from the code of a Dirac kernel
(``init_ker_map``); step ``i`` restores the image with the current code and re-estimates the code
from that restoration and the LR image. The output is the last restoration.

Two facts of the official code that the checkpoints depend on:

- the Estimator's code (v1) and kernel (v2) come from a *global* average over the image, so
  the tiled inference here (:meth:`DAN.super_resolve`) averages the Estimator's feature map over
  all tiles before pooling instead of estimating a kernel per tile;
- in DANv2 a group of blocks (``DPCG``) adds its input to the output of its blocks, but the
  blocks update the very list that holds that input, so the sum is the blocks' output twice.
  The networks were trained with that behaviour, and it is reproduced here (:class:`DPCG`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn as nn

from restorebench.models.weights import Blender, core_of_window, tiles, window

Version = Literal["v1", "v2"]


@dataclass(frozen=True)
class DANConfig:
    """Network settings of one official checkpoint (``network_G.setting`` of its test yml)."""

    version: Version
    scale: int
    setting: int
    nb: int
    input_para: int
    kernel_size: int
    ng: int = 1
    nf: int = 64
    loop: int = 4

    @property
    def variant(self) -> str:
        return f"{self.version}-x{self.scale}-setting{self.setting}"


# From codes/config/DANv{1,2}/options/setting{1,2}/test/test_setting*_x*.yml.
CONFIGS: dict[str, DANConfig] = {
    c.variant: c
    for c in [
        DANConfig("v1", 2, 1, nb=40, input_para=10, kernel_size=21),
        DANConfig("v1", 3, 1, nb=40, input_para=10, kernel_size=21),
        DANConfig("v1", 4, 1, nb=40, input_para=10, kernel_size=21),
        DANConfig("v1", 2, 2, nb=40, input_para=10, kernel_size=11),
        DANConfig("v1", 4, 2, nb=40, input_para=10, kernel_size=21),
        DANConfig("v2", 2, 1, nb=10, ng=5, input_para=10, kernel_size=21),
        DANConfig("v2", 3, 1, nb=10, ng=5, input_para=10, kernel_size=21),
        DANConfig("v2", 4, 1, nb=10, ng=5, input_para=10, kernel_size=21),
        DANConfig("v2", 2, 2, nb=10, ng=5, input_para=10, kernel_size=11),
        DANConfig("v2", 4, 2, nb=10, ng=5, input_para=15, kernel_size=31),
    ]
}


def _upsampler(nf: int, scale: int, out_nc: int = 3) -> nn.Sequential:
    """Sub-pixel upsampling: two ×2 stages for ×4, one ×s stage otherwise."""
    if scale == 4:
        return nn.Sequential(
            nn.Conv2d(nf, nf * 4, 3, 1, 1), nn.PixelShuffle(2),
            nn.Conv2d(nf, nf * 4, 3, 1, 1), nn.PixelShuffle(2),
            nn.Conv2d(nf, out_nc, 3, 1, 1),
        )
    return nn.Sequential(nn.Conv2d(nf, nf * scale * scale, 3, 1, 1), nn.PixelShuffle(scale), nn.Conv2d(nf, out_nc, 3, 1, 1))


# -- DANv1 ----------------------------------------------------------------------------------------

class ChannelAttention(nn.Module):
    """Squeeze-and-excitation: global average → 1×1 conv (÷16) → LeakyReLU → 1×1 conv → sigmoid."""

    def __init__(self, nf: int, reduction: int = 16):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(nf, nf // reduction, 1, 1, 0), nn.LeakyReLU(0.2),
            nn.Conv2d(nf // reduction, nf, 1, 1, 0), nn.Sigmoid(),
        )
        self.avg = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.body(self.avg(x))


class CRB(nn.Module):
    """Conditional residual block: ``f1 + CA(conv(lrelu(conv([f1, f2]))))``; ``f2`` (the condition)
    passes through unchanged."""

    def __init__(self, nf1: int, nf2: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(nf1 + nf2, nf1 + nf2, 3, 1, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(nf1 + nf2, nf1, 3, 1, 1), ChannelAttention(nf1),
        )

    def forward(self, f1: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
        return f1 + self.body(torch.cat([f1, f2], 1))


class RestorerV1(nn.Module):
    """SR network conditioned on the kernel code, stretched to a constant map."""

    def __init__(self, nf: int, nb: int, scale: int, input_para: int, in_nc: int = 3):
        super().__init__()
        self.head = nn.Conv2d(in_nc, nf, 3, 1, 1)
        self.body = nn.Sequential(*[CRB(nf, input_para) for _ in range(nb)])
        self.fusion = nn.Conv2d(nf, nf, 3, 1, 1)
        self.upscale = _upsampler(nf, scale)

    def forward(self, lr: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        b, _, h, w = lr.shape
        condition = code.view(b, -1, 1, 1).expand(b, code.shape[1], h, w)
        f = self.head(lr)
        for block in self.body:
            f = block(f, condition)
        return self.upscale(self.fusion(f))


class EstimatorV1(nn.Module):
    """Kernel-code estimator from (SR, LR): its output map is averaged into the 10-d code."""

    def __init__(self, scale: int, in_nc: int = 3, nf: int = 64, num_blocks: int = 5, code_len: int = 10):
        super().__init__()
        self.head_LR = nn.Conv2d(in_nc, nf // 2, 1, 1, 0)
        self.head_HR = nn.Conv2d(in_nc, nf // 2, 9, scale, 4)
        self.body = nn.Sequential(*[CRB(nf // 2, nf // 2) for _ in range(num_blocks)])
        self.out = nn.Conv2d(nf // 2, code_len, 3, 1, 1)
        self.globalPooling = nn.AdaptiveAvgPool2d((1, 1))

    def feature_map(self, sr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        """The per-pixel map whose spatial mean is the estimate (before global pooling)."""
        f = self.head_LR(lr)
        condition = self.head_HR(sr)
        for block in self.body:
            f = block(f, condition)
        return self.out(f)

    def from_mean(self, mean: torch.Tensor) -> torch.Tensor:
        """Kernel code ``(B, code_len)`` from the spatial mean ``(B, C)`` of :meth:`feature_map`."""
        return mean

    def forward(self, sr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        return self.from_mean(self.feature_map(sr, lr).mean(dim=(2, 3)))


# -- DANv2 ----------------------------------------------------------------------------------------

class DPCB(nn.Module):
    """Dual-path conditional block: ``f1 + body1(f1) · body2(f2)``, ``f2 + body2(f2)``."""

    def __init__(self, nf1: int, nf2: int, ksize1: int = 3, ksize2: int = 1):
        super().__init__()
        self.body1 = nn.Sequential(
            nn.Conv2d(nf1, nf1, ksize1, 1, ksize1 // 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(nf1, nf1, ksize1, 1, ksize1 // 2),
        )
        self.body2 = nn.Sequential(
            nn.Conv2d(nf2, nf1, ksize2, 1, ksize2 // 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(nf1, nf1, ksize2, 1, ksize2 // 2),
        )

    def forward(self, f1: torch.Tensor, f2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g2 = self.body2(f2)
        return f1 + self.body1(f1) * g2, f2 + g2


class DPCG(nn.Module):
    """A group of :class:`DPCB`. Returns twice the output of its blocks on both paths — what the
    official group computes (see the module docstring) and what its checkpoints were trained with."""

    def __init__(self, nf1: int, nf2: int, ksize1: int, ksize2: int, nb: int):
        super().__init__()
        self.body = nn.Sequential(*[DPCB(nf1, nf2, ksize1, ksize2) for _ in range(nb)])

    def forward(self, f1: torch.Tensor, f2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for block in self.body:
            f1, f2 = block(f1, f2)
        return f1 + f1, f2 + f2


class RestorerV2(nn.Module):
    def __init__(self, nf: int, nb: int, ng: int, scale: int, input_para: int, in_nc: int = 3):
        super().__init__()
        self.head1 = nn.Conv2d(in_nc, nf, 3, 1, 1)
        self.head2 = nn.Conv2d(input_para, nf, 1, 1, 0)
        self.body = nn.Sequential(*[DPCG(nf, nf, 3, 1, nb) for _ in range(ng)])
        self.fusion = nn.Conv2d(nf, nf, 3, 1, 1)
        self.upscale = _upsampler(nf, scale, in_nc)

    def forward(self, lr: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        f1 = self.head1(lr)
        f2 = self.head2(code.view(code.shape[0], -1, 1, 1))
        for group in self.body:
            f1, f2 = group(f1, f2)
        return self.upscale(self.fusion(f1))


class EstimatorV2(nn.Module):
    """Estimates the kernel itself (softmax over ``k²`` taps); its PCA code conditions the Restorer."""

    def __init__(self, scale: int, kernel_size: int, in_nc: int = 3, nf: int = 64, num_blocks: int = 5):
        super().__init__()
        self.ksize = kernel_size
        self.head_LR = nn.Sequential(nn.Conv2d(in_nc, nf // 2, 5, 1, 2))
        self.head_HR = nn.Sequential(nn.Conv2d(in_nc, nf // 2, scale * 4 + 1, scale, scale * 2))
        self.body = DPCG(nf // 2, nf // 2, 3, 3, num_blocks)
        self.tail = nn.Sequential(
            nn.Conv2d(nf // 2, nf, 3, 1, 1), nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(nf, kernel_size ** 2, 1, 1, 0), nn.Softmax(1),
        )

    def feature_map(self, sr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        f1, _ = self.body(self.head_LR(lr), self.head_HR(sr))
        return self.tail[0](f1)

    def from_mean(self, mean: torch.Tensor) -> torch.Tensor:
        """The kernel ``(B, k²)`` from the spatial mean ``(B, nf)`` of :meth:`feature_map`."""
        kernel = self.tail[3](self.tail[2](mean[:, :, None, None]))
        return kernel.view(mean.shape[0], -1)

    def forward(self, sr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        return self.from_mean(self.feature_map(sr, lr).mean(dim=(2, 3)))


# -- DAN ------------------------------------------------------------------------------------------

class DAN(nn.Module):
    """The unrolled network. State-dict keys: ``Restorer.*``, ``Estimator.*``, and the buffers
    ``encoder`` (``1 × k² × input_para``), ``init_kernel`` (``1 × k × k`` Dirac) and
    ``init_ker_map`` (its code), all stored in the official checkpoints."""

    def __init__(self, config: DANConfig):
        super().__init__()
        self.config = config
        c = config
        if c.version == "v1":
            self.Restorer: nn.Module = RestorerV1(c.nf, c.nb, c.scale, c.input_para)
            self.Estimator: nn.Module = EstimatorV1(c.scale, code_len=c.input_para)
        else:
            self.Restorer = RestorerV2(c.nf, c.nb, c.ng, c.scale, c.input_para)
            self.Estimator = EstimatorV2(c.scale, c.kernel_size)
        k = c.kernel_size
        # The PCA basis comes with the checkpoint; zeros until it is loaded.
        self.register_buffer("encoder", torch.zeros(1, k * k, c.input_para))
        kernel = torch.zeros(1, k, k)
        kernel[:, k // 2, k // 2] = 1.0
        self.register_buffer("init_kernel", kernel)
        self.register_buffer("init_ker_map", self.init_kernel.view(1, 1, k * k).matmul(self.encoder)[:, 0])
        # v2's last kernel estimate, (B, k, k), from the last forward pass (v1 estimates a code only)
        self.last_kernel: torch.Tensor | None = None

    def _keep_kernel(self, estimate: torch.Tensor | None) -> None:
        k = self.config.kernel_size
        self.last_kernel = None if estimate is None or self.config.version == "v1" else estimate.view(-1, k, k)

    def code(self, estimate: torch.Tensor) -> torch.Tensor:
        """The Restorer's condition from the Estimator's output (v2: project the kernel on the
        PCA basis; v1 estimates the code directly)."""
        if self.config.version == "v1":
            return estimate
        b = estimate.shape[0]
        return estimate.view(b, 1, -1).matmul(self.encoder)[:, 0]

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """The official loop on the whole image; returns the last restoration."""
        code = self.init_ker_map.repeat(lr.shape[0], 1)
        sr, estimate = lr, None
        for _ in range(self.config.loop):
            sr = self.Restorer(lr, code)
            estimate = self.Estimator(sr, lr)
            code = self.code(estimate)
        self._keep_kernel(estimate)  # the official loop returns this last estimate with the image
        return sr

    def super_resolve(self, lr: torch.Tensor, *, tile: int = 0, overlap: int = 32) -> torch.Tensor:
        """The official loop, tile by tile: each Restorer pass runs on overlapping windows, the
        Estimator's map is averaged over the tile cores (the whole image) before it becomes the
        next code, and the last restoration is blended. One tile = :meth:`forward` exactly."""
        _, _, h, w = lr.shape
        grid = tiles(h, w, tile, overlap)
        if len(grid) == 1:
            return self.forward(lr)
        s = self.config.scale
        code = self.init_ker_map.repeat(lr.shape[0], 1)
        out = Blender(h, w, s, device=lr.device)
        # v2's kernel estimate after the last restoration is returned too (v1's code is not used)
        estimate_last = self.config.version == "v2"
        for step in range(self.config.loop):
            last = step == self.config.loop - 1
            total: torch.Tensor | None = None
            for t in grid:
                lr_window = window(lr, t)
                sr_window = self.Restorer(lr_window, code)
                if last:
                    out.add(t, sr_window)
                    if not estimate_last:
                        continue
                fmap = core_of_window(self.Estimator.feature_map(sr_window, lr_window), t).sum(dim=(2, 3))
                total = fmap if total is None else total + fmap
            if total is not None:
                estimate = self.Estimator.from_mean(total / (h * w))
                if last:
                    self._keep_kernel(estimate)
                else:
                    code = self.code(estimate)
        return out.result()
