"""BlindSR networks (×2): a kernel-conditioned generator and a critic of its errors.

After Cornillère, Djelouah, Wang, Sorkine-Hornung, Schroers, "Blind Image Super-Resolution with
Spatially Variant Degradations", SIGGRAPH Asia 2019, as re-implemented by the first author in
https://github.com/sunreef/BlindSR (``src/model.py``, ``src/dense_block``, ``src/image_utils.py``,
``src/degradation.py``; GPL-3.0). Independent implementation with the same module names, so
that ``generator.pth`` / ``discriminator.pth`` load unchanged.

- Generator (538,058 parameters): the 15×15 blur kernel (225 taps) is mapped linearly to 15
  features, repeated over the image, concatenated with the LR image and the space-to-depth
  of its bicubic ×2 upsampling; 4 residual dense blocks; the output, depth-to-space, is a residual
  added to the bicubic upsampling.
- Critic ("discriminator", 564,620 parameters): from the LR image, the generator's last feature
  maps and the kernel map, predicts the error image of the generator's output; it is ~0 when the
  kernel is right, which the kernel search exploits.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

KERNEL_SIZE = 15
KERNEL_FEATURES = 15
SCALE = 2


def space_to_depth(img: torch.Tensor, scale: int) -> torch.Tensor:
    """``(B, C, H, W)`` → ``(B, C·s², H/s, W/s)`` with channel ``c + C·(y + s·x)`` holding
    ``img[:, c, x::s, y::s]`` (official ``reduce_image``; not PixelUnshuffle's order)."""
    b, c, h, w = img.shape
    x = img.view(b, c, h // scale, scale, w // scale, scale)
    return x.permute(0, 3, 5, 1, 2, 4).reshape(b, c * scale * scale, h // scale, w // scale)


def depth_to_space(features: torch.Tensor, scale: int) -> torch.Tensor:
    """Inverse of :func:`space_to_depth` (official ``reconstruct_image``)."""
    b, cs, h, w = features.shape
    c = cs // (scale * scale)
    x = features.view(b, scale, scale, c, h, w)
    return x.permute(0, 3, 4, 1, 5, 2).reshape(b, c, h * scale, w * scale)


class DenseBlock(nn.Module):
    """Dense block: ``layers`` × (1×1 conv, ReLU, 3×3 conv → ``growth`` channels), concatenated
    with ReLU, then a 1×1 conv back to ``in_channels`` with ReLU."""

    def __init__(self, in_channels: int, growth: int, layers: int):
        super().__init__()
        self.conv_layers = nn.ModuleList([
            nn.Sequential(
                nn.Conv2d(in_channels + i * growth, in_channels + i * growth, 1), nn.ReLU(),
                nn.Conv2d(in_channels + i * growth, growth, 3, padding=1),
            )
            for i in range(layers)
        ])
        self.relu_layer = nn.ReLU()
        self.final_conv_layer = nn.Sequential(nn.Conv2d(in_channels + layers * growth, in_channels, 1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.conv_layers:
            x = self.relu_layer(torch.cat([x, layer(x)], 1))
        return self.final_conv_layer(x)


class Generator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.kernel_linear_mapping = nn.Linear(KERNEL_SIZE * KERNEL_SIZE, KERNEL_FEATURES)
        self.initial_convolution = nn.Sequential(
            nn.Conv2d(3 + 3 * SCALE * SCALE + KERNEL_FEATURES, 64, 3, padding=1), nn.ReLU()
        )
        self.dense_blocks = nn.ModuleList([DenseBlock(64, 16, 5) for _ in range(2 * SCALE)])
        self.final_convolution = nn.Sequential(nn.Conv2d(64, 3 * SCALE * SCALE, 3, padding=1))

    def forward(
        self, lowres: torch.Tensor, bicubic: torch.Tensor, kernel_features: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns the SR image, the kernel map and the last feature maps (the critic's inputs)."""
        b, _, h, w = lowres.shape
        kernel_map = self.kernel_linear_mapping(kernel_features)[:, :, None, None].repeat(1, 1, h, w)
        f = self.initial_convolution(torch.cat([lowres, space_to_depth(bicubic, SCALE), kernel_map], 1))
        for block in self.dense_blocks:
            f = f + block(f)
        residual = depth_to_space(self.final_convolution(f), SCALE)
        return bicubic + residual, kernel_map, f


class Discriminator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.initial_convolution = nn.Sequential(nn.Conv2d(3 + 64 + KERNEL_FEATURES, 64, 3, padding=1), nn.ReLU())
        self.dense_blocks = nn.ModuleList([DenseBlock(64, 16, 5) for _ in range(2 * SCALE)])
        self.final_convolution = nn.Sequential(nn.Conv2d(64, 3 * SCALE * SCALE, 3, padding=1))

    def forward(self, lowres: torch.Tensor, features: torch.Tensor, kernel_map: torch.Tensor) -> torch.Tensor:
        f = self.initial_convolution(torch.cat([lowres, features, kernel_map], 1))
        for block in self.dense_blocks:
            f = f + block(f)
        return depth_to_space(self.final_convolution(f), SCALE)


def gaussian_kernel(sigma: torch.Tensor, theta: torch.Tensor, size: int = KERNEL_SIZE) -> torch.Tensor:
    """Normalised anisotropic Gaussian (σx, σy, rotation θ) on a ``size``×``size`` grid of
    integer offsets, differentiable in σ and θ (official ``Degradation.build_kernel``)."""
    r = torch.linspace(-(size // 2), size // 2, size, device=sigma.device)
    x = r[None].repeat(size, 1)
    y = r[:, None].repeat(1, size)
    # Same operations in the same order as the official code: the kernel search follows
    # gradients from near-Dirac starting points, where rounding differences would grow.
    cos, sin = theta.cos(), theta.sin()
    cos2, sin2 = cos ** 2, sin ** 2
    sx2, sy2 = 2.0 * (sigma[0] ** 2), 2.0 * (sigma[1] ** 2)
    a = cos2 / sx2 + sin2 / sy2
    b = sin * cos * (1.0 / sy2 - 1.0 / sx2)
    c = sin2 / sx2 + cos2 / sy2
    kernel = (-(a * (x ** 2) + 2.0 * b * x * y + c * (y ** 2))).exp()
    return kernel / kernel.sum()


def kernel_features(sigma: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """The generator's kernel input: the 225 taps, ``(1, 225)``."""
    return gaussian_kernel(sigma, theta).reshape(1, -1)


# -- official patch tiling ----------------------------------------------------------------------

def _grid(length: int, patch: int, overlap: int) -> list[int]:
    step = patch - overlap
    n = length // step
    if n * step < length:
        n += 1
    return [min(i * step, length - patch) for i in range(n)]


def patchify(x: torch.Tensor, patch: int, overlap: int) -> torch.Tensor:
    """Official ``patchify_tensor``: square patches, the last row/column flush with the border."""
    _, _, h, w = x.shape
    return torch.cat([x[:, :, r:r + patch, c:c + patch] for r in _grid(h, patch, overlap) for c in _grid(w, patch, overlap)], 0)


def recompose(patches: torch.Tensor, height: int, width: int, overlap: int) -> torch.Tensor:
    """Official ``recompose_tensor``: linear 0.1 → 1 ramps over the overlaps, normalised."""
    _, channels, patch, _ = patches.shape
    ramp = torch.cat([
        torch.linspace(0.1, 1.0, overlap), torch.ones(patch - 2 * overlap), torch.linspace(1.0, 0.1, overlap)
    ]).to(patches.device)
    weight = ramp[:, None] * ramp[None, :]
    out = torch.zeros(1, channels, height, width, device=patches.device)
    total = torch.zeros(1, channels, height, width, device=patches.device)
    i = 0
    for r in _grid(height, patch, overlap):
        for c in _grid(width, patch, overlap):
            out[0, :, r:r + patch, c:c + patch] += patches[i] * weight
            total[0, :, r:r + patch, c:c + patch] += weight
            i += 1
    return out / total


def grid_points(sigma_steps: int, theta_steps: int) -> list[tuple[list[float], float]]:
    """Starting points of the kernel search: σ ∈ 0.001 + k·4/``sigma_steps`` (both axes) and
    θ ∈ k·π/(2·``theta_steps``), in the official loop order."""
    return [
        ([0.001 + (4.0 / sigma_steps) * i, 0.001 + (4.0 / sigma_steps) * j], t * math.pi / (2.0 * theta_steps))
        for i in range(sigma_steps)
        for j in range(sigma_steps)
        for t in range(theta_steps)
    ]
