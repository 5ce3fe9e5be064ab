"""DAN: deep alternating network for blind super-resolution (DANv1 and DANv2), pretrained.

Luo, Huang, Li, Wang, Tan: "Unfolding the Alternating Optimization for Blind Super Resolution"
(NeurIPS 2020) and "End-to-end Alternating Optimization for Blind Super Resolution" (2021).
Official code and checkpoints: https://github.com/greatlog/DAN. The networks are in
:mod:`models.dan.network` (imported only when a network is built: discovery stays light).

Checkpoints: the ten official files ``danv{1,2}_x{2,3,4}_setting1.pth`` and
``danv{1,2}_x{2,4}_setting2.pth`` (setting 1: isotropic Gaussian kernels, 21×21; setting 2:
anisotropic kernels of DIV2KRK, 11×11 for ×2, 21×21 / 31×31 for ×4), loaded unchanged.

Inference follows the official ``inference.py``: RGB in [0, 1], four alternating steps, the last
restoration clamped to [0, 1] and rounded to uint8. Large images run tile by tile (``tile``,
``tile_overlap``, in LR pixels) with the kernel estimate still averaged over the whole image; the
only difference from the untiled computation is then that DANv1's channel attention pools over a
window instead of the image, and the blending at window seams. ``tile: 0`` runs the official
computation on the whole image at once (memory grows with the image: ~3 GB for 512×512 at ×4).
"""
from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from restorebench.metrics.device import select_device
from restorebench.metrics.errors import RestoreBenchError
from restorebench.metrics.weights import WeightFile, declare, expect_layout
from restorebench.models.base import Method, Resources, register

MANIFEST = Path(__file__).with_name("manifest.json")
URL = "https://drive.google.com/drive/folders/1aOaxXFfMAM6GvvPz56lzUwVmg7BMM_mR"
LICENCE = "not stated (greatlog/DAN has no licence file)"

# (version, scale, setting) of every published checkpoint.
VARIANTS: tuple[tuple[str, int, int], ...] = tuple(
    (v, s, setting) for v in ("v1", "v2") for setting, scales in ((1, (2, 3, 4)), (2, (2, 4))) for s in scales
)


def variant_name(version: str, scale: int, setting: int) -> str:
    return f"{version}-x{scale}-setting{setting}"


def weights_key(version: str, scale: int, setting: int) -> str:
    return f"dan{version}-x{scale}-setting{setting}"


declare(*(
    WeightFile(
        key=weights_key(v, s, setting),
        filename=f"dan{v}_x{s}_setting{setting}.pth",
        url=URL,
        component=f"DAN{v} ×{s} setting {setting}",
        licence=LICENCE,
    )
    for v, s, setting in VARIANTS
))


class DANParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal["v1", "v2"] = Field("v1", description="DANv1 (NeurIPS 2020) or DANv2 (2021)")
    setting: Literal[1, 2] = Field(
        1, description="1: isotropic Gaussian kernels (×2/×3/×4); 2: anisotropic DIV2KRK kernels (×2/×4)"
    )
    scale: Literal[2, 3, 4] | None = Field(None, description="SR factor; default: the dataset's")
    tile: int = Field(256, ge=0, description="tile side in LR pixels for large inputs (0: whole image at once)")
    tile_overlap: int = Field(32, ge=0, description="context around each tile, LR pixels")


_LOCK = threading.Lock()


@functools.lru_cache(maxsize=2)
def _network(key: str, variant: str, device: str) -> Any:
    """The network of ``variant`` with the checkpoint of ``key`` loaded, on ``device`` (cached
    per process: cases of a run share it)."""
    from restorebench.models.dan.network import CONFIGS, DAN
    from restorebench.models.weights import load_checkpoint, load_into

    state = load_checkpoint(key)
    net = DAN(CONFIGS[variant])
    load_into(net, state, what=f"{key} ({CONFIGS[variant].variant})")
    return net.eval().requires_grad_(False).to(device)


def _layout_check(variant: str):
    def check(state: Any) -> list[str]:
        from restorebench.metrics.component import meta_shapes
        from restorebench.models.dan.network import CONFIGS, DAN
        from restorebench.models.weights import layout_problems, strip_prefix

        return layout_problems(strip_prefix(state), meta_shapes(lambda: DAN(CONFIGS[variant])))

    return check


for _v, _s, _setting in VARIANTS:
    expect_layout(weights_key(_v, _s, _setting), _layout_check(variant_name(_v, _s, _setting)))


@register()
class DANMethod(Method):
    """DAN blind SR with the official checkpoints (DANv1/DANv2, settings 1 and 2)."""

    name = "dan"
    tasks = frozenset({"sr"})
    Params = DANParams
    weights: ClassVar[tuple[str, ...]] = tuple(weights_key(*v) for v in VARIANTS)
    summary = "DAN (Luo et al. 2020/2021): alternating Restorer/Estimator, official checkpoints"

    @classmethod
    def networks(cls) -> list[dict[str, Any]]:
        """One row per published checkpoint: its network and parameter count."""
        return [dict(row) for row in _network_rows()]

    def _variant(self) -> tuple[str, int, int]:
        p = self.params
        scale = int(p.scale or self.ctx.scale)
        if (p.version, scale, p.setting) not in VARIANTS:
            have = sorted(s for v, s, st in VARIANTS if v == p.version and st == p.setting)
            raise RestoreBenchError(
                f"dan: no official DAN{p.version} checkpoint for ×{scale} in setting {p.setting} "
                f"(available: {', '.join(f'×{s}' for s in have)})"
            )
        return p.version, scale, p.setting

    def prepare(self, context) -> None:
        super().prepare(context)
        self._variant()  # fail early on a scale without a checkpoint

    def resources(self) -> Resources:
        """One GPU; on the CPU a 512×512 ×4 input peaks at 1.5 GiB with the default tiling
        (`tests/perf/dan_memory.py`)."""
        return Resources(gpus=1.0, memory_mb=2048)

    def sr_scales(self) -> frozenset[int]:
        p = self.params
        published = {s for v, s, setting in VARIANTS if v == p.version and setting == p.setting}
        return frozenset({p.scale} & published if p.scale else published)

    def weight_keys(self) -> tuple[str, ...]:
        return tuple(weights_key(self.params.version, s, self.params.setting) for s in sorted(self.sr_scales()))

    @property
    def weights_key(self) -> str:
        """The catalogue key of the checkpoint these parameters need."""
        return weights_key(*self._variant())

    def restore(self, image: np.ndarray) -> np.ndarray:
        import torch

        from restorebench.models.weights import image_to_tensor, tensor_to_image

        version, scale, setting = self._variant()
        device = select_device(self.ctx.device)
        with _LOCK:
            net = _network(weights_key(version, scale, setting), variant_name(version, scale, setting), str(device))
        with torch.no_grad():
            lr = image_to_tensor(image, device)
            sr = net.super_resolve(lr, tile=self.params.tile, overlap=self.params.tile_overlap)
            kernel = net.last_kernel
        self._kernel = None if kernel is None else kernel[0].double().cpu().numpy()
        return tensor_to_image(sr)

    def estimated_kernel(self):
        """DANv2's kernel estimate for the last image: its Estimator's softmax over ``k²`` taps after
        the last restoration, as the official loop returns it (DAN was trained on centred Gaussian
        kernels, which read the same as correlation or convolution kernels). DANv1 estimates only
        a PCA code of the kernel, which is not turned back into one: None."""
        return getattr(self, "_kernel", None)


@functools.cache
def _network_rows() -> tuple[dict[str, Any], ...]:
    from restorebench.models.dan.network import CONFIGS, DAN
    from restorebench.models.weights import meta_parameter_count

    rows = []
    for v, s, setting in VARIANTS:
        variant = variant_name(v, s, setting)
        rows.append({
            "variant": variant,
            "network": f"DAN{v}",
            "parameters": meta_parameter_count(lambda: DAN(CONFIGS[variant])),
            "weights_key": weights_key(v, s, setting),
        })
    return tuple(rows)
