"""NIMA (Talebi & Milanfar, 2018): aesthetic quality as a distribution over scores 1…10.

Two variants (option ``variant``); both score the mean ``Σ i·p_i`` of the predicted distribution
(:meth:`NIMA.score` also gives its standard deviation ``√(Σ (i − mean)²·p_i)``).

``pyiqa`` (default): the architecture of IQA-PyTorch (``pyiqa/archs/nima_arch.py``), so that its
published AVA checkpoints load unchanged (state dict under ``"params"``, strict key match):

- ``base_model``: ``timm.create_model(backbone, features_only=True)`` (built here with
  ``pretrained=False``: the checkpoint holds every backbone weight, nothing is downloaded);
- the last feature map → global average pool → ``classifier = [Flatten, Dropout(0), Linear(C, 10),
  Softmax]`` (so the linear layer's keys are ``classifier.2.weight`` / ``classifier.2.bias``);
- test-time preprocessing of IQA-PyTorch's eval mode: RGB in ``[0, 1]``, shorter side resized
  to the backbone's input size (299 for ``inception_resnet_v2``, 224 for ``vgg16``; torchvision
  bilinear with antialiasing), centre crop to a square of that size, then normalisation with
  timm's ``pretrained_cfg`` mean and std ((0.5, 0.5, 0.5)/(0.5, 0.5, 0.5) for Inception,
  ImageNet's for VGG); always eval mode.

``study``: the NIMA of the SinGAN deblurring study (``Image_Quality_Assessment.ipynb`` of
PSR253600/NIMA_Analysis_on_Image_Deblurring_using_SinGAN), which ran ``main.py`` of
aigagror/ML-Aesthetics-NIMA:

- torchvision's DenseNet-121 with ``classifier = Sequential(Linear(1024, 10), Softmax(1))``,
  loading ``weights/dense121_all.pt`` of that repository — a bare state dict with torchvision's
  key names (``features.…``, ``classifier.0.weight``, ``classifier.0.bias``), loaded strictly;
- preprocessing ``Resize(224)`` (shorter side to 224, PIL bilinear, the longer side
  ``int(224·long/short)``), ``CenterCrop(224)`` (offsets ``int(round((side − 224)/2))``),
  ``ToTensor()`` — **no normalisation**;
- **the network is never put in eval mode**: ``main.py`` builds it, loads the weights and calls it
  under ``torch.no_grad()`` in training mode. DenseNet-121 has no dropout (``drop_rate`` 0, none in
  the head), so the one effect is BatchNorm: every layer normalises the image by the statistics
  of that image (a batch of one) instead of the AVA running averages. The outputs stay
  deterministic, but they lose most of their spread — every score the study published lies in
  5.38 … 5.43. Option ``network_mode``: ``"train"`` (the default of this variant, which exists to
  reproduce the study's numbers: the study's behaviour, one image per forward pass so that batch
  statistics never mix images) or ``"eval"`` (the model as trained, with its running statistics —
  what its author's own evaluation used).

Missing weights raise :class:`~metrics.errors.WeightsUnavailableError` naming the file, its
official download location and the folders searched; the runner records the score as
unavailable. torch, torchvision and timm are imported on first use only (the metric registry
imports every module of this package).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from restorebench.metrics.base import Metric, register
from restorebench.metrics.errors import WeightsUnavailableError
from restorebench.metrics.imageio import as_rgb_uint8, load_image
from restorebench.metrics.weights import WeightFile, declare, expect_layout, load_state, resolve

Variant = Literal["pyiqa", "study"]
Backbone = Literal["inception_resnet_v2", "vgg16"]
NetworkMode = Literal["train", "eval"]
BACKBONES: tuple[str, ...] = ("inception_resnet_v2", "vgg16")
NUM_BINS = 10
STUDY_SIDE = 224
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
STUDY_WEIGHTS = WeightFile(
    key="nima-study-densenet121",
    filename="dense121_all.pt",
    url="https://github.com/aigagror/ML-Aesthetics-NIMA/raw/master/weights/dense121_all.pt",
    component="metric nima (variant study: DenseNet-121 of ML-Aesthetics-NIMA)",
    licence="no licence stated by aigagror/ML-Aesthetics-NIMA (trained on AVA)",
)
declare(*WEIGHT_FILES.values(), STUDY_WEIGHTS)


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


def _state_problems(state: dict[str, Any], expected: dict[str, list[int]]) -> list[str]:
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and list(getattr(state[k], "shape", ())) != expected[k]]
    return ([f"{len(missing)} missing key(s), e.g. {missing[:3]}"] if missing else []) + (
        [f"{len(unexpected)} unexpected key(s), e.g. {unexpected[:3]}"] if unexpected else []) + (
        [f"{len(wrong)} key(s) of another shape, e.g. {wrong[:3]}"] if wrong else [])


def _meta_shapes(build) -> dict[str, list[int]]:
    from restorebench.metrics.component import meta_shapes

    return meta_shapes(build)


for _backbone, _wf in WEIGHT_FILES.items():
    expect_layout(_wf.key, lambda state, b=_backbone: _state_problems(checkpoint_params(state), _meta_shapes(lambda: build_network(b))))


def load_network(backbone: str, *, device: str | None = None):
    """Resolve the backbone's checkpoint (hash-checked) and return the loaded network."""
    from restorebench.metrics.device import select_device

    path = resolve(WEIGHT_FILES[backbone].key)
    st = path.stat()
    return _load(backbone, str(path), st.st_size, st.st_mtime_ns, str(device or select_device()))


def build_study_network():
    """ML-Aesthetics-NIMA's network with random weights: torchvision DenseNet-121 whose classifier
    is ``Sequential(Linear(1024, 10), Softmax(1))`` (the checkpoint provides every weight)."""
    from torch import nn
    from torchvision.models import densenet121

    net = densenet121(weights=None)
    net.classifier = nn.Sequential(nn.Linear(net.classifier.in_features, NUM_BINS), nn.Softmax(1))
    return net


@functools.lru_cache(maxsize=4)
def _load_study(path: str, size: int, mtime_ns: int, device: str, mode: str):
    """The study's network with the checkpoint at ``path`` in ``mode`` on ``device`` (cached per
    process and mode: a train-mode forward updates the BatchNorm buffers, which an eval-mode
    network must never see)."""
    import torch

    net = build_study_network()
    state = load_state(Path(path))
    try:
        net.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        wf = STUDY_WEIGHTS
        raise WeightsUnavailableError(
            f"{wf.component}: {path} does not have the layout of ML-Aesthetics-NIMA's {wf.filename} "
            f"({str(exc).splitlines()[0]}); download the official file from {wf.url}",
            filename=wf.filename, url=wf.url, destination=str(Path(path).parent),
        ) from None
    net.train(mode == "train")
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    return net.to(torch.device(device))


expect_layout(STUDY_WEIGHTS.key, lambda state: _state_problems(state, _meta_shapes(build_study_network)))


def load_study_network(*, mode: str = "train", device: str | None = None):
    """Resolve ``dense121_all.pt`` and return the study's network in ``mode``."""
    from restorebench.metrics.device import select_device

    path = resolve(STUDY_WEIGHTS.key)
    st = path.stat()
    return _load_study(str(path), st.st_size, st.st_mtime_ns, str(device or select_device()), mode)


def study_input(image: np.ndarray):
    """``(1, 3, 224, 224)`` float tensor of ``Resize(224)``, ``CenterCrop(224)``, ``ToTensor()``
    applied to the PIL image, as ``main.py`` does (bilinear, no normalisation)."""
    import torch
    from PIL import Image

    pil = Image.fromarray(np.ascontiguousarray(image))
    w, h = pil.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(STUDY_SIDE * long / short)
    size = (STUDY_SIDE, new_long) if w <= h else (new_long, STUDY_SIDE)
    if size != (w, h):
        pil = pil.resize(size, Image.Resampling.BILINEAR)
    w, h = pil.size
    top, left = int(round((h - STUDY_SIDE) / 2.0)), int(round((w - STUDY_SIDE) / 2.0))
    crop = np.asarray(pil.crop((left, top, left + STUDY_SIDE, top + STUDY_SIDE)), dtype=np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))[None]


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


def study_distribution(network, batch) -> np.ndarray:
    """Softmax distribution ``(B, 10)`` of the study's network, in the mode it is in, under
    ``torch.no_grad()`` as ``main.py`` calls it."""
    import torch

    device = next(network.parameters()).device
    with torch.no_grad():
        return network(batch.to(device)).double().cpu().numpy()


def moments(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``Σ i·p_i`` and std ``√(Σ (i − mean)²·p_i)`` over bins ``i = 1…10``, per row."""
    bins = np.arange(1, dist.shape[-1] + 1, dtype=np.float64)
    mean = dist @ bins
    var = (dist * (bins[None, :] - mean[:, None]) ** 2).sum(axis=1)
    return mean, np.sqrt(np.maximum(var, 0.0))


@register()
class NIMA(Metric):
    """NIMA mean score, 1 (worst) … 10 (best): IQA-PyTorch's AVA checkpoints (``variant="pyiqa"``)
    or the SinGAN study's DenseNet-121 (``variant="study"``)."""

    name = "nima"
    kind = "NR"
    higher_is_better = True
    value_range = (1.0, 10.0)
    min_size = 1
    conventions = (
        "IQA-PyTorch NIMA (AVA): RGB [0,1], shorter side → 299 (VGG16: 224) bilinear antialiased, centre crop, "
        "timm mean/std; mean of the 10-bin distribution; eval mode"
    )

    weights = (*(f.key for f in WEIGHT_FILES.values()), STUDY_WEIGHTS.key)

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        variant: Variant = Field("pyiqa", description="'pyiqa': IQA-PyTorch's AVA checkpoints; 'study': the SinGAN study's DenseNet-121 (ML-Aesthetics-NIMA)")
        backbone: Backbone | Literal["densenet121"] | None = Field(None, description="pyiqa: inception_resnet_v2 (default) or vgg16; study: densenet121")
        network_mode: NetworkMode | None = Field(None, description="study only: 'train' (as the study ran it, default) or 'eval'")

        @model_validator(mode="after")
        def _defaults(self) -> "NIMA.Params":
            if self.variant == "pyiqa":
                if self.backbone == "densenet121":
                    raise ValueError("variant 'pyiqa' has backbones inception_resnet_v2 and vgg16; densenet121 is variant 'study'")
                if self.network_mode not in (None, "eval"):
                    raise ValueError("variant 'pyiqa' runs in eval mode only (network_mode applies to variant 'study')")
                self.backbone, self.network_mode = self.backbone or "inception_resnet_v2", None
            else:
                if self.backbone not in (None, "densenet121"):
                    raise ValueError(f"variant 'study' has a DenseNet-121 backbone, got backbone={self.backbone!r}")
                self.backbone, self.network_mode = None, self.network_mode or "train"
            return self

    def __init__(self, params: BaseModel | None = None, **kwargs):
        super().__init__(params, **kwargs)
        if self.params.variant == "study":
            mode = self.params.network_mode
            self.conventions = (
                "SinGAN study / ML-Aesthetics-NIMA: DenseNet-121, PIL bilinear Resize(224) + CenterCrop(224), "
                f"[0,1] RGB without normalisation, {mode} mode"
                + (" (BatchNorm on each image's own statistics, one image per pass)" if mode == "train" else "")
                + "; mean of the 10-bin distribution"
            )

    @property
    def params_dict(self) -> dict[str, Any]:
        """The parameters that apply to the variant (the others are None and left out)."""
        return {key: value for key, value in super().params_dict.items() if value is not None}

    def weight_keys(self) -> tuple[str, ...]:
        return (STUDY_WEIGHTS.key,) if self.params.variant == "study" else (WEIGHT_FILES[self.params.backbone].key,)

    @classmethod
    def networks(cls) -> list[dict[str, Any]]:
        from restorebench.metrics.component import meta_parameter_count

        rows = [{"variant": f"pyiqa {backbone}", "network": f"NIMA ({backbone})", "parameters": meta_parameter_count(lambda b=backbone: build_network(b)),
                 "weights_key": WEIGHT_FILES[backbone].key} for backbone in BACKBONES]
        rows.append({"variant": "study", "network": "NIMA (DenseNet-121)", "parameters": meta_parameter_count(build_study_network),
                     "weights_key": STUDY_WEIGHTS.key})
        return rows

    @property
    def backbone(self) -> str:
        return self.params.backbone or "densenet121"

    def compute(self, image: np.ndarray, reference: np.ndarray | None) -> float:
        return self.score(image).mean

    def score(self, image: np.ndarray) -> NimaScore:
        """Mean, std and distribution for one uint8 RGB image."""
        return self.score_distributions([as_rgb_uint8(image)])[0]

    def score_distributions(self, images: Sequence[np.ndarray]) -> list[NimaScore]:
        """:class:`NimaScore` of each image, evaluated in batches of ``BATCH`` (one by one for the
        study's train mode, whose BatchNorm would otherwise mix the images of a batch)."""
        if not images:
            return []
        if self.params.variant == "study":
            chunks = self._study_distributions(images)
        else:
            network = load_network(self.backbone)
            chunks = [distribution(network, preprocess(images[s : s + BATCH], network)) for s in range(0, len(images), BATCH)]
        dist = np.concatenate(chunks)
        means, stds = moments(dist)
        return [NimaScore(float(m), float(s), tuple(map(float, d))) for m, s, d in zip(means, stds, dist)]

    def _study_distributions(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        import torch

        mode = self.params.network_mode
        network = load_study_network(mode=mode)
        step = 1 if mode == "train" else BATCH
        return [
            study_distribution(network, torch.cat([study_input(image) for image in images[s : s + step]]))
            for s in range(0, len(images), step)
        ]

    def score_many(
        self,
        images: Sequence[np.ndarray | str],
        references: Sequence[np.ndarray | str] | None = None,
    ) -> list[float]:
        arrays = [as_rgb_uint8(load_image(i) if isinstance(i, str) else i) for i in images]
        return [s.mean for s in self.score_distributions(arrays)]
