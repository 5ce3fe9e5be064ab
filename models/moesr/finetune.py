"""MoESR test-time fine-tuning of the chosen expert on the input image (after DualSR).

Port of the official ``MoESR.finetune_network`` / ``forward_and_backward`` and of the crop
sampler ``data.DataGenerator`` (https://github.com/memad73/MoESR, ``codes/``):

- crops: a ``crop``-pixel "HR" crop and a ``crop/scale``-pixel "LR" crop of the *input* image per
  iteration, their centres drawn with probability following the image's gradient map (both index
  lists drawn up front from ``numpy.random.seed(100)``), each crop rotated by 180° with
  probability 0.4 (Gaussian kernels are point-symmetric);
- losses (L1): forward cycle ``downscale(U(LR)) ≈ LR`` ×5, backward cycle
  ``U(downscale(HR)) ≈ HR`` ×5 (×4: plus the intermediate ×2 output against the HR crop
  downscaled with the ×2 kernel), and a masked interpolation loss ×1 that ties flat regions of
  ``U(LR)`` to its bicubic upsampling (mask ``1 − clamp(sobel(bicubic), 0, 1)``);
- the downscaling uses the kernel estimated by KEN; "real" images get Gaussian noise
  (σ = 0.04) on the downscaled crop and keep their borders;
- Adam (β1 = 0.5) with a one-cycle schedule (max lr 1e-5, div factor 10) over the iterations.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy.signal import convolve2d

from restorebench.models.moesr.network import downscale_with_kernel
from restorebench.models.weights import array_to_tensor


@dataclass(frozen=True)
class FinetuneConfig:
    iterations: int = 1000
    crop: int = 128
    lambda_cycle: float = 5.0
    lambda_interp: float = 1.0
    max_lr: float = 1e-5
    div_factor: float = 10.0
    beta1: float = 0.5
    real: bool = False
    noise_std: float = 0.04
    seed: int = 0  # torch generator for the noise of "real" images


# -- crop sampler (official data.py / util.py) ----------------------------------------------------

def _pad_edges(im: np.ndarray, edge: int) -> np.ndarray:
    """Zero a border of ``edge`` pixels (official ``pad_edges``)."""
    out = np.zeros_like(im)
    out[edge:-edge, edge:-edge] = im[edge:-edge, edge:-edge]
    return out


def _clip_extreme(im: np.ndarray, percent: float) -> np.ndarray:
    """Zero values below the ``percent`` quantile and clip above the next value."""
    ordered = np.sort(im.ravel())
    pivot = int(percent * len(ordered))
    v_min = ordered[pivot]
    v_max = ordered[pivot + 1] if ordered[pivot + 1] > v_min else v_min + 10e-6
    return np.clip(im, v_min, v_max) - v_min


def _normalised(a: np.ndarray) -> np.ndarray:
    total = a.sum()
    return a / total if total > 0 else np.zeros_like(a)


def gradient_map(im: np.ndarray, window: int = 5, percent: float = 0.97) -> np.ndarray:
    """Official ``create_gradient_map``: clipped |∂x|, |∂y| plus the gradient magnitude, box
    blurred and normalised to mean 1. (A term that sums to zero — a flat image — contributes
    nothing, where the official code would divide by zero.)"""
    gray = im @ np.array([0.299, 0.587, 0.114])
    gx, gy = np.gradient(gray)
    gmag, gx, gy = np.sqrt(gx ** 2 + gy ** 2), np.abs(gx), np.abs(gy)
    gx, gy, gmag = _pad_edges(gx, window), _pad_edges(gy, window), _pad_edges(gmag, window)
    lm_x, lm_y = _clip_extreme(gx, percent), _clip_extreme(gy, percent)
    # The official sum uses the unclipped magnitude (its clipped copy is computed and unused).
    combined = _normalised(lm_x) + _normalised(lm_y) + _normalised(gmag)
    loss_map = convolve2d(combined, np.ones((window, window)), "same") / window ** 2
    mean = loss_map.mean()
    return loss_map / mean if mean > 0 else np.ones_like(loss_map)


def probability_map(loss_map: np.ndarray, crop: int) -> np.ndarray:
    """Official ``create_probability_map``: crop-sized box blur, zero border, normalised."""
    half = crop // 2
    blurred = convolve2d(loss_map, np.ones((half, half)), "same") / half ** 2
    prob = _pad_edges(blurred, half).ravel()
    return prob / prob.sum() if prob.sum() != 0 else np.full_like(prob, 1.0 / prob.size)


class CropSampler:
    """Official ``DataGenerator``: deterministic (``numpy`` seed 100) pairs of crops."""

    def __init__(self, image: np.ndarray, scale: int, crop: int, iterations: int, real: bool):
        rng = np.random.RandomState(100)
        im = image.astype(np.float64) / 255.0
        if not real and im.shape[0] > 160 and im.shape[1] > 160:
            im = im[10:-10, 10:-10]  # synthetic examples: drop border effects
        im = im[: im.shape[0] - im.shape[0] % scale, : im.shape[1] - im.shape[1] % scale]
        self.image = im
        self.rows, self.cols = im.shape[:2]
        self.big, self.small = crop, crop // scale
        prob = probability_map(gradient_map(im), self.small)
        self.centres_big = rng.choice(len(prob), size=iterations, p=prob)
        self.centres_small = rng.choice(len(prob), size=iterations, p=prob)
        self.rng = rng

    def _crop(self, size: int, centre: int) -> np.ndarray:
        row, col = int(centre / self.cols), centre % self.cols
        top = min(max(0, row - size // 2), self.rows - size)
        left = min(max(0, col - size // 2), self.cols - size)
        top, left = top - top % 2, left - left % 2  # even offsets, as the official sampler
        return self.image[top:top + size, left:left + size]

    def __call__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        big = self._crop(self.big, int(self.centres_big[i]))
        small = self._crop(self.small, int(self.centres_small[i]))
        if self.rng.rand() < 0.4:
            big = np.rot90(big, k=2)
        if self.rng.rand() < 0.4:
            small = np.rot90(small, k=2)
        return big, small


# -- losses -----------------------------------------------------------------------------------------

def shave_to(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Crop ``a`` symmetrically to ``b``'s spatial size (official ``shave_a2b``)."""
    dr, dc = a.shape[2] - b.shape[2], a.shape[3] - b.shape[3]
    assert dr >= 0 and dc >= 0 and dr % 2 == 0 and dc % 2 == 0, (a.shape, b.shape)
    return a[:, :, dr // 2:a.shape[2] - dr // 2, dc // 2:a.shape[3] - dc // 2]


def sobel_magnitude(x: torch.Tensor) -> torch.Tensor:
    """Per-channel Sobel gradient magnitude, zero padding (kornia's ``Sobel``, unnormalised)."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=x.dtype, device=x.device)
    weight = torch.stack([kx, kx.t()])[:, None]
    b, c, h, w = x.shape
    g = F.conv2d(x.reshape(b * c, 1, h, w), weight, padding=1)
    return torch.sqrt(g[:, 0] ** 2 + g[:, 1] ** 2).reshape(b, c, h, w)


def _quantize(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(torch.round(x * 255.0), 0, 255) / 255.0


def finetune(
    nets: list[nn.Module],
    image: np.ndarray,
    scale: int,
    kernel: np.ndarray,
    kernel_2x: np.ndarray | None,
    config: FinetuneConfig,
    device: torch.device,
) -> None:
    """Fine-tune ``nets`` (one ×2 expert, or two chained for ×4) in place on ``image``."""
    if config.iterations <= 0:
        return
    sampler = CropSampler(image, scale, config.crop, config.iterations, config.real)
    params = list(itertools.chain.from_iterable(n.parameters() for n in nets))
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(params, betas=(config.beta1, 0.999))
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.max_lr, total_steps=config.iterations, div_factor=config.div_factor
    )
    k = torch.as_tensor(kernel, dtype=torch.float32, device=device)
    k2 = torch.as_tensor(kernel_2x, dtype=torch.float32, device=device) if kernel_2x is not None else None
    noise = torch.Generator(device="cpu").manual_seed(config.seed)
    l1 = nn.L1Loss()

    def up(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mid = nets[0](x)
        return (nets[1](mid) if len(nets) > 1 else mid), mid

    for i in range(config.iterations):
        big, small = sampler(i)
        real_hr, real_lr = array_to_tensor(big, device), array_to_tensor(small, device)
        optimizer.zero_grad()
        lr_bicubic = F.interpolate(real_lr, scale_factor=scale, mode="bicubic")
        fake_hr, _ = up(real_lr)
        rec_lr = downscale_with_kernel(fake_hr, k, scale)
        fake_lr = downscale_with_kernel(real_hr, k, scale)
        if config.real:
            fake_lr = fake_lr + torch.randn(fake_lr.shape, generator=noise).to(device) * config.noise_std
        fake_lr = _quantize(fake_lr)
        rec_hr, rec_hr_mid = up(fake_lr.detach())
        loss = l1(rec_lr, shave_to(real_lr, rec_lr)) * config.lambda_cycle
        loss = loss + l1(rec_hr, shave_to(real_hr, rec_hr)) * config.lambda_cycle
        if len(nets) > 1 and k2 is not None:
            fake_lr_mid = downscale_with_kernel(real_hr, k2, 2)
            loss = loss + l1(rec_hr_mid, shave_to(fake_lr_mid, rec_hr_mid)) * config.lambda_cycle
        mask = (1 - torch.clamp(sobel_magnitude(lr_bicubic.detach()), 0, 1)).detach()
        loss = loss + l1(fake_hr * mask, lr_bicubic * mask) * config.lambda_interp
        loss.backward()
        optimizer.step()
        schedule.step()
    for p in params:
        p.requires_grad_(False)
