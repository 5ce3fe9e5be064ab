"""LPIPS (VGG16, v0.1): the distance FastGAN's discriminator minimises between its reconstructions
and the real images.

Zhang, Isola, Efros, Shechtman, Wang: "The Unreasonable Effectiveness of Deep Features as a
Perceptual Metric", CVPR 2018 (https://github.com/richzhang/PerceptualSimilarity; FastGAN ships a
copy and calls ``PerceptualLoss(model='net-lin', net='vgg')``). For images ``x, y`` in [−1, 1]:

    d(x, y) = Σ_l  mean_hw  w_l · (φ̂_l(x) − φ̂_l(y))²

with ``φ_l`` the VGG16 activations relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 of the input
scaled by ``(x − shift) / scale`` (shift ``(−0.030, −0.088, −0.188)``, scale
``(0.458, 0.448, 0.450)``), ``φ̂`` = ``φ`` divided by its channel-wise L2 norm (+1e-10), and
``w_l`` the learned non-negative 1×1 weights (``lin{l}.model.1.weight``). Evaluation mode, so the
dropout before each 1×1 layer is the identity. One value per image, shape ``(N, 1, 1, 1)``.

Two files (catalogue keys :data:`VGG_KEY`, :data:`LIN_KEY`): torchvision's ImageNet VGG16
(``features.*`` keys used) and the LPIPS v0.1 linear layers. Neither is downloaded at run time.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from restorebench.models.fastgan import LIN_KEY, VGG_KEY

SLICES = ((0, 4), (4, 9), (9, 16), (16, 23), (23, 30))
CHANNELS = (64, 128, 256, 512, 512)


class LPIPS(nn.Module):
    """LPIPS-VGG v0.1, frozen, evaluation mode. Build with :func:`load_lpips`."""

    def __init__(self):
        super().__init__()
        from torchvision.models.vgg import cfgs, make_layers

        features = make_layers(cfgs["D"])  # VGG16's convolutional part (its classifier is not used)
        self.slices = nn.ModuleList(nn.Sequential(*features[a:b]) for a, b in SLICES)
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.requires_grad_(False).eval()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        hx, hy = (x - self.shift) / self.scale, (y - self.shift) / self.scale
        total = 0
        for block, lin in zip(self.slices, self.lins):
            hx, hy = block(hx), block(hy)
            diff = (normalize(hx) - normalize(hy)) ** 2
            total = total + lin(diff).mean(dim=[2, 3], keepdim=True)
        return total

    def load_official(self, vgg_state: dict, lin_state: dict) -> None:
        """Load torchvision's ``vgg16`` state (its ``features.*`` keys) and LPIPS ``vgg.pth``."""
        from restorebench.models.weights import load_into

        features = {}
        for i, (a, b) in enumerate(SLICES):
            for k in range(a, b):
                for name in ("weight", "bias"):
                    key = f"features.{k}.{name}"
                    if key in vgg_state:
                        features[f"{i}.{k - a}.{name}"] = vgg_state[key]
        load_into(self.slices, features, what=f"VGG16 ({VGG_KEY})")
        lins = {f"{i}.weight": lin_state.get(f"lin{i}.model.1.weight") for i in range(len(CHANNELS))}
        load_into(self.lins, {k: v for k, v in lins.items() if v is not None}, what=f"LPIPS linear layers ({LIN_KEY})")


def normalize(features: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return features / (features.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


def load_lpips(device) -> LPIPS:
    """LPIPS-VGG with both catalogue files loaded (a clear ``WeightsUnavailableError`` naming the
    missing file otherwise)."""
    from restorebench.models.weights import load_checkpoint

    vgg_state, lin_state = load_checkpoint(VGG_KEY), load_checkpoint(LIN_KEY)
    net = LPIPS()
    net.load_official(vgg_state, lin_state)
    return net.to(device)
