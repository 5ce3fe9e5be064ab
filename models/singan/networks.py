"""SinGAN's per-scale generator and discriminator (the official architecture and state-dict keys).

Both are fully convolutional: ``num_layer`` 3×3 convolutions without padding — a head and
``num_layer − 2`` body blocks of conv → BatchNorm → LeakyReLU(0.2), then a tail conv. With
``nfc = min_nfc`` every hidden layer has ``nfc`` channels (the official width rule is kept for any
pair: body block ``i`` has ``max(⌊nfc / 2^(i+1)⌋, min_nfc)`` output channels). The generator's
tail ends in ``tanh`` and the generator is residual: ``G(z, x̃) = tanh(…(z)) + crop(x̃)``, where
``x̃`` is the zero-padded upsampled image of the coarser scale and the crop removes the
``padding`` pixels the unpadded convolutions consumed. Module names follow the official code
(``head``, ``body.block1``…, ``tail``) so that official state dicts load unchanged.
"""
from __future__ import annotations

import contextlib
import math
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

LEAKY_SLOPE = 0.2
CHANNELS = 3


class ConvBlock(nn.Sequential):
    """conv 3×3 (no padding) → BatchNorm → LeakyReLU(0.2)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.add_module("conv", nn.Conv2d(in_channels, out_channels, kernel_size=kernel_size, stride=1, padding=0))
        self.add_module("norm", nn.BatchNorm2d(out_channels))
        self.add_module("LeakyRelu", nn.LeakyReLU(LEAKY_SLOPE, inplace=True))


def body_widths(nfc: int, min_nfc: int, num_layer: int) -> list[int]:
    """Output channels of head and body blocks: ``[nfc, max(⌊nfc/2⌋, min_nfc), …]``."""
    widths = [nfc]
    for i in range(num_layer - 2):
        widths.append(max(int(nfc / 2 ** (i + 1)), min_nfc))
    return widths


def _trunk(nfc: int, min_nfc: int, num_layer: int, kernel_size: int) -> tuple[ConvBlock, nn.Sequential, int]:
    widths = body_widths(nfc, min_nfc, num_layer)
    head = ConvBlock(CHANNELS, widths[0], kernel_size)
    body = nn.Sequential()
    for i in range(num_layer - 2):
        declared_in = max(2 * int(nfc / 2 ** (i + 1)), min_nfc)
        if declared_in != widths[i]:
            raise ValueError(f"nfc={nfc}, min_nfc={min_nfc}: layer widths do not chain (use powers of two)")
        body.add_module(f"block{i + 1}", ConvBlock(widths[i], widths[i + 1], kernel_size))
    return head, body, widths[-1]


class Generator(nn.Module):
    """``G(z, x̃) = tanh(tail(body(head(z)))) + centre_crop(x̃)``."""

    def __init__(self, nfc: int, min_nfc: int, *, num_layer: int = 5, kernel_size: int = 3):
        super().__init__()
        self.head, self.body, last = _trunk(nfc, min_nfc, num_layer, kernel_size)
        self.tail = nn.Sequential(nn.Conv2d(last, CHANNELS, kernel_size=kernel_size, stride=1, padding=0), nn.Tanh())

    def forward(self, noise: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        residual = self.tail(self.body(self.head(noise)))
        margin = (previous.shape[2] - residual.shape[2]) // 2
        return residual + previous[:, :, margin : previous.shape[2] - margin, margin : previous.shape[3] - margin]


class Discriminator(nn.Module):
    """A patch critic: a map of scores (one per receptive field), no final activation."""

    def __init__(self, nfc: int, min_nfc: int, *, num_layer: int = 5, kernel_size: int = 3):
        super().__init__()
        self.head, self.body, last = _trunk(nfc, min_nfc, num_layer, kernel_size)
        self.tail = nn.Conv2d(last, 1, kernel_size=kernel_size, stride=1, padding=0)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(self.head(image)))

    def per_image(self, images: torch.Tensor) -> torch.Tensor:
        """The training-mode function applied to each image of a batch on its own.

        Training-mode BatchNorm of a batch of one normalises each channel by its own mean and
        (biased) variance over the pixels — exactly what GroupNorm with one group per channel
        computes, image by image. So a batch of images through this path gives what separate
        training-mode passes of ``forward`` give, in one pass; and PyTorch's second derivative
        of GroupNorm costs less than that of BatchNorm (the gradient penalty differentiates
        twice). The running statistics are not updated: they never influence an output, as the
        critic only runs in training mode.
        """
        x = images
        for block in (self.head, *self.body):
            norm = block.norm
            x = F.group_norm(block.conv(x), norm.num_features, norm.weight, norm.bias, norm.eps)
            x = F.leaky_relu(x, LEAKY_SLOPE, inplace=True)
        return self.tail(x)


def initialise(module: nn.Module, generator: torch.Generator) -> None:
    """The official initialisation, drawing from ``generator`` exactly what the official code
    draws from the global generator, in the same order:

    1. constructing the network: per convolution (in module order) PyTorch's default
       ``kaiming_uniform_(weight, a=√5)`` (overwritten below, but drawn) and the bias
       ``U(±1/√fan_in)``, which stays;
    2. ``weights_init``: conv weights ``N(0, 0.02)``, BatchNorm weights ``N(1, 0.02)``, BatchNorm
       biases 0.

    Values are drawn in the logical (contiguous) order whatever the parameter's memory format,
    so a channels-last network gets the same weights as the official contiguous one.
    """

    def fill(parameter: torch.Tensor, draw) -> None:
        values = torch.empty(parameter.shape, dtype=parameter.dtype, device=parameter.device)
        draw(values)
        parameter.copy_(values)

    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        for conv in convs:
            fill(conv.weight, lambda w: nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=generator))
            if conv.bias is not None:
                bound = 1.0 / math.sqrt(conv.weight[0].numel())
                fill(conv.bias, lambda b: b.uniform_(-bound, bound, generator=generator))
        for layer in module.modules():
            if isinstance(layer, nn.Conv2d):
                fill(layer.weight, lambda w: w.normal_(0.0, 0.02, generator=generator))
            elif isinstance(layer, nn.BatchNorm2d):
                fill(layer.weight, lambda w: w.normal_(1.0, 0.02, generator=generator))
                layer.bias.zero_()


@contextlib.contextmanager
def counted_as_passes(module: nn.Module, passes: int) -> Iterator[None]:
    """Make one training-mode forward pass of ``module`` update every BatchNorm's running
    statistics (and ``num_batches_tracked``) exactly as ``passes`` passes with the same batch
    statistics would: momentum ``1 − (1 − m)^passes`` for the pass."""
    norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 1.0 - (1.0 - m.momentum) ** passes
    try:
        yield
    finally:
        for m, value in zip(norms, saved):
            m.momentum = value
    for m in norms:
        m.num_batches_tracked += passes - 1


def set_trainable(module: nn.Module, trainable: bool) -> None:
    for parameter in module.parameters():
        parameter.requires_grad_(trainable)
