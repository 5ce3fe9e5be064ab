"""FastGAN: a few-shot GAN trained on each low-resolution set; its outputs are generated samples.

Liu, Zhu, Song, Elgammal: "Towards Faster and Stabilized GAN Training for High-fidelity Few-shot
Image Synthesis", ICLR 2021; official code https://github.com/odegeasslbc/FastGAN-pytorch. One of
the two generative techniques of the blind-SR study (de Santiago Júnior, AI 2023), which trained
it on each set of 100 LR images and drew 100 images per set (files ``0.png`` … ``99.png``, the
naming of the official ``eval.py``).

- :mod:`.network`: generator (skip-layer excitation) and self-supervised discriminator, with the
  official module names (checkpoints load unchanged);
- :mod:`.augment`: DiffAugment; :mod:`.perceptual`: the LPIPS-VGG reconstruction distance;
- :mod:`.training`: the official training iteration, snapshots and sampling;
- :mod:`.method`: the set-level method ``fastgan`` (profiles ``paper`` and ``fast``).

Only this module and :mod:`.method` are imported on discovery (no torch at import time). The
two checkpoint files of the LPIPS reconstruction loss are declared here.
"""
from __future__ import annotations

from pathlib import Path

from restorebench.metrics.weights import WeightFile, declare

MANIFEST = Path(__file__).with_name("manifest.json")
VGG_KEY = "vgg16-imagenet"
LIN_KEY = "lpips-vgg-v0.1"

declare(
    WeightFile(
        key=VGG_KEY, filename="vgg16-397923af.pth", url="https://download.pytorch.org/models/vgg16-397923af.pth",
        component="FastGAN reconstruction loss (LPIPS backbone: torchvision VGG16, ImageNet)",
        licence="torchvision model zoo (VGG16: Simonyan & Zisserman, CC BY 4.0)",
    ),
    WeightFile(
        key=LIN_KEY, filename="lpips/v0.1/vgg.pth",
        url="https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth",
        component="FastGAN reconstruction loss (LPIPS v0.1 linear layers for VGG16)",
        sha256="a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868", size=7289, licence="BSD-2-Clause",
    ),
)

from restorebench.models.fastgan.method import FastGAN, FastGANParams  # noqa: E402

__all__ = ["FastGAN", "FastGANParams", "LIN_KEY", "MANIFEST", "VGG_KEY"]
