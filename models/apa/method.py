"""The set-level method ``apa``: train StyleGAN2-ADA with adaptive pseudo augmentation on a set
(or load an exported generator), then draw its samples.

    >>> method = APA(profile="fast")
    >>> method.prepare_set(images, cache_dir=cache, seed=0)
    >>> image = method.sample(0, seed=0)   # generate.py --seeds=1000 --trunc=1
"""
from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from restorebench.metrics.errors import RestoreBenchError
from restorebench.models.apa import EXPORT_COMMAND, PRETRAINED, pretrained_key
from restorebench.models.setlevel import SetMethod, TrainingRun, register_set


class APAParams(BaseModel):
    """Parameters of ``apa``. Unset training fields take the profile's value."""

    model_config = ConfigDict(extra="forbid")
    profile: Literal["fast", "paper"] = Field("fast", description="paper: the study's settings (GPU); fast: CPU, minutes per set")
    cfg: Literal["auto", "stylegan2", "paper256", "paper512", "paper1024"] | None = Field(
        None, description="an official base configuration (replaces the profile's numbers, sizes included)")
    resolution: int | None = Field(None, ge=4, description="training and output size (a power of two)")
    gpus: int | None = Field(None, ge=1, description="GPUs of the official run the batch split imitates")
    kimg: float | None = Field(None, gt=0, description="training length, thousands of real images shown")
    batch: int | None = Field(None, ge=1, description="images per iteration")
    gamma: float | None = Field(None, ge=0, description="R1 weight")
    aug: Literal["apa", "fixed", "noaug"] | None = Field(None, description="apa: adaptive p; fixed: constant p")
    p: float | None = Field(None, ge=0, le=1, description="initial (apa) or constant (fixed) probability")
    target: float | None = Field(None, ge=0, le=1, description="APA target of the overfitting heuristic λ_r")
    with_dataaug: bool | None = Field(None, description="also apply ADA's bgc augmentations with the same p")
    mirror: bool | None = Field(None, description="add x-flipped copies of the images")
    samples_per_set: int = Field(100, ge=1, description="samples drawn per set (the study: 100, seeds 1000-1099)")
    truncation_psi: float = Field(1.0, description="generate.py --trunc (the study: 1)")
    checkpoint: str | None = Field(None, description="an exported generator (file path or catalogue key apa-…) to sample from without training")

    def training_overrides(self) -> dict[str, Any]:
        return self.model_dump(include={"gpus", "kimg", "batch", "gamma", "aug", "p", "target", "with_dataaug", "mirror"},
                               exclude_none=True)


@register_set()
class APA(SetMethod):
    """APA (Jiang et al., NeurIPS 2021) on StyleGAN2-ADA, trained per set; outputs are its samples."""

    name = "apa"
    tasks = frozenset({"sr"})
    Params = APAParams
    weights: ClassVar[tuple[str, ...]] = tuple(pretrained_key(name) for name, _ in PRETRAINED)
    checkpoint_hint = f"in a DeceiveD checkout run {EXPORT_COMMAND}"
    summary = "APA (Jiang et al. 2021): StyleGAN2-ADA with adaptive pseudo augmentation, trained on each LR set"

    def __init__(self, params: BaseModel | None = None, **kwargs: Any):
        super().__init__(params, **kwargs)
        from restorebench.models.apa.training import PROFILES, configure

        p = self.params
        base = PROFILES[p.profile]
        try:
            if p.cfg is not None:  # the official configuration, the profile's reductions dropped
                base = configure(p.cfg, p.resolution or base.resolution, gpus=p.gpus or base.gpus)
            elif p.resolution is not None:  # the profile at another size: the resolution-dependent numbers follow
                derived = configure(base.cfg, p.resolution, gpus=p.gpus or base.gpus)
                base = replace(base, resolution=p.resolution, lr=derived.lr, gamma=derived.gamma, ema_kimg=derived.ema_kimg)
            self.settings = replace(base, **p.training_overrides())
        except ValueError as exc:
            raise RestoreBenchError(f"apa: {exc}") from None

    def weight_keys(self) -> tuple[str, ...]:
        from restorebench.metrics.weights import CATALOGUE

        return (self.params.checkpoint,) if self.params.checkpoint in CATALOGUE else ()

    def _train(self, images: list[np.ndarray], run: TrainingRun) -> dict[str, Any]:
        from restorebench.models.apa.training import train

        return train(images, self.settings, run)

    def _load_model(self, state: Any, device: Any, *, what: str) -> Any:
        return self._sampling_model(generator_from_state(state, what=what), device)

    def _sampling_model(self, g: Any, device: Any) -> Any:
        from restorebench.models.apa.training import SamplingModel

        return SamplingModel(g, truncation_psi=self.params.truncation_psi, samples_per_set=self.samples_per_set, device=device)

    @classmethod
    def networks(cls) -> list[dict[str, Any]]:
        """Parameter counts of the official networks: the study's ``stylegan2`` at 1024 px and the
        256-px ``auto`` (1 GPU) and ``paper256`` configurations."""
        return [{"variant": f"{row['config']} {row['resolution']} px", "network": part, "parameters": row[part]}
                for row in _network_rows() for part in ("generator", "discriminator")]


def generator_from_state(state: Any, *, what: str):
    """``G_ema`` of an exported snapshot (``{'G', 'D', 'G_ema'}`` state dicts, or a bare
    generator state dict), its architecture read from the tensor shapes."""
    from restorebench.models.apa.networks import Generator
    from restorebench.models.weights import CheckpointLayoutError, load_into, strip_prefix

    if isinstance(state, dict) and isinstance(state.get("G_ema"), dict):
        g_state = state["G_ema"]
    elif isinstance(state, dict) and any(str(k).startswith("synthesis.") for k in state):
        g_state = state
    else:
        keys = sorted(map(str, state))[:6] if isinstance(state, dict) else type(state).__name__
        raise CheckpointLayoutError(f"{what}: not an exported APA/StyleGAN2-ADA snapshot (expected a dict with 'G_ema' — "
                                    f"and optionally 'G', 'D' — holding the official state dict; found {keys})")
    g_state = strip_prefix(g_state)
    if "mapping.embed.weight" in g_state:
        raise CheckpointLayoutError(f"{what}: a conditional generator (mapping.embed); only unconditional networks are supported")
    layers = sorted(int(k[len("mapping.fc"):].split(".")[0]) for k in g_state if k.startswith("mapping.fc") and k.endswith(".weight"))
    blocks = sorted({int(k.split(".")[1][1:]) for k in g_state if k.startswith("synthesis.b")})
    if not layers or not blocks or "mapping.fc0.weight" not in g_state:
        raise CheckpointLayoutError(f"{what}: missing mapping.fc*/synthesis.b* keys: not the official StyleGAN2-ADA generator")
    z_dim = int(g_state["mapping.fc0.weight"].shape[1])
    w_dim = int(g_state[f"mapping.fc{layers[-1]}.weight"].shape[0])
    channels = {res: int(g_state[f"synthesis.b{res}.conv1.weight"].shape[0]) for res in blocks}
    channel_max = max(channels.values())
    below = [ch * res for res, ch in channels.items() if ch < channel_max]
    channel_base = min(below) if below else channel_max * max(blocks)
    g = Generator(z_dim, w_dim, max(blocks), mapping_layers=len(layers), channel_base=channel_base, channel_max=channel_max)
    load_into(g, g_state, what=f"{what} (StyleGAN2 generator, {max(blocks)} px, {len(layers)} mapping layers)")
    return g


@functools.cache
def _network_rows() -> tuple[dict[str, Any], ...]:
    from restorebench.models.apa.training import build_discriminator, build_generator, configure
    from restorebench.models.weights import meta_parameter_count

    rows = []
    for cfg, res, gpus in (("stylegan2", 1024, 4), ("auto", 256, 1), ("paper256", 256, 1)):
        s = configure(cfg, res, gpus=gpus)
        rows.append({"config": cfg, "resolution": res, "generator": meta_parameter_count(lambda: build_generator(s)),
                     "discriminator": meta_parameter_count(lambda: build_discriminator(s))})
    return tuple(rows)
