"""NIMA (Talebi & Milanfar, 2018): aesthetic quality as a distribution over scores 1…10.

The architecture is IQA-PyTorch's (``pyiqa/archs/nima_arch.py``), so that its published AVA
checkpoints load unchanged (state dict under ``"params"``, strict key match):

- ``base_model``: ``timm.create_model(backbone, features_only=True)`` (built here with
  ``pretrained=False``: the checkpoint holds every backbone weight, nothing is downloaded);
- the last feature map → global average pool → ``classifier = [Flatten, Dropout(0), Linear(C, 10),
  Softmax]`` (so the linear layer's keys are ``classifier.2.weight`` / ``classifier.2.bias``);
- test-time preprocessing of IQA-PyTorch's eval mode: RGB in ``[0, 1]``, shorter side resized
  to the backbone's input size (299 for ``inception_resnet_v2``, 224 for ``vgg16``; torchvision
  bilinear with antialiasing), centre crop to a square of that size, then normalisation with
  timm's ``pretrained_cfg`` mean and std ((0.5, 0.5, 0.5)/(0.5, 0.5, 0.5) for Inception,
  ImageNet's for VGG).

The score is the mean of the distribution, ``Σ i·p_i`` for ``i = 1…10``; :meth:`NIMA.score` also
gives its standard deviation ``√(Σ (i − mean)²·p_i)``. The model always runs in eval mode without
autograd, so scores are deterministic — the original SinGAN study ran NIMA with BatchNorm in
training mode, which normalises every image's features by its own statistics and pins every
score near 5.4.

Missing weights raise :class:`~metrics.errors.WeightsUnavailableError` naming the file, its
official download location and the folders searched; the runner records the score as
unavailable. torch and timm are imported on first use only (the metric registry imports every
module of this package).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from restorebench.metrics.base import Metric, register
from restorebench.metrics.errors import WeightsUnavailableError
from restorebench.metrics.imageio import as_rgb_uint8, load_image
from restorebench.metrics.weights import WeightFile, declare, load_state, resolve

Backbone = Literal["inception_resnet_v2", "vgg16"]
BACKBONES: tuple[str, ...] = ("inception_resnet_v2", "vgg16")
NUM_BINS = 10
BATCH = 8
_RELEASE = "https://github.com/chaofengc/IQA-PyTorch/releases/download/v0.1-weights"
_LICENCE = "IQA-PyTorch release weights (PolyForm Noncommercial 1.0.0, trained on AVA)"

WEIGHT_FILES: dict[str, WeightFile] = {
    "inception_resnet_v2": WeightFile(
        key="nima-inception_resnet_v2",
        filename="NIMA_InceptionV2_ava-b0c77c00.pth",
        url=f"{_RELEASE}/NIMA_InceptionV2_ava-b0c77c00.pth",
        component="metric nima (inception_resnet_v2)",
        licence=_LICENCE,
    ),
    "vgg16": WeightFile(
        key="nima-vgg16",
        filename="NIMA_VGG16_ava-dc4e8265.pth",
        url=f"{_RELEASE}/NIMA_VGG16_ava-dc4e8265.pth",
        component="metric nima (vgg16)",
        licence=_LICENCE,
    ),
}
declare(*WEIGHT_FILES.values())


@dataclass(frozen=True)
class NimaScore:
    """Mean and standard deviation of the predicted score distribution (``distribution[i]`` is
    the probability of score ``i + 1``)."""

    mean: float
    std: float
    distribution: tuple[float, ...]


# -- model ----------------------------------------------------------------------------------------

def build_network(backbone: str):
    """The IQA-PyTorch NIMA module with random weights (the checkpoint provides all of them)."""
    import timm
    from torch import nn

    if backbone not in BACKBONES:
        raise ValueError(f"nima: unknown backbone {backbone!r}; choose from {', '.join(BACKBONES)}")
    net = nn.Module()
    net.base_model = timm.create_model(backbone, pretrained=False, features_only=True)
    net.global_pool = nn.AdaptiveAvgPool2d(1)
    channels = net.base_model.feature_info.channels()[-1]
    net.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(p=0.0), nn.Linear(channels, NUM_BINS), nn.Softmax(dim=-1))
    return net.eval()


def input_size(network) -> int:
    """Side of the square the backbone is evaluated on (timm ``default_cfg['input_size']``)."""
    return int(network.base_model.default_cfg["input_size"][-1])


def normalisation(network) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """timm ``pretrained_cfg`` mean and std of the backbone."""
    cfg = network.base_model.pretrained_cfg
    return tuple(cfg["mean"]), tuple(cfg["std"])


def checkpoint_params(state: dict[str, Any]) -> dict[str, Any]:
    """The network's state dict from a checkpoint: under ``"params"`` (IQA-PyTorch's layout),
    with a DataParallel ``module.`` prefix removed as IQA-PyTorch's loader does."""
    params = state.get("params", state)
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in params.items()}


@functools.lru_cache(maxsize=4)
def _load(backbone: str, path: str, size: int, mtime_ns: int, device: str):
    """The network with the checkpoint at ``path``, in eval mode on ``device`` (cached per process)."""
    import torch

    net = build_network(backbone)
    params = checkpoint_params(load_state(Path(path)))
    try:
        net.load_state_dict(params, strict=True)
    except RuntimeError as exc:
        wf = WEIGHT_FILES[backbone]
        raise WeightsUnavailableError(
            f"{wf.component}: {path} does not have the layout of IQA-PyTorch's {wf.filename} ({str(exc).splitlines()[0]}); "
            f"download the official file from {wf.url}",
            filename=wf.filename, url=wf.url, destination=str(Path(path).parent),
        ) from None
    net.eval()
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    return net.to(torch.device(device))


def load_network(backbone: str, *, device: str | None = None):
    """Resolve the backbone's checkpoint (hash-checked) and return the loaded network."""
    from restorebench.metrics.device import select_device

    path = resolve(WEIGHT_FILES[backbone].key)
    st = path.stat()
    return _load(backbone, str(path), st.st_size, st.st_mtime_ns, str(device or select_device()))


# -- scoring ----------------------------------------------------------------------------------------

def preprocess(images: Sequence[np.ndarray], network):
    """uint8 RGB images → normalised ``(B, 3, S, S)`` batch: resize shorter side to ``S``
    (bilinear, antialiased), centre crop ``S × S``, ``(x − mean) / std``."""
    import torch
    from torchvision.transforms import functional as TF

    side = input_size(network)
    mean, std = normalisation(network)
    batch = []
    for image in images:
        x = torch.tensor(image, dtype=torch.float32).permute(2, 0, 1)[None] / 255.0  # a copy: the array may be read-only
        x = TF.resize(x, side, interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
        batch.append(TF.center_crop(x, side))
    x = torch.cat(batch)
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def distribution(network, batch) -> np.ndarray:
    """Softmax distribution ``(B, 10)`` of a preprocessed batch."""
    import torch

    device = next(network.parameters()).device
    with torch.inference_mode():
        features = network.base_model(batch.to(device))[-1]
        return network.classifier(network.global_pool(features)).double().cpu().numpy()


def moments(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``Σ i·p_i`` and std ``√(Σ (i − mean)²·p_i)`` over bins ``i = 1…10``, per row."""
    bins = np.arange(1, dist.shape[-1] + 1, dtype=np.float64)
    mean = dist @ bins
    var = (dist * (bins[None, :] - mean[:, None]) ** 2).sum(axis=1)
    return mean, np.sqrt(np.maximum(var, 0.0))


@register()
class NIMA(Metric):
    """NIMA mean score (IQA-PyTorch AVA checkpoint), 1 (worst) … 10 (best)."""

    name = "nima"
    kind = "NR"
    higher_is_better = True
    value_range = (1.0, 10.0)
    min_size = 1
    conventions = (
        "IQA-PyTorch NIMA (AVA): RGB [0,1], shorter side → 299 (VGG16: 224) bilinear antialiased, centre crop, "
        "timm mean/std; mean of the 10-bin distribution; eval mode"
    )

    weights = tuple(f.key for f in WEIGHT_FILES.values())

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        backbone: Backbone = Field("inception_resnet_v2", description="the IQA-PyTorch AVA checkpoint's backbone")

    def weight_keys(self) -> tuple[str, ...]:
        return (WEIGHT_FILES[self.params.backbone].key,)

    @classmethod
    def networks(cls) -> list[dict[str, Any]]:
        from restorebench.metrics.component import meta_parameter_count

        return [{"variant": backbone, "network": f"NIMA ({backbone})", "parameters": meta_parameter_count(lambda b=backbone: build_network(b)),
                 "weights_key": WEIGHT_FILES[backbone].key} for backbone in BACKBONES]

    @property
    def backbone(self) -> str:
        return self.params.backbone

    def compute(self, image: np.ndarray, reference: np.ndarray | None) -> float:
        return self.score(image).mean

    def score(self, image: np.ndarray) -> NimaScore:
        """Mean, std and distribution for one uint8 RGB image."""
        return self.score_distributions([as_rgb_uint8(image)])[0]

    def score_distributions(self, images: Sequence[np.ndarray]) -> list[NimaScore]:
        """:class:`NimaScore` of each image, evaluated in batches of ``BATCH``."""
        network = load_network(self.backbone)
        scores: list[NimaScore] = []
        for start in range(0, len(images), BATCH):
            dist = distribution(network, preprocess(images[start : start + BATCH], network))
            means, stds = moments(dist)
            scores += [NimaScore(float(m), float(s), tuple(map(float, d))) for m, s, d in zip(means, stds, dist)]
        return scores

    def score_many(
        self,
        images: Sequence[np.ndarray | str],
        references: Sequence[np.ndarray | str] | None = None,
    ) -> list[float]:
        arrays = [as_rgb_uint8(load_image(i) if isinstance(i, str) else i) for i in images]
        return [s.mean for s in self.score_distributions(arrays)]
