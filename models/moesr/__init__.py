"""MoESR: blind SR with a kernel-aware mixture of experts, pretrained (×2 and ×4).

Emad, Peemen, Corporaal, "MoESR: Blind Super-Resolution using Kernel-Aware Mixture of Experts",
WACV 2022; official code https://github.com/memad73/MoESR (``codes/MoESR.py``). Networks:
:mod:`models.moesr.network`; fine-tuning: :mod:`models.moesr.finetune` (both imported only when
an image is restored).

Per image, as the official ``main.py`` does:

1. *Kernel estimation* — every expert (25 kernel shapes; 85 oriented kernels by rotating or
   flipping the input for θ ∈ {π/16, …, 15π/16}) upscales the image; ISE scores each output
   against the bicubic upsampling; KEN maps the 85 mean-squared scores to (λ1, λ2, θ).
2. *Expert choice* — the expert nearest to the estimate (its weights rotated/flipped to the
   estimated orientation).
3. *Test-time fine-tuning* of that expert on the image (DualSR-style cycle losses with the
   estimated kernel): 1000 iterations in profile ``paper`` (the official default), 100 in
   ``fast``.
4. The fine-tuned expert upscales the image (×4: two chained ×2 networks).

Checkpoints (official Google Drive folder, one sub-folder per scale): ``x2/SR_networks_ensemble.pt``,
``x2/ISE.pt``, ``x2/KEN.pt`` and the same for ``x4``; they install as
``moesr/x{2,4}/<name>`` in the weights folder because the names repeat across scales.

Assumptions where the official material is silent (also in ``site/docs/pretrained.md``):

- The ensemble file's layout is taken from how ``MoESR.py`` reads it: a mapping from
  ``'U_%.2f_%.2f_%.2f' % (λ1, λ2, θ_expert)`` to a sequence of expert state dicts (index 0 for ×2;
  0 and 1, the two chained passes, for ×4). The file itself is not in the public repository; a
  file of any other layout is rejected with a message that says so.
- Images smaller than the official 128-pixel fine-tuning crop use the largest multiple of 32
  that fits (the official sampler assumes ≥ 128); below 64 pixels MoESR refuses the image.
- Large images are processed in tiles (each expert pass: overlapping windows whose context covers
  the experts' receptive field, so the result equals the whole-image pass; ISE: blocks of its
  valid-convolution map, exact as well). The official code runs whole images on the GPU.
- ``real`` follows the official ``--real`` switch (noise σ = 0.04 on the downscaled crops, no
  border shave); its noise comes from a torch generator seeded with the case seed.
"""
from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from restorebench.metrics.device import select_device
from restorebench.metrics.errors import InvalidImageError, RestoreBenchError
from restorebench.metrics.weights import CATALOGUE, WeightFile, declare, expect_layout
from restorebench.models.base import Method, Resources, register

MANIFEST = Path(__file__).with_name("manifest.json")
URL = "https://drive.google.com/drive/folders/1v7Lthkp-nLwdXGGkqolBgl5H88oNDH6l"
LICENCE = "not stated (memad73/MoESR has no licence file)"
SCALES = (2, 4)
FILES = {"experts": "SR_networks_ensemble.pt", "ise": "ISE.pt", "ken": "KEN.pt"}
PROFILE_ITERATIONS = {"paper": 1000, "fast": 100}


def weights_key(scale: int, part: str) -> str:
    return f"moesr-x{scale}-{part}"


declare(*(
    WeightFile(
        key=weights_key(s, part),
        filename=f"moesr/x{s}/{name}",
        url=URL,
        component=f"MoESR ×{s} {'experts' if part == 'experts' else part.upper()}",
        licence=LICENCE,
    )
    for s in SCALES
    for part, name in FILES.items()
))


class MoESRParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    profile: Literal["paper", "fast"] = Field(
        "paper", description="paper: 1000 fine-tuning iterations (official); fast: 100"
    )
    iterations: int | None = Field(
        None, ge=0, le=100_000,
        description="fine-tuning iterations (overrides the profile; 0 = chosen expert without fine-tuning)",
    )
    scale: Literal[2, 4] | None = Field(None, description="SR factor; default: the dataset's")
    real: bool = Field(False, description="official --real: noisy downscaled crops, no border shave")
    tile: int = Field(128, ge=0, description="tile side in LR pixels for the expert passes (0: whole image)")
    tile_overlap: int = Field(24, ge=0, description="context around each tile, LR pixels")


_LOCK = threading.Lock()


def _expert_states(data: Any, scale: int) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """The experts' state dicts of an experts file, and what is wrong with its layout."""
    from restorebench.models.moesr.network import Expert, expert_ids
    from restorebench.models.weights import layout_problems, strip_prefix
    from restorebench.metrics.component import meta_shapes

    passes = 1 if scale == 2 else 2
    if not isinstance(data, dict):
        return {}, [f"expected a mapping of expert ids to state dicts, got {type(data).__name__}"]
    expected = meta_shapes(Expert)
    experts: dict[str, list[dict[str, Any]]] = {}
    for eid in expert_ids(scale):
        if eid not in data:
            return {}, [f"expert '{eid}' is missing ({len(data)} entries found)"]
        entry = data[eid]
        try:
            states = [strip_prefix(entry[i]) for i in range(passes)]
        except (KeyError, IndexError, TypeError):
            return {}, [f"expert '{eid}' should hold {passes} state dict(s) (×{scale}), got {type(entry).__name__}"]
        for i, state in enumerate(states):
            problems = layout_problems(state, expected)
            if problems:
                return {}, [f"expert '{eid}' pass {i}: " + "; ".join(problems)]
        experts[eid] = states
    return experts, []


@functools.lru_cache(maxsize=2)
def _experts(scale: int) -> dict[str, list[dict[str, Any]]]:
    """The 25 experts' state dicts (one or two passes each), checked against the official layout."""
    from restorebench.models.weights import CheckpointLayoutError, load_checkpoint

    key = weights_key(scale, "experts")
    experts, problems = _expert_states(load_checkpoint(key), scale)
    if problems:
        raise CheckpointLayoutError(f"{CATALOGUE[key].filename}: " + "; ".join(problems))
    return experts


def _small_layout_check(part: str):
    def check(state: Any) -> list[str]:
        from restorebench.metrics.component import meta_shapes
        from restorebench.models.moesr.network import ISE, KEN
        from restorebench.models.weights import layout_problems, strip_prefix

        return layout_problems(strip_prefix(state), meta_shapes(ISE if part == "ise" else KEN))

    return check


for _scale in SCALES:
    expect_layout(weights_key(_scale, "experts"), lambda data, s=_scale: _expert_states(data, s)[1])
    for _part in ("ise", "ken"):
        expect_layout(weights_key(_scale, _part), _small_layout_check(_part))


@functools.lru_cache(maxsize=4)
def _small_network(scale: int, part: str, device: str) -> Any:
    from restorebench.models.moesr.network import ISE, KEN
    from restorebench.models.weights import load_checkpoint, load_into

    key = weights_key(scale, part)
    net = ISE() if part == "ise" else KEN()
    load_into(net, load_checkpoint(key), what=CATALOGUE[key].filename)
    return net.eval().requires_grad_(False).to(device)


@register()
class MoESRMethod(Method):
    """MoESR with the official experts, ISE and KEN, and the official test-time fine-tuning."""

    name = "moesr"
    tasks = frozenset({"sr"})
    Params = MoESRParams
    weights: ClassVar[tuple[str, ...]] = tuple(weights_key(s, p) for s in SCALES for p in FILES)
    summary = "MoESR (Emad et al. 2022): kernel-aware mixture of 25 experts + test-time fine-tuning"

    def __init__(self, params: BaseModel | None = None, **kwargs: Any):
        super().__init__(params, **kwargs)
        self.estimate: dict[str, float] | None = None  # last estimated kernel and chosen expert

    @classmethod
    def networks(cls) -> list[dict[str, Any]]:
        """Per scale: one expert network, ISE and KEN (``count``: how many the file holds)."""
        return [dict(r) for r in _network_rows()]

    def _scale(self) -> int:
        scale = int(self.params.scale or self.ctx.scale)
        if scale not in SCALES:
            raise RestoreBenchError(f"moesr: official checkpoints exist for ×2 and ×4 only, not ×{scale}")
        return scale

    def prepare(self, context) -> None:
        super().prepare(context)
        self._scale()

    def resources(self) -> Resources:
        """One GPU: 25 experts (50 networks at ×4) and the per-image fine-tuning."""
        return Resources(gpus=1.0)

    def sr_scales(self) -> frozenset[int]:
        return frozenset({self.params.scale} if self.params.scale else SCALES)

    def weight_keys(self) -> tuple[str, ...]:
        return tuple(weights_key(s, part) for s in sorted(self.sr_scales()) for part in FILES)

    @property
    def iterations(self) -> int:
        p = self.params
        return p.iterations if p.iterations is not None else PROFILE_ITERATIONS[p.profile]

    def restore(self, image: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        from restorebench.models.moesr import network as N
        from restorebench.models.moesr.finetune import FinetuneConfig, finetune
        from restorebench.models.weights import image_to_tensor, tensor_to_image, tiled

        scale = self._scale()
        p = self.params
        device = select_device(self.ctx.device)
        with _LOCK:  # first: missing weights are reported as such, whatever the input
            experts = _experts(scale)
            ise = _small_network(scale, "ise", str(device))
            ken = _small_network(scale, "ken", str(device))
        if min(image.shape[:2]) * scale < N.ISE_FIELD:
            raise InvalidImageError(
                f"moesr: ISE needs an upscaled image of at least {N.ISE_FIELD} pixels a side; "
                f"{image.shape[1]}×{image.shape[0]} at ×{scale} is too small"
            )
        crop = self._crop(image, scale)
        passes = 1 if scale == 2 else 2
        nets = [N.Expert().to(device).eval().requires_grad_(False) for _ in range(passes)]

        def load(eid: str) -> None:
            for net, state in zip(nets, experts[eid]):
                net.load_state_dict(state)

        def upscale(x: torch.Tensor) -> torch.Tensor:
            for net in nets:
                x = net(x)
            return x

        def run(x: torch.Tensor) -> torch.Tensor:
            return tiled(upscale, x, scale=scale, tile=p.tile, overlap=p.tile_overlap)

        lambdas = N.LAMBDAS[scale]
        lr = image_to_tensor(image, device)
        with torch.no_grad():
            bicubic = F.interpolate(lr, scale_factor=scale, mode="bicubic")
            errors = []
            for l1 in lambdas:
                for l2 in lambdas:
                    for theta in N.THETAS:
                        if l2 > l1 or (l1 == l2 and theta != N.THETAS[0]):
                            continue
                        model_theta, how = N.fold(0.0 if l1 == l2 else theta)
                        load(N.expert_id(l1, l2, model_theta))
                        sr = N.untransform_image(run(N.transform_image(lr, how)), how)
                        errors.append(N.ise_mean_square(ise, sr, bicubic, window=512))
            k_l1, k_l2, k_theta = (float(v) for v in ken(torch.stack(errors)[None])[0])

        # The expert nearest to the estimate (official finetune_network).
        c1 = min(lambdas, key=lambda x: abs(x - k_l1))
        c2 = min(lambdas, key=lambda x: abs(x - k_l2))
        theta = min(N.THETAS, key=lambda x: abs(x - k_theta))
        model_theta, how = N.fold(theta)
        if c2 > c1:
            c1 = c2
        if c1 == c2:
            model_theta = 0.0
        eid = N.expert_id(c1, c2, model_theta)
        load(eid)
        for net in nets:
            N.transform_weights(net, how)
        self.estimate = {"lambda_1": k_l1, "lambda_2": k_l2, "theta": k_theta, "expert": eid, "transform": how}

        kernel = N.gaussian_kernel(k_l1, k_l2, k_theta, N.KERNEL_SIZE[scale], scale)
        kernel_2x = N.gaussian_kernel(k_l1 / 5, k_l2 / 5, k_theta, 13, 2) if scale == 4 else None
        config = FinetuneConfig(iterations=self.iterations, crop=crop, real=p.real, seed=self.ctx.seed)
        finetune(nets, image, scale, kernel, kernel_2x, config, device)
        for net in nets:
            net.eval().requires_grad_(False)
        with torch.no_grad():
            out = run(lr)
        return tensor_to_image(out)

    def _crop(self, image: np.ndarray, scale: int) -> int:
        """Fine-tuning crop: the official 128, or the largest multiple of 32 that fits."""
        if self.iterations == 0:
            return 128
        h, w = image.shape[:2]
        side = min(h, w)
        if not self.params.real and h > 160 and w > 160:
            side -= 20
        crop = min(128, side // 32 * 32)
        if crop < 64:
            raise InvalidImageError(
                f"moesr: fine-tuning needs an input of at least 64×64 pixels, got {w}×{h} "
                "(or set iterations: 0 to use the chosen expert without fine-tuning)"
            )
        return crop


@functools.cache
def _network_rows() -> tuple[dict[str, Any], ...]:
    from restorebench.models.moesr.network import ISE, KEN, Expert
    from restorebench.models.weights import meta_parameter_count

    expert, ise, ken = (meta_parameter_count(c) for c in (Expert, ISE, KEN))
    rows = []
    for s in SCALES:
        rows += [
            {"variant": f"x{s}", "network": "expert (SR_Net, ×2 pass)", "parameters": expert,
             "count": 25 * (1 if s == 2 else 2), "weights_key": weights_key(s, "experts")},
            {"variant": f"x{s}", "network": "ISE", "parameters": ise, "count": 1, "weights_key": weights_key(s, "ise")},
            {"variant": f"x{s}", "network": "KEN", "parameters": ken, "count": 1, "weights_key": weights_key(s, "ken")},
        ]
    return tuple(rows)

