"""ADA's augmentation pipeline ("bgc": pixel blitting, general geometric and colour transforms).

Karras et al., "Training Generative Adversarial Networks with Limited Data", NeurIPS 2020;
official ``training/augment.py`` of NVlabs/stylegan2-ada-pytorch (used unchanged by APA). APA's
``train.py`` always builds the pipeline with ``--augpipe=bgc`` (its default) and applies it to
every image the discriminator sees when ``--with-dataaug=true`` — the study's setting. Each
transform is applied to an image with probability ``p`` (the same ``p`` that APA adapts):

- blitting: x-flip, rotation by a multiple of 90°, integer translation (±12.5 %);
- geometric: isotropic scaling (lognormal, σ = 0.2 octaves), rotation (uniform, applied before
  and after the anisotropic scaling, each with ``1 − √(1 − p)``), anisotropic scaling
  (σ = 0.2), fractional translation (σ = 0.125); all composed into one inverse matrix and executed
  once: reflect-pad, 2× upsample with the ``sym6`` wavelet, bilinear ``grid_sample``,
  2× downsample and crop;
- colour: brightness (N(0, 0.2)), contrast (lognormal, σ = 0.5 octaves), luma flip (a
  Householder reflection about the luma axis), hue rotation (uniform around the luma axis),
  saturation (lognormal, σ = 1 octave); composed into one 4×4 matrix.

The random draws are the official ones, in the official order, from torch's global generator
(the training seeds it from its own generator before every phase). The image-space filtering,
noise and cutout transforms of larger pipelines (``bgcf`` …) are not part of ``bgc`` and not
implemented.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from restorebench.models.apa.ops import downsample2d, setup_filter, upsample2d

SYM6 = [0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633, 0.4910559419267466,
        0.787641141030194, 0.3379294217276218, -0.07263752278646252, -0.021060292512300564, 0.04472490177066578,
        0.0017677118642428036, -0.007800708325034148]
BGC = dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1, brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)


def matrix(*rows, device=None) -> torch.Tensor:
    """Stack scalars and per-image tensors into a batch of matrices ``[..., rows, cols]``."""
    elems = [x for row in rows for x in row]
    ref = [x for x in elems if isinstance(x, torch.Tensor)]
    if not ref:
        return torch.as_tensor(np.asarray(rows), dtype=torch.float32, device=device)
    elems = [x if isinstance(x, torch.Tensor) else torch.full_like(ref[0], float(x)) for x in elems]
    return torch.stack(elems, dim=-1).reshape(ref[0].shape + (len(rows), -1))


def translate2d(tx, ty, **kw):
    return matrix([1, 0, tx], [0, 1, ty], [0, 0, 1], **kw)


def translate3d(tx, ty, tz, **kw):
    return matrix([1, 0, 0, tx], [0, 1, 0, ty], [0, 0, 1, tz], [0, 0, 0, 1], **kw)


def scale2d(sx, sy, **kw):
    return matrix([sx, 0, 0], [0, sy, 0], [0, 0, 1], **kw)


def scale3d(sx, sy, sz, **kw):
    return matrix([sx, 0, 0, 0], [0, sy, 0, 0], [0, 0, sz, 0], [0, 0, 0, 1], **kw)


def rotate2d(theta, **kw):
    return matrix([torch.cos(theta), torch.sin(-theta), 0], [torch.sin(theta), torch.cos(theta), 0], [0, 0, 1], **kw)


def rotate3d(v, theta, **kw):
    vx, vy, vz = v[..., 0], v[..., 1], v[..., 2]
    s, c = torch.sin(theta), torch.cos(theta)
    cc = 1 - c
    return matrix(
        [vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, 0],
        [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, 0],
        [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, 0],
        [0, 0, 0, 1], **kw)


class AugmentPipe(nn.Module):
    """The ``bgc`` pipeline; ``p`` (a buffer) is the probability of each transform."""

    def __init__(self, *, xflip=0, rotate90=0, xint=0, xint_max=0.125, scale=0, rotate=0, aniso=0, xfrac=0, scale_std=0.2,
                 rotate_max=1, aniso_std=0.2, xfrac_std=0.125, brightness=0, contrast=0, lumaflip=0, hue=0, saturation=0,
                 brightness_std=0.2, contrast_std=0.5, hue_max=1, saturation_std=1):
        super().__init__()
        self.register_buffer("p", torch.ones([]))
        self.xflip, self.rotate90, self.xint, self.xint_max = float(xflip), float(rotate90), float(xint), float(xint_max)
        self.scale, self.rotate, self.aniso, self.xfrac = float(scale), float(rotate), float(aniso), float(xfrac)
        self.scale_std, self.rotate_max, self.aniso_std, self.xfrac_std = float(scale_std), float(rotate_max), float(aniso_std), float(xfrac_std)
        self.brightness, self.contrast, self.lumaflip, self.hue, self.saturation = (
            float(brightness), float(contrast), float(lumaflip), float(hue), float(saturation))
        self.brightness_std, self.contrast_std, self.hue_max, self.saturation_std = (
            float(brightness_std), float(contrast_std), float(hue_max), float(saturation_std))
        self.register_buffer("Hz_geom", setup_filter(SYM6))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = images.shape
        device = images.device
        p = self.p

        def chance(multiplier: float, shape=(batch,)) -> torch.Tensor:
            return torch.rand(shape, device=device) < multiplier * p

        # Pixel blitting and general geometric transforms, as one inverse matrix (out → in).
        eye3 = torch.eye(3, device=device)
        g_inv = eye3
        if self.xflip > 0:
            i = torch.floor(torch.rand([batch], device=device) * 2)
            i = torch.where(chance(self.xflip), i, torch.zeros_like(i))
            g_inv = g_inv @ scale2d(1 - 2 * i, 1)
        if self.rotate90 > 0:
            i = torch.floor(torch.rand([batch], device=device) * 4)
            i = torch.where(chance(self.rotate90), i, torch.zeros_like(i))
            g_inv = g_inv @ rotate2d(np.pi / 2 * i)  # rotate2d_inv(−π/2 · i)
        if self.xint > 0:
            t = (torch.rand([batch, 2], device=device) * 2 - 1) * self.xint_max
            t = torch.where(chance(self.xint, (batch, 1)), t, torch.zeros_like(t))
            g_inv = g_inv @ translate2d(-torch.round(t[:, 0] * width), -torch.round(t[:, 1] * height))
        if self.scale > 0:
            s = torch.exp2(torch.randn([batch], device=device) * self.scale_std)
            s = torch.where(chance(self.scale), s, torch.ones_like(s))
            g_inv = g_inv @ scale2d(1 / s, 1 / s)
        p_rot = 1 - torch.sqrt((1 - self.rotate * p).clamp(0, 1))  # P(pre or post) = p
        if self.rotate > 0:
            theta = (torch.rand([batch], device=device) * 2 - 1) * np.pi * self.rotate_max
            theta = torch.where(torch.rand([batch], device=device) < p_rot, theta, torch.zeros_like(theta))
            g_inv = g_inv @ rotate2d(theta)  # rotate2d_inv(−θ), before the anisotropic scaling
        if self.aniso > 0:
            s = torch.exp2(torch.randn([batch], device=device) * self.aniso_std)
            s = torch.where(chance(self.aniso), s, torch.ones_like(s))
            g_inv = g_inv @ scale2d(1 / s, s)
        if self.rotate > 0:
            theta = (torch.rand([batch], device=device) * 2 - 1) * np.pi * self.rotate_max
            theta = torch.where(torch.rand([batch], device=device) < p_rot, theta, torch.zeros_like(theta))
            g_inv = g_inv @ rotate2d(theta)  # after the anisotropic scaling
        if self.xfrac > 0:
            t = torch.randn([batch, 2], device=device) * self.xfrac_std
            t = torch.where(chance(self.xfrac, (batch, 1)), t, torch.zeros_like(t))
            g_inv = g_inv @ translate2d(-t[:, 0] * width, -t[:, 1] * height)
        if g_inv is not eye3:
            images = self._geometric(images, g_inv)

        # Colour transforms, as one 4×4 matrix (colour in → colour out).
        eye4 = torch.eye(4, device=device)
        c = eye4
        if self.brightness > 0:
            b = torch.randn([batch], device=device) * self.brightness_std
            b = torch.where(chance(self.brightness), b, torch.zeros_like(b))
            c = translate3d(b, b, b) @ c
        if self.contrast > 0:
            k = torch.exp2(torch.randn([batch], device=device) * self.contrast_std)
            k = torch.where(chance(self.contrast), k, torch.ones_like(k))
            c = scale3d(k, k, k) @ c
        v = torch.as_tensor(np.asarray([1, 1, 1, 0]) / np.sqrt(3), dtype=torch.float32, device=device)  # luma axis
        if self.lumaflip > 0:
            i = torch.floor(torch.rand([batch, 1, 1], device=device) * 2)
            i = torch.where(chance(self.lumaflip, (batch, 1, 1)), i, torch.zeros_like(i))
            c = (eye4 - 2 * torch.outer(v, v) * i) @ c
        if self.hue > 0 and channels > 1:
            theta = (torch.rand([batch], device=device) * 2 - 1) * np.pi * self.hue_max
            theta = torch.where(chance(self.hue), theta, torch.zeros_like(theta))
            c = rotate3d(v, theta) @ c
        if self.saturation > 0 and channels > 1:
            s = torch.exp2(torch.randn([batch, 1, 1], device=device) * self.saturation_std)
            s = torch.where(chance(self.saturation, (batch, 1, 1)), s, torch.ones_like(s))
            c = (torch.outer(v, v) + (eye4 - torch.outer(v, v)) * s) @ c
        if c is not eye4:
            flat = images.reshape(batch, channels, height * width)
            if channels != 3:
                raise ValueError("the colour transforms need RGB images")
            images = (c[:, :3, :3] @ flat + c[:, :3, 3:]).reshape(batch, channels, height, width)
        return images

    def _geometric(self, images: torch.Tensor, g_inv: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = images.shape
        device = images.device
        cx, cy = (width - 1) / 2, (height - 1) / 2
        corners = matrix([-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1], device=device)
        corners = g_inv @ corners.t()
        hz_pad = self.Hz_geom.shape[0] // 4
        margin = corners[:, :2, :].permute(1, 0, 2).flatten(1)
        margin = torch.cat([-margin, margin]).max(dim=1).values
        margin = margin + torch.as_tensor([hz_pad * 2 - cx, hz_pad * 2 - cy] * 2, device=device)
        margin = margin.max(torch.zeros(4, device=device)).min(torch.as_tensor([width - 1, height - 1] * 2, device=device, dtype=torch.float32))
        mx0, my0, mx1, my1 = (int(m) for m in margin.ceil())
        images = F.pad(images, [mx0, mx1, my0, my1], mode="reflect")
        g_inv = translate2d((mx0 - mx1) / 2, (my0 - my1) / 2, device=device) @ g_inv
        images = upsample2d(images, self.Hz_geom, up=2)
        g_inv = scale2d(2, 2, device=device) @ g_inv @ scale2d(0.5, 0.5, device=device)
        g_inv = translate2d(-0.5, -0.5, device=device) @ g_inv @ translate2d(0.5, 0.5, device=device)
        shape = [batch, channels, (height + hz_pad * 2) * 2, (width + hz_pad * 2) * 2]
        g_inv = (scale2d(2 / images.shape[3], 2 / images.shape[2], device=device) @ g_inv
                 @ scale2d(shape[3] / 2, shape[2] / 2, device=device))
        grid = F.affine_grid(g_inv[:, :2, :], shape, align_corners=False)
        images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return downsample2d(images, self.Hz_geom, down=2, padding=-hz_pad * 2, flip_filter=True)
