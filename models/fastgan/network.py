"""The FastGAN networks: a generator with skip-layer excitation and a self-supervised
discriminator with simple decoders.

Liu, Zhu, Song, Elgammal: "Towards Faster and Stabilized GAN Training for High-fidelity Few-shot
Image Synthesis", ICLR 2021. Official code: https://github.com/odegeasslbc/FastGAN-pytorch
(``models.py``, main branch of August 2021). This is an independent implementation with the
official module names, so that the official checkpoints (``all_<iter>.pth``, ``<iter>.pth``)
load unchanged; the resolutions are the official ones, 256, 512 and 1024.

Generator (``ngf`` = 64 officially; channel widths ``nfc[r] = ngf · m[r]`` with
``m = {4: 16, 8: 8, 16: 4, 32: 2, 64: 2, 128: 1, 256: 0.5, 512: 0.25, 1024: 0.125}``):

- ``init``: transposed 4×4 convolution of the latent (``nz`` = 256) to 4×4, BatchNorm, GLU;
- up-blocks to 8, 16, …: nearest ×2, 3×3 convolution, (noise injection), BatchNorm, GLU — the
  "comp" blocks (8, 32, 128, 512) have two convolutions with noise injection;
- skip-layer excitation: ``feat_64 ·= σ(f(feat_4))``, ``feat_128 ·= σ(f(feat_8))``,
  ``feat_256 ·= σ(f(feat_16))``, ``feat_512 ·= σ(f(feat_32))`` where ``f`` = adaptive average
  pooling to 4×4, 4×4 convolution, Swish, 1×1 convolution;
- outputs: the image at the full resolution (3×3 convolution) and a 128×128 image (1×1
  convolution); ``tanh`` is applied only at 1024 px — at 256 and 512 the official generator
  returns the convolutions' raw values, and it was trained (and sampled) that way.

Discriminator (``ndf`` = 64): a full-resolution path down to 8×8 with residual down-blocks and
excitation, and a 128-px path; both end in patch logits (5×5 each), concatenated. On *real*
images it also reconstructs, with three small decoders, the 128-px image from the 8×8 features,
the 128-px image from the small path's features, and a random quarter of the image from the
matching 8×8 crop of its 16×16 features (self-supervision).

Every convolution and linear layer is spectrally normalised (``torch.nn.utils.spectral_norm``:
state keys ``weight_orig``, ``weight_u``, ``weight_v``); weights are initialised N(0, 0.02),
BatchNorm weights N(1, 0.02), as the official ``weights_init`` does.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm

RESOLUTIONS = (256, 512, 1024)
SMALL = 128
G_MULTIPLIERS = {4: 16, 8: 8, 16: 4, 32: 2, 64: 2, 128: 1, 256: 0.5, 512: 0.25, 1024: 0.125}
D_MULTIPLIERS = {4: 16, 8: 16, 16: 8, 32: 4, 64: 2, 128: 1, 256: 0.5, 512: 0.25, 1024: 0.125}
DECODER_WIDTH = 32  # official SimpleDecoder widths: 32 · multiplier, whatever ndf is


def widths(base: int, multipliers: dict[int, float]) -> dict[int, int]:
    return {res: int(m * base) for res, m in multipliers.items()}


def conv2d(*args, **kwargs) -> nn.Module:
    return spectral_norm(nn.Conv2d(*args, **kwargs))


def conv_transpose2d(*args, **kwargs) -> nn.Module:
    return spectral_norm(nn.ConvTranspose2d(*args, **kwargs))


def init_weights(module: nn.Module) -> None:
    """The official ``weights_init``: convolution weights N(0, 0.02); BatchNorm weight N(1, 0.02),
    bias 0. Under spectral norm the official write to ``m.weight`` lands in ``weight_orig`` (the
    two share storage right after ``spectral_norm``), so that is the tensor initialised here."""
    with torch.no_grad():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            getattr(module, "weight_orig", module.weight).normal_(0.0, 0.02)
        elif isinstance(module, nn.BatchNorm2d):
            module.weight.normal_(1.0, 0.02)
            module.bias.zero_()


class GLU(nn.Module):
    """Gated linear unit over channels: first half × σ(second half)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = x.shape[1] // 2
        return x[:, :half] * torch.sigmoid(x[:, half:])


class Swish(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


class NoiseInjection(nn.Module):
    """``x + weight · n`` with one learned scalar, ``n`` ~ N(0, 1) per pixel (one map for all
    channels). ``noise`` lets the caller draw it (from a seeded generator)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device)
        return x + self.weight * noise


class SEBlock(nn.Module):
    """Skip-layer excitation: ``big · σ(conv1×1(swish(conv4×4(pool4(small)))))``."""

    def __init__(self, ch_in: int, ch_out: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.AdaptiveAvgPool2d(4), conv2d(ch_in, ch_out, 4, 1, 0, bias=False), Swish(),
            conv2d(ch_out, ch_out, 1, 1, 0, bias=False), nn.Sigmoid(),
        )

    def forward(self, small: torch.Tensor, big: torch.Tensor) -> torch.Tensor:
        return big * self.main(small)


class InitLayer(nn.Module):
    def __init__(self, nz: int, channels: int):
        super().__init__()
        self.init = nn.Sequential(conv_transpose2d(nz, channels * 2, 4, 1, 0, bias=False), nn.BatchNorm2d(channels * 2), GLU())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.init(z.view(z.shape[0], -1, 1, 1))


class UpBlock(nn.Sequential):
    """Nearest ×2, 3×3 conv, BatchNorm, GLU (official ``UpBlock``)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), conv2d(c_in, c_out * 2, 3, 1, 1, bias=False),
                         nn.BatchNorm2d(c_out * 2), GLU())


class UpBlockComp(nn.Sequential):
    """Nearest ×2 and two (3×3 conv, noise, BatchNorm, GLU) stages (official ``UpBlockComp``)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"), conv2d(c_in, c_out * 2, 3, 1, 1, bias=False), NoiseInjection(),
            nn.BatchNorm2d(c_out * 2), GLU(), conv2d(c_out, c_out * 2, 3, 1, 1, bias=False), NoiseInjection(),
            nn.BatchNorm2d(c_out * 2), GLU(),
        )


class Generator(nn.Module):
    """FastGAN generator; ``forward(z)`` returns ``[image at im_size, image at 128]``."""

    def __init__(self, ngf: int = 64, nz: int = 256, nc: int = 3, im_size: int = 1024):
        super().__init__()
        if im_size not in RESOLUTIONS:
            raise ValueError(f"FastGAN resolution must be one of {RESOLUTIONS} (the official ones), got {im_size}")
        nfc = widths(ngf, G_MULTIPLIERS)
        self.im_size, self.nz = im_size, nz
        self.init = InitLayer(nz, nfc[4])
        self.feat_8 = UpBlockComp(nfc[4], nfc[8])
        self.feat_16 = UpBlock(nfc[8], nfc[16])
        self.feat_32 = UpBlockComp(nfc[16], nfc[32])
        self.feat_64 = UpBlock(nfc[32], nfc[64])
        self.feat_128 = UpBlockComp(nfc[64], nfc[128])
        self.feat_256 = UpBlock(nfc[128], nfc[256])
        self.se_64 = SEBlock(nfc[4], nfc[64])
        self.se_128 = SEBlock(nfc[8], nfc[128])
        self.se_256 = SEBlock(nfc[16], nfc[256])
        self.to_128 = conv2d(nfc[128], nc, 1, 1, 0, bias=False)
        self.to_big = conv2d(nfc[im_size], nc, 3, 1, 1, bias=False)
        if im_size > 256:
            self.feat_512 = UpBlockComp(nfc[256], nfc[512])
            self.se_512 = SEBlock(nfc[32], nfc[512])
        if im_size > 512:
            self.feat_1024 = UpBlock(nfc[512], nfc[1024])

    def forward(self, z: torch.Tensor) -> list[torch.Tensor]:
        feat_4 = self.init(z)
        feat_8 = self.feat_8(feat_4)
        feat_16 = self.feat_16(feat_8)
        feat_32 = self.feat_32(feat_16)
        feat_64 = self.se_64(feat_4, self.feat_64(feat_32))
        feat_128 = self.se_128(feat_8, self.feat_128(feat_64))
        feat_256 = self.se_256(feat_16, self.feat_256(feat_128))
        if self.im_size == 256:
            return [self.to_big(feat_256), self.to_128(feat_128)]
        feat_512 = self.se_512(feat_32, self.feat_512(feat_256))
        if self.im_size == 512:
            return [self.to_big(feat_512), self.to_128(feat_128)]
        feat_1024 = self.feat_1024(feat_512)
        return [torch.tanh(self.to_big(feat_1024)), torch.tanh(self.to_128(feat_128))]


class DownBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.main = nn.Sequential(conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class DownBlockComp(nn.Module):
    """Residual down-block: (strided 4×4 conv → 3×3 conv) averaged with (avg-pool → 1×1 conv)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.main = nn.Sequential(
            conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True),
            conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2),
        )
        self.direct = nn.Sequential(nn.AvgPool2d(2, 2), conv2d(c_in, c_out, 1, 1, 0, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.main(x) + self.direct(x)) / 2


class SimpleDecoder(nn.Module):
    """Adaptive-pool to 8×8, four (nearest ×2, conv, BatchNorm, GLU) blocks, conv, tanh → 128×128."""

    def __init__(self, nfc_in: int, nc: int = 3, width: int = DECODER_WIDTH):
        super().__init__()
        nfc = widths(width, G_MULTIPLIERS)
        self.main = nn.Sequential(
            nn.AdaptiveAvgPool2d(8), UpBlock(nfc_in, nfc[16]), UpBlock(nfc[16], nfc[32]), UpBlock(nfc[32], nfc[64]),
            UpBlock(nfc[64], nfc[128]), conv2d(nfc[128], nc, 3, 1, 1, bias=False), nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


QUARTERS = ((slice(None, 8), slice(None, 8)), (slice(None, 8), slice(8, None)),
            (slice(8, None), slice(None, 8)), (slice(8, None), slice(8, None)))
"""The 16×16 feature map's quarter ``part`` (0: top-left, 1: top-right, 2: bottom-left, 3: bottom-right)."""


class Discriminator(nn.Module):
    """FastGAN discriminator.

    ``forward(images, part=None)`` returns the patch logits ``(B·50,)`` (25 per image from each
    path, the official ``torch.cat([rf_0, rf_1])`` order); with ``part`` in 0…3 (real images)
    it also returns the three reconstructions ``[whole, small, part]`` (each 128×128).
    ``images`` is a tensor (resized by nearest interpolation to both input sizes, as officially)
    or the generator's pair ``[big, small]``.
    """

    def __init__(self, ndf: int = 64, nc: int = 3, im_size: int = 1024, decoder_width: int = DECODER_WIDTH):
        super().__init__()
        if im_size not in RESOLUTIONS:
            raise ValueError(f"FastGAN resolution must be one of {RESOLUTIONS} (the official ones), got {im_size}")
        self.im_size = im_size
        nfc = widths(ndf, D_MULTIPLIERS)
        if im_size == 1024:
            self.down_from_big = nn.Sequential(
                conv2d(nc, nfc[1024], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
                conv2d(nfc[1024], nfc[512], 4, 2, 1, bias=False), nn.BatchNorm2d(nfc[512]), nn.LeakyReLU(0.2, inplace=True),
            )
        elif im_size == 512:
            self.down_from_big = nn.Sequential(conv2d(nc, nfc[512], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True))
        else:
            self.down_from_big = nn.Sequential(conv2d(nc, nfc[512], 3, 1, 1, bias=False), nn.LeakyReLU(0.2, inplace=True))
        self.down_4 = DownBlockComp(nfc[512], nfc[256])
        self.down_8 = DownBlockComp(nfc[256], nfc[128])
        self.down_16 = DownBlockComp(nfc[128], nfc[64])
        self.down_32 = DownBlockComp(nfc[64], nfc[32])
        self.down_64 = DownBlockComp(nfc[32], nfc[16])
        self.rf_big = nn.Sequential(
            conv2d(nfc[16], nfc[8], 1, 1, 0, bias=False), nn.BatchNorm2d(nfc[8]), nn.LeakyReLU(0.2, inplace=True),
            conv2d(nfc[8], 1, 4, 1, 0, bias=False),
        )
        self.se_2_16 = SEBlock(nfc[512], nfc[64])
        self.se_4_32 = SEBlock(nfc[256], nfc[32])
        self.se_8_64 = SEBlock(nfc[128], nfc[16])
        self.down_from_small = nn.Sequential(
            conv2d(nc, nfc[256], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            DownBlock(nfc[256], nfc[128]), DownBlock(nfc[128], nfc[64]), DownBlock(nfc[64], nfc[32]),
        )
        self.rf_small = conv2d(nfc[32], 1, 4, 1, 0, bias=False)
        self.decoder_big = SimpleDecoder(nfc[16], nc, decoder_width)
        self.decoder_part = SimpleDecoder(nfc[32], nc, decoder_width)
        self.decoder_small = SimpleDecoder(nfc[32], nc, decoder_width)

    def forward(self, images: torch.Tensor | Sequence[torch.Tensor], part: int | None = None):
        if isinstance(images, torch.Tensor):
            images = [F.interpolate(images, size=self.im_size), F.interpolate(images, size=SMALL)]
        feat_2 = self.down_from_big(images[0])
        feat_4 = self.down_4(feat_2)
        feat_8 = self.down_8(feat_4)
        feat_16 = self.se_2_16(feat_2, self.down_16(feat_8))
        feat_32 = self.se_4_32(feat_4, self.down_32(feat_16))
        feat_last = self.se_8_64(feat_8, self.down_64(feat_32))
        logits_big = self.rf_big(feat_last).view(-1)
        feat_small = self.down_from_small(images[1])
        logits_small = self.rf_small(feat_small).view(-1)
        logits = torch.cat([logits_big, logits_small])
        if part is None:
            return logits
        rows, cols = QUARTERS[part]
        reconstructions = [
            self.decoder_big(feat_last), self.decoder_small(feat_small), self.decoder_part(feat_32[:, :, rows, cols]),
        ]
        return logits, reconstructions


def crop_quarter(images: torch.Tensor, part: int) -> torch.Tensor:
    """Quarter ``part`` of full images (the official ``crop_image_by_part``)."""
    half = images.shape[2] // 2
    rows, cols = [(slice(None, half), slice(None, half)), (slice(None, half), slice(half, None)),
                  (slice(half, None), slice(None, half)), (slice(half, None), slice(half, None))][part]
    return images[:, :, rows, cols]
