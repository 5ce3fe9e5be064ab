"""DiffAugment: differentiable augmentations applied to every image the discriminator sees.

Zhao, Liu, Lin, Zhu, Han: "Differentiable Augmentation for Data-Efficient GAN Training",
NeurIPS 2020 (the ``diffaug.py`` FastGAN ships). Each transform draws one parameter per image:

- ``color``: brightness ``x + (u − 0.5)``; saturation ``(x − mean_c) · 2u + mean_c``; contrast
  ``(x − mean_chw) · (u + 0.5) + mean_chw`` (``u`` ~ U[0, 1), means over channels /
  over channels and pixels);
- ``translation``: an integer shift in ``[−⌊s/8 + ½⌋, ⌊s/8 + ½⌋]`` per axis, zeros shifted in;
- ``cutout``: a square of half the side (``⌊s/2 + ½⌋``), centred at a random pixel, set to 0.

FastGAN's ``train.py`` uses ``policy = 'color,translation'``; ``cutout`` is available (it is part
of DiffAugment) but not in the official policy. Random draws come from ``generator`` (CPU) so that
a training is reproducible and resumable; the draws are the official ones in number and order.
"""
from __future__ import annotations

import torch

POLICIES = ("color", "translation", "cutout")


def _uniform(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, generator=generator).to(x.device, x.dtype)


def brightness(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return x + (_uniform(x, generator) - 0.5)


def saturation(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_uniform(x, generator) * 2) + mean


def contrast(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_uniform(x, generator) + 0.5) + mean


def translation(x: torch.Tensor, generator: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by whole pixels, filling with zeros (the official gather on a 1-px zero
    border, whose indices are clamped into that border)."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, size=(b, 1, 1), generator=generator)
    tx = torch.randint(-sw, sw + 1, size=(b, 1, 1), generator=generator)
    rows = (torch.arange(h).view(1, h, 1) + ty + 1).clamp(0, h + 1).to(x.device)
    cols = (torch.arange(w).view(1, 1, w) + tx + 1).clamp(0, w + 1).to(x.device)
    padded = torch.nn.functional.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)
    batch = torch.arange(b, device=x.device).view(b, 1, 1)
    return padded[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, generator: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), size=(b, 1, 1), generator=generator)
    ox = torch.randint(0, w + (1 - cw % 2), size=(b, 1, 1), generator=generator)
    rows = (torch.arange(ch).view(1, ch, 1) + oy - ch // 2).clamp(0, h - 1)
    cols = (torch.arange(cw).view(1, 1, cw) + ox - cw // 2).clamp(0, w - 1)
    mask = torch.ones(b, h, w)
    mask[torch.arange(b).view(b, 1, 1), rows, cols] = 0
    return x * mask.to(x.device, x.dtype).unsqueeze(1)


TRANSFORMS = {"color": (brightness, saturation, contrast), "translation": (translation,), "cutout": (cutout,)}


def diff_augment(x: torch.Tensor, policy: str, generator: torch.Generator) -> torch.Tensor:
    """Apply the comma-separated ``policy`` (e.g. ``"color,translation"``) to a batch in [−1, 1]."""
    for name in filter(None, policy.split(",")):
        for transform in TRANSFORMS[name]:
            x = transform(x, generator)
    return x.contiguous()
