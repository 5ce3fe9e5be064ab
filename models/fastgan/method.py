"""The set-level method ``fastgan``: train FastGAN on a set (or load a trained generator), then
draw its samples.

    >>> method = FastGAN(profile="fast")
    >>> method.prepare_set(images, cache_dir=cache, seed=0)
    >>> image = method.sample(3, seed=0)
"""
from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from restorebench.metrics.errors import RestoreBenchError
from restorebench.models.fastgan import LIN_KEY, VGG_KEY
from restorebench.models.setlevel import SetMethod, TrainingRun, register_set


class FastGANParams(BaseModel):
    """Parameters of ``fastgan``. Unset training fields take the profile's value."""

    model_config = ConfigDict(extra="forbid")
    profile: Literal["fast", "paper"] = Field("fast", description="paper: the study's settings (GPU); fast: CPU, minutes per set")
    resolution: Literal[256, 512, 1024] | None = Field(None, description="training and output size (official: 256, 512, 1024)")
    iterations: int | None = Field(None, ge=1, description="training iterations")
    batch: int | None = Field(None, ge=1, description="images per iteration")
    ngf: int | None = Field(None, ge=2, description="generator base width (official 64)")
    ndf: int | None = Field(None, ge=4, description="discriminator base width (official 64)")
    decoder_width: int | None = Field(None, ge=4, description="width of the discriminator's decoders (official 32)")
    lr: float | None = Field(None, gt=0, description="Adam learning rate of both networks")
    policy: str | None = Field(None, description="DiffAugment policy, e.g. 'color,translation' (official) or 'color,translation,cutout'")
    reconstruction: Literal["lpips", "l1"] | None = Field(None, description="discriminator reconstruction distance")
    samples_per_set: int = Field(100, ge=1, description="samples drawn per set (the study: 100)")
    sample_batch: int = Field(10, ge=1, description="latents generated together (BatchNorm uses their statistics, as in eval.py)")
    output_size: int | None = Field(None, ge=8, description="resize samples (nearest) to this size, e.g. 512 as eval.py does; default: native")
    checkpoint: str | None = Field(None, description="a trained generator (official all_<iter>.pth or <iter>.pth) to sample from without training")

    def training_overrides(self) -> dict[str, Any]:
        return self.model_dump(include={"resolution", "iterations", "batch", "ngf", "ndf", "decoder_width", "lr", "policy", "reconstruction"},
                               exclude_none=True)


@register_set()
class FastGAN(SetMethod):
    """FastGAN (Liu et al., ICLR 2021) trained per set; outputs are its samples."""

    name = "fastgan"
    tasks = frozenset({"sr"})
    Params = FastGANParams
    weights: ClassVar[tuple[str, ...]] = (VGG_KEY, LIN_KEY)
    summary = "FastGAN (Liu et al. 2021): few-shot GAN trained on each LR set, samples as outputs"

    def __init__(self, params: BaseModel | None = None, **kwargs: Any):
        super().__init__(params, **kwargs)
        from restorebench.models.fastgan.training import PROFILES

        try:
            self.settings = replace(PROFILES[self.params.profile], **self.params.training_overrides())
        except ValueError as exc:
            raise RestoreBenchError(f"fastgan: {exc}") from None

    def weight_keys(self) -> tuple[str, ...]:
        """The LPIPS files when this configuration trains with the LPIPS reconstruction loss."""
        return self.weights if self.settings.reconstruction == "lpips" and self.params.checkpoint is None else ()

    def _train(self, images: list[np.ndarray], run: TrainingRun) -> dict[str, Any]:
        from restorebench.models.fastgan.training import train

        return train(images, self.settings, run)

    def _load_model(self, state: Any, device: Any, *, what: str) -> Any:
        return self._sampling_model(generator_from_state(state, what=what), device)

    def _sampling_model(self, g: Any, device: Any) -> Any:
        from restorebench.models.fastgan.training import SamplingModel

        return SamplingModel(g, sample_batch=self.params.sample_batch, output_size=self.params.output_size, device=device)

    @classmethod
    def networks(cls) -> list[dict[str, Any]]:
        """Parameter counts of the official networks (ngf = ndf = 64, nz = 256) per resolution."""
        return [{"variant": f"{row['resolution']} px", "network": part, "parameters": row[part]}
                for row in _network_rows() for part in ("generator", "discriminator")]


def generator_from_state(state: Any, *, what: str):
    """The generator of a FastGAN checkpoint, its architecture read from the tensors.

    Accepts the official ``all_<iter>.pth`` (``g`` + the EMA parameters ``g_ema``, a list in
    ``parameters()`` order, which replace ``g``'s — what the official ``eval.py`` samples with
    comes from the EMA) and ``<iter>.pth`` / our final files (``g`` already holds the EMA
    parameters); a ``module.`` prefix (``DataParallel``) is removed.
    """
    from restorebench.models.fastgan.network import Generator
    from restorebench.models.fastgan.training import ema_state_dict
    from restorebench.models.weights import CheckpointLayoutError, load_into, strip_prefix

    if not isinstance(state, dict) or not isinstance(state.get("g"), dict):
        keys = sorted(state)[:6] if isinstance(state, dict) else type(state).__name__
        raise CheckpointLayoutError(f"{what}: not a FastGAN checkpoint (expected a dict with 'g' and optionally 'g_ema', "
                                    f"'d', 'opt_g', 'opt_d'; found {keys})")
    g_state = strip_prefix(state["g"])
    head = g_state.get("init.init.0.weight_orig")
    if head is None or head.ndim != 4:
        raise CheckpointLayoutError(f"{what}: 'g' has no 'init.init.0.weight_orig': not the official FastGAN generator")
    nz, ngf = int(head.shape[0]), int(head.shape[1]) // 32
    im_size = 1024 if any(k.startswith("feat_1024.") for k in g_state) else 512 if any(k.startswith("feat_512.") for k in g_state) else 256
    g = Generator(ngf=ngf, nz=nz, im_size=im_size)
    load_into(g, g_state, what=f"{what} (FastGAN generator, {im_size} px, ngf {ngf}, nz {nz})")
    if isinstance(state.get("g_ema"), (list, tuple)):
        try:
            g.load_state_dict(ema_state_dict(g, list(state["g_ema"])))
        except (ValueError, RuntimeError) as exc:
            raise CheckpointLayoutError(f"{what}: g_ema does not match the generator ({exc})") from None
    return g


@functools.cache
def _network_rows() -> tuple[dict[str, Any], ...]:
    from restorebench.models.fastgan.network import RESOLUTIONS, Discriminator, Generator
    from restorebench.models.weights import meta_parameter_count

    return tuple(
        {"resolution": r, "generator": meta_parameter_count(lambda: Generator(ngf=64, nz=256, im_size=r)),
         "discriminator": meta_parameter_count(lambda: Discriminator(ndf=64, im_size=r))}
        for r in RESOLUTIONS
    )
