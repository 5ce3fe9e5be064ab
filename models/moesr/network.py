"""MoESR networks and kernel geometry.

Emad, Peemen, Corporaal: "MoESR: Blind Super-Resolution using Kernel-Aware Mixture of Experts"
(WACV 2022). Official code: https://github.com/memad73/MoESR (``codes/networks.py``,
``codes/MoESR.py``, ``codes/util.py``); this is an independent implementation with the same module
names, so that ``SR_networks_ensemble.pt``, ``ISE.pt`` and ``KEN.pt`` load unchanged.

- :class:`Expert` (official ``SR_Net``): bicubic ×2 upsampling plus a residual of 12 3×3 conv
  layers of 64 channels (372,803 parameters). There is one expert per Gaussian kernel shape
  (eigenvalues λ1 ≥ λ2 from :data:`LAMBDAS`, orientation θ ∈ {0, π/16, 3π/16}): 25 experts. ×4 is
  two ×2 passes with two networks per expert.
- :class:`ISE` (image-specific error estimator, 1,594,241 parameters) scores an expert's output
  against the bicubic upsampling; :class:`KEN` (kernel estimation network, 85 → 50 → 50 → 3,
  7,003 parameters) maps the 85 scores to the kernel's (λ1, λ2, θ).
- Kernels at other orientations are served by rotating/flipping the image (estimation) or the
  expert's weights (fine-tuning), as the official code does.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

THETAS: tuple[float, ...] = tuple(k * math.pi / 16 for k in (1, 3, 5, 7, 9, 11, 13, 15))
LAMBDAS: dict[int, tuple[float, ...]] = {
    2: (0.85, 1.47, 2.27, 3.23, 4.37),
    4: (4.25, 7.35, 11.35, 16.15, 21.85),
}
KERNEL_SIZE = {2: 13, 4: 33}
ISE_STRIDE = 8  # ISE output step, in input pixels
ISE_FIELD = 49  # ISE receptive field (valid convolutions), in input pixels


class Expert(nn.Module):
    """Official ``SR_Net``: ``up(x) + convs(up(x))`` with ``up`` = PyTorch bicubic ×2."""

    def __init__(self, channels: int = 3, layers: int = 12, features: int = 64, scale_factor: int = 2):
        super().__init__()
        self.scale_factor = scale_factor
        body: list[nn.Module] = [nn.Conv2d(channels, features, 3, 1, 1), nn.ReLU(True)]
        for _ in range(layers - 2):
            body += [nn.Conv2d(features, features, 3, 1, 1), nn.ReLU(True)]
        body.append(nn.Conv2d(features, channels, 3, 1, 1))
        self.model = nn.Sequential(*body)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=self.scale_factor, mode="bicubic")
        return x + self.model(x)


class ISE(nn.Module):
    """Official ``ISE_Net``: valid 3×3 convolutions on ``[SR, bicubic]`` (6 channels), three of
    them with stride 2, ending in a one-channel error map."""

    def __init__(self, channels: int = 3, layers: int = 6, features: int = 64):
        super().__init__()
        body: list[nn.Module] = [nn.Conv2d(channels * 2, features, 3, 1, 0), nn.ReLU(True)]
        mult, prev = 1, 1
        for n in range(1, layers - 2):
            body += [nn.Conv2d(features * prev, features * mult, 3, 2, 0), nn.ReLU(True)]
            prev, mult = mult, min(2 ** n, 8)
        body.append(nn.Conv2d(features * prev, features * mult, 3, 1, 0))
        body.append(nn.Conv2d(features * mult, 1, 3, 1, 0))
        self.model = nn.Sequential(*body)

    def forward(self, sr: torch.Tensor, bicubic: torch.Tensor) -> torch.Tensor:
        return self.model(torch.cat([sr, bicubic], 1))


class KEN(nn.Module):
    """Official ``KEN_Net``: standardise the 85 scores, MLP 85 → 50 → 50 → 3, then
    λ1, λ2 ≥ 0.01 and θ = output × π/16."""

    def __init__(self, n_feature: int = 85, n_hidden: int = 50, n_output: int = 3):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(n_feature, n_hidden), nn.ReLU(),
            nn.Linear(n_hidden, n_hidden), nn.ReLU(),
            nn.Linear(n_hidden, n_output),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - x.mean(dim=1, keepdim=True)) / x.std(dim=1, keepdim=True)
        y = self.layers(x)
        lambdas = y[:, 0:2].clamp(min=0.01)  # official: values below 0.01 set to 0.01
        theta = y[:, 2:3] * (math.pi / 16)
        return torch.cat([lambdas, theta], 1)


# -- kernel geometry ------------------------------------------------------------------------------

def expert_id(lambda_1: float, lambda_2: float, model_theta: float) -> str:
    """Key of an expert in ``SR_networks_ensemble.pt``."""
    return "U_%.2f_%.2f_%.2f" % (lambda_1, lambda_2, model_theta)


def expert_ids(scale: int) -> list[str]:
    """The 25 experts: 5 isotropic (θ = 0) and 10 eigenvalue pairs × θ ∈ {π/16, 3π/16}."""
    ids = []
    for l1 in LAMBDAS[scale]:
        for l2 in LAMBDAS[scale]:
            if l2 > l1:
                continue
            thetas = (0.0,) if l1 == l2 else (math.pi / 16, 3 * math.pi / 16)
            ids += [expert_id(l1, l2, t) for t in thetas]
    return ids


def fold(theta: float) -> tuple[float, str]:
    """Orientation served by an expert, and the transform that maps the problem onto it:
    ``"none"`` (θ < π/4), ``"flip_rotate"``, ``"rotate"`` or ``"flip"`` (official branches)."""
    if theta < math.pi / 4:
        return theta, "none"
    if math.pi / 4 < theta < math.pi / 2:
        return math.pi / 2 - theta, "flip_rotate"
    if math.pi / 2 < theta < 3 * math.pi / 4:
        return theta - math.pi / 2, "rotate"
    return math.pi - theta, "flip"


def transform_image(x: torch.Tensor, how: str) -> torch.Tensor:
    """Bring an image (``(B, C, H, W)``) into the expert's orientation."""
    if how == "flip_rotate":
        return x.flip(3).rot90(1, dims=[2, 3])
    if how == "rotate":
        return x.rot90(1, dims=[2, 3])
    if how == "flip":
        return x.flip(3)
    return x


def untransform_image(x: torch.Tensor, how: str) -> torch.Tensor:
    """Inverse of :func:`transform_image` (as in the official code)."""
    if how == "flip_rotate":
        return x.flip(3).rot90(1, dims=[2, 3])
    if how == "rotate":
        return x.rot90(-1, dims=[2, 3])
    if how == "flip":
        return x.flip(3)
    return x


def transform_weights(net: nn.Module, how: str) -> None:
    """Rotate/flip every conv kernel in place so that the network serves the transformed
    orientation without transforming the image (official ``weights_rotate/flip/flip_rotate``)."""
    if how == "none":
        return
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            w = m.weight.data
            if how == "rotate":
                w = w.rot90(1, dims=[2, 3])
            elif how == "flip":
                w = w.flip(3)
            else:
                w = w.flip(3).rot90(1, dims=[2, 3])
            m.weight.data = w.contiguous()


def gaussian_kernel(lambda_1: float, lambda_2: float, theta: float, k_size: int, scale: int) -> np.ndarray:
    """Anisotropic Gaussian kernel with covariance ``Q diag(λ1, λ2) Qᵀ`` (Q the rotation by θ),
    centred at ``k//2 + (scale − k mod 2)/2`` so that the downscaled image stays aligned
    (official ``util.gen_kernel`` without noise)."""
    sigma = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    sigma = sigma @ np.diag([lambda_1, lambda_2]) @ sigma.T
    inv = np.linalg.inv(sigma)
    mu = k_size // 2 + 0.5 * (scale - k_size % 2)
    x, y = np.meshgrid(np.arange(k_size), np.arange(k_size))
    z = np.stack([x, y], 2).astype(np.float64) - mu
    quad = np.einsum("...i,ij,...j->...", z, inv, z)
    kernel = np.exp(-0.5 * quad)
    return kernel / kernel.sum()


def downscale_with_kernel(hr: torch.Tensor, kernel: torch.Tensor, stride: int) -> torch.Tensor:
    """Correlate each channel with ``kernel`` (valid) and subsample by ``stride``."""
    b, c, h, w = hr.shape
    out = F.conv2d(hr.reshape(b * c, 1, h, w), kernel[None, None], stride=stride)
    return out.reshape(b, c, out.shape[2], out.shape[3])


def ise_output_length(n: int) -> int:
    return (n - ISE_FIELD) // ISE_STRIDE + 1


def ise_mean_square(ise: ISE, sr: torch.Tensor, bicubic: torch.Tensor, *, window: int = 0) -> torch.Tensor:
    """``mean(ISE(sr, bicubic)²)`` over the whole error map. With ``window`` > 0 the map is
    computed in blocks whose inputs are at most about ``window`` pixels on a side; because the ISE
    has no padding, each block's outputs are exactly those of the whole image."""
    _, _, h, w = sr.shape
    if window <= 0 or max(h, w) <= window:
        delta = ise(sr, bicubic)
        return (delta * delta).mean()
    n_h, n_w = ise_output_length(h), ise_output_length(w)
    per = max(1, (window - ISE_FIELD) // ISE_STRIDE + 1)  # outputs per block and axis
    total = sr.new_zeros(())
    for a in range(0, n_h, per):
        b = min(a + per, n_h)
        for c in range(0, n_w, per):
            d = min(c + per, n_w)
            rows = slice(a * ISE_STRIDE, (b - 1) * ISE_STRIDE + ISE_FIELD)
            cols = slice(c * ISE_STRIDE, (d - 1) * ISE_STRIDE + ISE_FIELD)
            delta = ise(sr[:, :, rows, cols], bicubic[:, :, rows, cols])
            assert delta.shape[2:] == (b - a, d - c)
            total = total + (delta * delta).sum()
    return total / (n_h * n_w)
