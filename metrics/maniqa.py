"""MANIQA (Yang et al., CVPRW 2022, winner of the NTIRE 2022 NR-IQA challenge): no-reference
quality from ViT features, transposed attention and scaled Swin blocks; higher is better.

Architecture of the official code, https://github.com/IIGROUP/MANIQA (``models/maniqa.py``,
``models/swin.py``), with the configuration of its ``train_maniqa.py`` / ``predict_one_image.py``
(embed_dim 768, dim_mlp 768, 4 heads, window 4, depths [2, 2], 2 TABs per stage), re-written here
so that the published checkpoints load unchanged (strict key and shape match, layout committed in
``metrics/data/maniqa_manifest.json``):

- ``vit``: timm ``vit_base_patch8_224`` built with ``pretrained=False`` (every backbone weight
  comes from the checkpoint; nothing is downloaded); the patch tokens after blocks 6, 7, 8 and 9
  are concatenated (3072 channels on the 28×28 grid);
- stage 1: 2 transposed-attention blocks (attention across channels), 1×1 conv to 768, a scaled
  Swin transformer (2 layers × 2 blocks, each layer ``x ← scale·layer(x) + x``); stage 2 the same
  down to 384 channels;
- per-patch score (ReLU) and weight (sigmoid) heads; image score ``Σ s·w / Σ w``.

Checkpoints (option ``checkpoint``):

- ``koniq10k``: ``ckpt_koniq10k.pt`` (IIGROUP release ``Koniq10k``), Swin scale 0.8;
- ``kadid10k``: ``ckpt_kadid10k.pt`` (IIGROUP release ``Kadid10k``), Swin scale 0.8;
- ``pipal``: ``MANIQA_PIPAL-ae6d356b.pth`` (IQA-PyTorch's conversion of the NTIRE 2022 PIPAL
  model), Swin scale 0.13 — the value IQA-PyTorch's ``maniqa_arch.py`` uses for it.

Protocols (option ``protocol``), both on RGB in [0, 1] normalised as ``(x − 0.5) / 0.5``:

- ``study`` (default): the whole image resized to 224×224 with bicubic interpolation (PIL, as
  torchvision's ``Resize`` on PIL images), one pass — what the blind-SR study did;
- ``crops``: the official single-image evaluation (``predict_one_image.py``): 20 random 224×224
  crops drawn with numpy's generator seeded 20 (``top``, then ``left``, per crop), mean of the
  20 scores. Images with a side of 224 pixels or less, where the official sampler fails, are
  first enlarged (PIL bicubic, aspect kept) to a short side of 225 — an assumption of ours.

Always eval mode without autograd: deterministic. The network is built once per process and
checkpoint. torch and timm are imported on first use only (the metric registry imports every
module of this package).
"""
from __future__ import annotations

import functools
import math
import threading
from types import SimpleNamespace
from typing import Any, Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from restorebench.metrics.base import Metric, register
from restorebench.metrics.device import select_device
from restorebench.metrics.weights import WeightFile, declare, expect_layout, load_state, resolve

Checkpoint = Literal["koniq10k", "kadid10k", "pipal"]
Protocol = Literal["study", "crops"]
CROP = 224
N_CROPS = 20
CROP_SEED = 20
BATCH = 4
_IIGROUP = "https://github.com/IIGROUP/MANIQA/releases/download"
_PYIQA = "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main"

# checkpoint → (catalogue entry, Swin residual scale)
CHECKPOINTS: dict[str, tuple[WeightFile, float]] = {
    "koniq10k": (
        WeightFile(
            key="maniqa-koniq10k", filename="ckpt_koniq10k.pt", url=f"{_IIGROUP}/Koniq10k/ckpt_koniq10k.pt",
            component="metric maniqa (koniq10k)", licence="Apache-2.0 (IIGROUP/MANIQA)",
        ),
        0.8,
    ),
    "kadid10k": (
        WeightFile(
            key="maniqa-kadid10k", filename="ckpt_kadid10k.pt", url=f"{_IIGROUP}/Kadid10k/ckpt_kadid10k.pt",
            component="metric maniqa (kadid10k)", licence="Apache-2.0 (IIGROUP/MANIQA)",
        ),
        0.8,
    ),
    "pipal": (
        WeightFile(
            key="maniqa-pipal", filename="MANIQA_PIPAL-ae6d356b.pth", url=f"{_PYIQA}/MANIQA_PIPAL-ae6d356b.pth",
            component="metric maniqa (pipal)",
            licence="IQA-PyTorch release weights (PolyForm Noncommercial 1.0.0); model by IIGROUP (Apache-2.0)",
        ),
        0.13,
    ),
}
declare(*(wf for wf, _ in CHECKPOINTS.values()))


@functools.cache
def _nn() -> SimpleNamespace:
    """The network classes (defined on first use: torch is imported only then)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class TABlock(nn.Module):
        """Transposed attention block: attention between channels, tokens as features."""

        def __init__(self, dim: int, drop: float = 0.1):
            super().__init__()
            self.c_q = nn.Linear(dim, dim)
            self.c_k = nn.Linear(dim, dim)
            self.c_v = nn.Linear(dim, dim)
            self.norm_fact = dim ** -0.5
            self.proj_drop = nn.Dropout(drop)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, c, n = x.shape
            attn = torch.softmax(self.c_q(x) @ self.c_k(x).transpose(-2, -1) * self.norm_fact, dim=-1)
            # The official block reshapes the transposed product (B, N, C) into (B, C, N) as is.
            y = (attn @ self.c_v(x)).transpose(1, 2).reshape(b, c, n)
            return self.proj_drop(y) + x

    def window_partition(x: torch.Tensor, w: int) -> torch.Tensor:
        b, h, ww, c = x.shape
        x = x.view(b, h // w, w, ww // w, w, c)
        return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, w, w, c)

    def window_reverse(windows: torch.Tensor, w: int, h: int, ww: int) -> torch.Tensor:
        b = windows.shape[0] // ((h // w) * (ww // w))
        x = windows.view(b, h // w, ww // w, w, w, -1)
        return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, ww, -1)

    class WindowAttention(nn.Module):
        """Window multi-head self-attention with a learned relative position bias."""

        def __init__(self, dim: int, window: int, heads: int):
            super().__init__()
            self.window = window
            self.heads = heads
            self.scale = (dim // heads) ** -0.5
            self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
            coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
            rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
            rel[:, :, 0] += window - 1
            rel[:, :, 1] += window - 1
            rel[:, :, 0] *= 2 * window - 1
            self.register_buffer("relative_position_index", rel.sum(-1))
            self.qkv = nn.Linear(dim, dim * 3)
            self.proj = nn.Linear(dim, dim)
            nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

        def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
            b, n, c = x.shape
            qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
            attn = q @ k.transpose(-2, -1)
            bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
            attn = attn + bias.permute(2, 0, 1).unsqueeze(0)
            if mask is not None:
                nw = mask.shape[0]
                attn = attn.view(b // nw, nw, self.heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
                attn = attn.view(-1, self.heads, n, n)
            attn = torch.softmax(attn, dim=-1)
            return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))

    class Mlp(nn.Module):
        def __init__(self, dim: int, hidden: int):
            super().__init__()
            self.fc1 = nn.Linear(dim, hidden)
            self.act = nn.GELU()
            self.fc2 = nn.Linear(hidden, dim)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc2(self.act(self.fc1(x)))

    class SwinBlock(nn.Module):
        def __init__(self, dim: int, resolution: tuple[int, int], heads: int, window: int, shift: int, dim_mlp: int):
            super().__init__()
            self.resolution = resolution
            if min(resolution) <= window:  # official: no partition when the window covers all
                shift, window = 0, min(resolution)
            self.window, self.shift = window, shift
            self.norm1 = nn.LayerNorm(dim)
            self.attn = WindowAttention(dim, window, heads)
            self.norm2 = nn.LayerNorm(dim)
            self.mlp = Mlp(dim, dim_mlp)
            mask = None
            if shift > 0:
                h, w = resolution
                img = torch.zeros(1, h, w, 1)
                cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
                for i, (hs, ws) in enumerate((hs, ws) for hs in cuts for ws in cuts):
                    img[:, hs, ws, :] = i
                windows = window_partition(img, window).view(-1, window * window)
                mask = windows.unsqueeze(1) - windows.unsqueeze(2)
                mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
            self.register_buffer("attn_mask", mask)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h, w = self.resolution
            b, _, c = x.shape
            y = self.norm1(x).view(b, h, w, c)
            if self.shift:
                y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
            windows = window_partition(y, self.window).view(-1, self.window * self.window, c)
            windows = self.attn(windows, self.attn_mask).view(-1, self.window, self.window, c)
            y = window_reverse(windows, self.window, h, w)
            if self.shift:
                y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
            x = x + y.reshape(b, h * w, c)
            return x + self.mlp(self.norm2(x))

    class BasicLayer(nn.Module):
        """Swin blocks (plain, then shifted), then a 3×3 conv with ReLU on the grid."""

        def __init__(self, dim: int, resolution: tuple[int, int], depth: int, heads: int, window: int, dim_mlp: int):
            super().__init__()
            self.resolution = resolution
            self.conv = nn.Conv2d(dim, dim, 3, 1, 1)
            self.blocks = nn.ModuleList([
                SwinBlock(dim, resolution, heads, window, 0 if i % 2 == 0 else window // 2, dim_mlp) for i in range(depth)
            ])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for block in self.blocks:
                x = block(x)
            b, n, c = x.shape
            h, w = self.resolution
            grid = x.transpose(1, 2).reshape(b, c, h, w)
            return F.relu(self.conv(grid)).flatten(2).transpose(1, 2)

    class SwinTransformer(nn.Module):
        """Scaled residual Swin stage: ``x ← scale·layer(x) + x`` per layer. ``downsample`` is
        part of the official module (and of its checkpoints) but unused in its forward pass."""

        def __init__(self, resolution: tuple[int, int], depths: list[int], heads: list[int], dim: int,
                     window: int, dim_mlp: int, scale: float):
            super().__init__()
            self.scale = scale
            self.resolution = resolution
            self.downsample = nn.Conv2d(dim, dim, 3, 2, 1)
            self.layers = nn.ModuleList([
                BasicLayer(dim, resolution, d, h, window, dim_mlp) for d, h in zip(depths, heads)
            ])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, c, h, w = x.shape
            x = x.flatten(2).transpose(1, 2)
            for layer in self.layers:
                x = self.scale * layer(x) + x
            return x.transpose(1, 2).reshape(b, c, h, w)

    class MANIQANet(nn.Module):
        def __init__(self, scale: float, embed_dim: int = 768, dim_mlp: int = 768, img_size: int = CROP,
                     patch_size: int = 8, window: int = 4, depths: tuple[int, ...] = (2, 2),
                     heads: tuple[int, ...] = (4, 4), num_tab: int = 2, drop: float = 0.1):
            super().__init__()
            import timm

            self.grid = img_size // patch_size
            resolution = (self.grid, self.grid)
            self.vit = timm.create_model("vit_base_patch8_224", pretrained=False)
            for module in self.vit.modules():  # explicit softmax attention, as the official timm 0.5:
                if hasattr(module, "fused_attn"):  # bit-identical scores (SDPA differs by ~1e-5)
                    module.fused_attn = False
            self.tablock1 = nn.ModuleList([TABlock(self.grid ** 2) for _ in range(num_tab)])
            self.conv1 = nn.Conv2d(embed_dim * 4, embed_dim, 1, 1, 0)
            self.swintransformer1 = SwinTransformer(resolution, list(depths), list(heads), embed_dim, window, dim_mlp, scale)
            self.tablock2 = nn.ModuleList([TABlock(self.grid ** 2) for _ in range(num_tab)])
            self.conv2 = nn.Conv2d(embed_dim, embed_dim // 2, 1, 1, 0)
            self.swintransformer2 = SwinTransformer(resolution, list(depths), list(heads), embed_dim // 2, window, dim_mlp, scale)
            half = embed_dim // 2
            self.fc_score = nn.Sequential(nn.Linear(half, half), nn.ReLU(), nn.Dropout(drop), nn.Linear(half, 1), nn.ReLU())
            self.fc_weight = nn.Sequential(nn.Linear(half, half), nn.ReLU(), nn.Dropout(drop), nn.Linear(half, 1), nn.Sigmoid())

        def features(self, x: torch.Tensor) -> torch.Tensor:
            """Patch tokens after ViT blocks 6–9 (0-based), concatenated: ``(B, 784, 3072)``."""
            tokens = self.vit.forward_intermediates(
                x, indices=[6, 7, 8, 9], norm=False, stop_early=True, output_fmt="NLC", intermediates_only=True
            )
            return torch.cat(tokens, dim=2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            """Scores ``(B,)`` of normalised 224×224 RGB inputs."""
            g = self.grid
            f = self.features(x).transpose(1, 2)  # b c (h w)
            for tab in self.tablock1:
                f = tab(f)
            f = self.swintransformer1(self.conv1(f.reshape(f.shape[0], -1, g, g)))
            f = f.flatten(2)
            for tab in self.tablock2:
                f = tab(f)
            f = self.swintransformer2(self.conv2(f.reshape(f.shape[0], -1, g, g)))
            f = f.flatten(2).transpose(1, 2)  # b (h w) c
            score, weight = self.fc_score(f)[..., 0], self.fc_weight(f)[..., 0]
            return (score * weight).sum(dim=1) / weight.sum(dim=1)

    return SimpleNamespace(MANIQANet=MANIQANet, TABlock=TABlock, SwinTransformer=SwinTransformer)


def build(checkpoint: str = "koniq10k") -> Any:
    """An untrained MANIQA network configured for ``checkpoint`` (for tests and layout checks)."""
    return _nn().MANIQANet(scale=CHECKPOINTS[checkpoint][1])


_LOCK = threading.Lock()


def _network_state(state: Any) -> dict[str, Any]:
    if isinstance(state, dict) and "params" in state and isinstance(state["params"], dict):
        state = state["params"]  # IQA-PyTorch's training-state container
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def _layout(state: dict[str, Any], expected: dict[str, tuple[int, ...]]) -> tuple[list[str], list[str], list[str]]:
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(getattr(state[k], "shape", ())) != tuple(expected[k])]
    return missing, unexpected, wrong


def _layout_check(checkpoint: str):
    def check(state: Any) -> list[str]:
        from restorebench.metrics.component import meta_shapes

        missing, unexpected, wrong = _layout(_network_state(state), {k: tuple(v) for k, v in meta_shapes(lambda: build(checkpoint)).items()})
        return ([f"{len(missing)} missing key(s), e.g. {missing[:3]}"] if missing else []) + (
            [f"{len(unexpected)} unexpected key(s), e.g. {unexpected[:3]}"] if unexpected else []) + (
            [f"{len(wrong)} key(s) of another shape, e.g. {wrong[:3]}"] if wrong else [])

    return check


for _name, _files in CHECKPOINTS.items():
    expect_layout(_files[0].key, _layout_check(_name))


@functools.lru_cache(maxsize=2)
def load_network(checkpoint: str, device: str = "cpu") -> Any:
    """The network with ``checkpoint``'s weights, eval mode, on ``device`` (cached per process).

    Raises :class:`~metrics.errors.WeightsUnavailableError` when the file is missing or fails
    its hash check, and :class:`~metrics.errors.RestoreBenchError` when its layout differs."""
    from restorebench.metrics.errors import RestoreBenchError

    wf = CHECKPOINTS[checkpoint][0]
    path = resolve(wf.key)
    state = _network_state(load_state(path))
    net = build(checkpoint)
    missing, unexpected, wrong = _layout(state, {k: tuple(v.shape) for k, v in net.state_dict().items()})
    if missing or unexpected or wrong:
        raise RestoreBenchError(
            f"{path} is not a MANIQA checkpoint of the official layout: {len(missing)} missing key(s) "
            f"{missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}, {len(wrong)} of another shape {wrong[:3]}"
        )
    net.load_state_dict(state, strict=True)
    return net.eval().requires_grad_(False).to(device)


def _normalised(image: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) → float32 (3, H, W), ``(x/255 − 0.5) / 0.5``."""
    x = image.astype(np.float32) / np.float32(255.0)
    return ((x - np.float32(0.5)) / np.float32(0.5)).transpose(2, 0, 1)


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC))


def study_input(image: np.ndarray) -> np.ndarray:
    """``(1, 3, 224, 224)``: the image resized to 224×224, bicubic, normalised."""
    return _normalised(_resize(image, (CROP, CROP)))[None]


def crop_inputs(image: np.ndarray) -> np.ndarray:
    """``(20, 3, 224, 224)``: the official 20 random crops (numpy seed 20), normalised."""
    h, w = image.shape[:2]
    if min(h, w) <= CROP:
        factor = (CROP + 1) / min(h, w)
        w, h = max(CROP + 1, round(w * factor)), max(CROP + 1, round(h * factor))
        image = _resize(image, (w, h))
    x = _normalised(image)
    rng = np.random.RandomState(CROP_SEED)
    crops = []
    for _ in range(N_CROPS):
        top = rng.randint(0, h - CROP)
        left = rng.randint(0, w - CROP)
        crops.append(x[:, top:top + CROP, left:left + CROP])
    return np.stack(crops)


@register()
class MANIQA(Metric):
    """MANIQA score of the official checkpoints; higher is better (about 0…1)."""

    name = "maniqa"
    kind = "NR"
    higher_is_better = True
    value_range = (0.0, math.inf)
    min_size = 1
    conventions = (
        "IIGROUP MANIQA (ViT-B/8 + TAB + scaled Swin), RGB (x/255−0.5)/0.5; study: PIL bicubic resize to "
        "224×224, one pass; crops: mean over the official 20 random 224×224 crops (numpy seed 20); eval mode"
    )

    weights = tuple(files[0].key for files in CHECKPOINTS.values())

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        checkpoint: Checkpoint = Field("koniq10k", description="the official checkpoint (training set)")
        protocol: Protocol = Field("study", description="'study': one 224×224 PIL-bicubic resize; 'crops': the official 20 random crops")

    def weight_keys(self) -> tuple[str, ...]:
        return (CHECKPOINTS[self.params.checkpoint][0].key,)

    @classmethod
    def networks(cls) -> list[dict[str, Any]]:
        from restorebench.metrics.component import meta_parameter_count

        count = meta_parameter_count(build)
        return [{"variant": name, "network": "MANIQA (ViT-B/8 + TAB + Swin)", "parameters": count,
                 "weights_key": files[0].key} for name, files in CHECKPOINTS.items()]

    def compute(self, image: np.ndarray, reference: np.ndarray | None) -> float:
        import torch

        device = select_device("auto")
        with _LOCK:
            net = load_network(self.params.checkpoint, str(device))
        batch = study_input(image) if self.params.protocol == "study" else crop_inputs(image)
        scores = []
        with torch.no_grad():
            for start in range(0, len(batch), BATCH):
                x = torch.from_numpy(np.ascontiguousarray(batch[start:start + BATCH])).to(device)
                scores.append(net(x).double().cpu())
        return float(torch.cat(scores).mean())

