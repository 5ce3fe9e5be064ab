"""BlindSR (Cornillère et al. 2019, sunreef/BlindSR re-implementation): ×2 blind SR by searching
the blur kernel that the critic finds most consistent, pretrained.

Networks: :mod:`models.blindsr.network` (imported only when an image is restored). Test-time
procedure of the official ``Manager.launch_test``:

1. A portrait image is transposed (the networks saw landscape crops) and upsampled ×2 with PIL
   bicubic; both are cut into overlapping square patches (200 LR pixels, overlap 50).
2. *Grid search*: for every (σx, σy, θ) of a grid (σ in 6 steps over (0, 4], θ in 4 steps over
   [0, π/2)), the summed |critic output| over all patches; the smallest wins.
3. *Refinement*: 50 passes of Adam (lr 0.01) over the patches on σ and θ, minimising the mean
   |critic output| − 1e-4·(|σx| + |σy|) (a push towards sharper kernels).
4. The generator with the final kernel restores every patch; patches are blended with linear
   ramps and the image is transposed back.

Profile ``fast`` (3 σ steps, 2 θ steps, 10 refinement passes) trades fidelity for CPU time.
The official code assumes images of at least 200 pixels on each side; smaller images use one
patch size equal to their short side (overlap a quarter of it) — an assumption, documented in
``site/docs/pretrained.md``.

Checkpoints: ``generator.pth`` and ``discriminator.pth`` from the repository's
``checkpoints/x2_blind_sr`` (dictionaries with ``generator_state_dict`` /
``discriminator_state_dict``, plus ``step`` and ``optimizer_state_dict``), installed as
``blindsr/generator.pth`` and ``blindsr/discriminator.pth``.
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
from restorebench.metrics.weights import CATALOGUE, WeightFile, declare, expect_layout
from restorebench.models.base import Method, Resources, register

MANIFEST = Path(__file__).with_name("manifest.json")
RAW = "https://github.com/sunreef/BlindSR/raw/master/checkpoints/x2_blind_sr"
LICENCE = "GPL-3.0 (sunreef/BlindSR)"
PARTS = {"generator": "generator_state_dict", "discriminator": "discriminator_state_dict"}
PROFILES = {"paper": (6, 4, 50), "fast": (3, 2, 10)}  # σ steps, θ steps, refinement passes

declare(*(
    WeightFile(
        key=f"blindsr-{part}",
        filename=f"blindsr/{part}.pth",
        url=f"{RAW}/{part}.pth",
        component=f"BlindSR {part}",
        licence=LICENCE,
    )
    for part in PARTS
))


class BlindSRParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    profile: Literal["paper", "fast"] = Field(
        "paper", description="paper: 6×6×4 kernel grid + 50 refinement passes (official); fast: 3×3×2 + 10"
    )
    sigma_steps: int | None = Field(None, ge=1, le=50, description="grid steps per σ axis (overrides the profile)")
    theta_steps: int | None = Field(None, ge=1, le=50, description="grid steps for θ (overrides the profile)")
    optim_steps: int | None = Field(None, ge=0, le=10_000, description="refinement passes (overrides the profile)")
    patch_size: int = Field(200, ge=16, description="LR patch side (official default 200)")


_LOCK = threading.Lock()


def _layout_check(part: str):
    def check(data: Any) -> list[str]:
        from restorebench.metrics.component import meta_shapes
        from restorebench.models.blindsr.network import Discriminator, Generator
        from restorebench.models.weights import layout_problems, strip_prefix

        container = PARTS[part]
        if not isinstance(data, dict) or container not in data:
            return [f"expected a dictionary with '{container}' (the official format)"]
        return layout_problems(strip_prefix(data[container]), meta_shapes(Generator if part == "generator" else Discriminator))

    return check


for _part in ("generator", "discriminator"):
    expect_layout(f"blindsr-{_part}", _layout_check(_part))


@functools.lru_cache(maxsize=2)
def _networks(device: str) -> tuple[Any, Any]:
    from restorebench.models.blindsr.network import Discriminator, Generator
    from restorebench.models.weights import CheckpointLayoutError, load_checkpoint, load_into

    nets = []
    for part, cls in (("generator", Generator), ("discriminator", Discriminator)):
        key = f"blindsr-{part}"
        data = load_checkpoint(key)
        container = PARTS[part]
        if not isinstance(data, dict) or container not in data:
            found = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise CheckpointLayoutError(
                f"{CATALOGUE[key].filename}: expected a dictionary with '{container}' (the official format), found {found}"
            )
        net = cls()
        load_into(net, data[container], what=f"{CATALOGUE[key].filename} [{container}]")
        nets.append(net.eval().requires_grad_(False).to(device))
    return nets[0], nets[1]


@register()
class BlindSRMethod(Method):
    """BlindSR ×2: kernel-conditioned generator + critic-driven kernel search."""

    name = "blindsr"
    tasks = frozenset({"sr"})
    Params = BlindSRParams
    weights: ClassVar[tuple[str, ...]] = tuple(f"blindsr-{part}" for part in PARTS)
    summary = "BlindSR (Cornillère et al. 2019): kernel search with a generator and its critic, ×2"

    def __init__(self, params: BaseModel | None = None, **kwargs: Any):
        super().__init__(params, **kwargs)
        self.estimate: dict[str, Any] | None = None  # last kernel found (σx, σy, θ)

    @classmethod
    def networks(cls) -> list[dict[str, Any]]:
        return [dict(r) for r in _network_rows()]

    def prepare(self, context) -> None:
        super().prepare(context)
        if context.scale != 2:
            raise RestoreBenchError(f"blindsr: the published networks are ×2 only, this item needs ×{context.scale}")

    def resources(self) -> Resources:
        """One GPU: the kernel search runs every network of the study on each image."""
        return Resources(gpus=1.0)

    def sr_scales(self) -> frozenset[int]:
        return frozenset({2})

    def _search(self) -> tuple[int, int, int]:
        p = self.params
        ds, dt, do = PROFILES[p.profile]
        return (p.sigma_steps or ds, p.theta_steps or dt, do if p.optim_steps is None else p.optim_steps)

    def restore(self, image: np.ndarray) -> np.ndarray:
        import torch
        from PIL import Image

        from restorebench.models.blindsr import network as N
        from restorebench.models.weights import image_to_tensor, tensor_to_image

        if self.ctx.scale != 2:
            raise RestoreBenchError(f"blindsr: the published networks are ×2 only, this item needs ×{self.ctx.scale}")
        device = select_device(self.ctx.device)
        with _LOCK:
            generator, critic = _networks(str(device))
        flipped = image.shape[0] > image.shape[1]
        if flipped:
            image = np.ascontiguousarray(image.transpose(1, 0, 2))
        h, w = image.shape[:2]
        bicubic = np.asarray(Image.fromarray(image).resize((2 * w, 2 * h), Image.BICUBIC))
        patch = min(self.params.patch_size, h, w)
        overlap = patch // 4
        lr_patches = N.patchify(image_to_tensor(image, device), patch, overlap)
        bic_patches = N.patchify(image_to_tensor(bicubic, device), 2 * patch, 2 * overlap)
        n = lr_patches.shape[0]
        sigma_steps, theta_steps, optim_steps = self._search()

        def critic_error(p: int, features: torch.Tensor) -> torch.Tensor:
            lr, bic = lr_patches[p:p + 1], bic_patches[p:p + 1]
            _, kernel_map, maps = generator(lr, bic, features)
            return critic(lr, maps, kernel_map)

        best_sigma, best_theta, best_loss = [1.0, 1.0], 0.0, float("inf")
        with torch.no_grad():
            for sigma, theta in N.grid_points(sigma_steps, theta_steps):
                features = N.kernel_features(torch.tensor(sigma, device=device), torch.tensor(theta, device=device))
                loss = sum(critic_error(p, features).abs().sum().item() for p in range(n))
                if loss < best_loss:
                    best_loss, best_sigma, best_theta = loss, sigma, theta

        sigma_t = torch.tensor(best_sigma, device=device, requires_grad=True)
        theta_t = torch.tensor(best_theta, device=device, requires_grad=True)
        optimizer = torch.optim.Adam([sigma_t, theta_t], lr=0.01)
        for _ in range(optim_steps):
            for p in range(n):
                optimizer.zero_grad()
                error = critic_error(p, N.kernel_features(sigma_t, theta_t))
                loss = error.abs().mean() - 0.0001 * sigma_t.abs().sum()
                loss.backward()
                optimizer.step()

        with torch.no_grad():
            features = N.kernel_features(sigma_t.detach(), theta_t.detach())
            out = torch.cat([generator(lr_patches[p:p + 1], bic_patches[p:p + 1], features)[0] for p in range(n)], 0)
            sr = N.recompose(out, 2 * h, 2 * w, 2 * overlap)
        sx, sy = (float(v) for v in sigma_t.detach())
        self.estimate = {"sigma": [sx, sy], "theta": float(theta_t.detach()), "grid_start": [best_sigma, best_theta]}
        result = tensor_to_image(sr)
        return np.ascontiguousarray(result.transpose(1, 0, 2)) if flipped else result


@functools.cache
def _network_rows() -> tuple[dict[str, Any], ...]:
    from restorebench.models.blindsr.network import Discriminator, Generator
    from restorebench.models.weights import meta_parameter_count

    return (
        {"variant": "x2", "network": "generator", "parameters": meta_parameter_count(Generator),
         "weights_key": "blindsr-generator"},
        {"variant": "x2", "network": "critic (discriminator)", "parameters": meta_parameter_count(Discriminator),
         "weights_key": "blindsr-discriminator"},
    )
