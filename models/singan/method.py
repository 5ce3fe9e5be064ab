"""The ``singan`` method: train on the sharp photo, inject the blurred photo at a start scale.

    >>> method = models.get("singan", profile="fast", gen_start_scale=3)
    >>> method.prepare(RestoreContext(task="deblur", training_image=sharp, seed=0, sample=2))
    >>> restored = method.restore(blurred)
"""
from __future__ import annotations

import hashlib

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from restorebench.metrics.errors import RestoreBenchError
from restorebench.metrics.imageio import as_rgb_uint8
from restorebench.metrics.component import source_version
from restorebench.models.base import Method, Resources, RestoreContext, register
from restorebench.models.singan.settings import TrainingSettings, resolve_settings


class SinGANParams(BaseModel):
    """Parameters of the ``singan`` method. Unset training fields take the profile's value."""

    model_config = ConfigDict(extra="forbid")
    profile: Literal["fast", "paper"] = Field("fast", description="fast: CPU, ≤ 3 min per 256-px image; paper: official defaults")
    gen_start_scale: int | Literal["random"] = Field(
        1, description="scale at which the blurred image is injected (1 … N−1); 'random': unconditional samples"
    )
    max_size: int | None = Field(None, ge=8, description="longest side of the finest scale")
    min_size: int | None = Field(None, ge=11, description="shortest side of the coarsest scale")
    scale_factor: float | None = Field(None, gt=0, lt=1, description="initial factor between scales")
    iterations: int | None = Field(None, ge=1, description="training iterations per scale")
    nfc: int | None = Field(None, ge=1, description="conv channels at scale 0 (doubling every 4 scales)")
    min_nfc: int | None = Field(None, ge=1, description="minimum conv channels at scale 0")
    d_steps: int | None = Field(None, ge=1, description="critic updates per iteration")
    g_steps: int | None = Field(None, ge=1, description="generator updates per iteration")
    lr: float | None = Field(None, gt=0, description="Adam learning rate")
    alpha: float | None = Field(None, ge=0, description="reconstruction-loss weight")
    lambda_grad: float | None = Field(None, ge=0, description="gradient-penalty weight")
    noise_amp: float | None = Field(None, gt=0, description="noise amplitude relative to the reconstruction RMSE")

    @field_validator("gen_start_scale")
    @classmethod
    def _start_scale(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("gen_start_scale must be ≥ 1 (scale 0 would ignore the input); use 'random' for unconditional samples")
        return value

    def training_overrides(self) -> dict[str, Any]:
        return self.model_dump(exclude={"profile", "gen_start_scale"})


@register()
class SinGAN(Method):
    """SinGAN (Shaham et al., ICCV 2019) trained on the sharp photo; the blurred photo is injected
    at ``gen_start_scale`` and the finer generators regenerate it with fresh noise."""

    name = "singan"
    tasks = frozenset({"deblur"})
    Params = SinGANParams
    stochastic = True
    shared_preparation = "training_image"
    summary = "SinGAN trained on the sharp photo, blurred photo injected at a start scale"

    def __init__(self, params: BaseModel | None = None, **kwargs: Any):
        super().__init__(params, **kwargs)
        self.settings: TrainingSettings = resolve_settings(self.params.profile, self.params.training_overrides())
        self._pyramid = None
        self._training_shape: tuple[int, int] | None = None

    @property
    def params_dict(self) -> dict[str, Any]:
        """The parameters given (unset training overrides are left out of records and hashes)."""
        return self.params.model_dump(mode="json", exclude_none=True)

    def resources(self) -> Resources:
        """A quarter of a GPU: the generators and critics have 32–128 channels on images of at
        most 250 pixels, far from filling one."""
        return Resources(gpus=0.25)

    def preparation_key(self, *, training_sha256: str, seed: int) -> str:
        """One training per photo, seed and training settings: every start scale shares it."""
        payload = f"singan|{source_version(type(self))}|{self.settings!r}|{training_sha256}|{seed}"
        return hashlib.sha256(payload.encode()).hexdigest()[:24]

    def prepare(self, context: RestoreContext) -> None:
        """Obtain the pyramid of ``context.training_image`` (trained once, then cached)."""
        super().prepare(context)
        if context.training_image is None:
            raise RestoreBenchError(
                f"singan: item '{context.item_id}' has no training image; SinGAN trains on the sharp photo of a blur triplet"
            )
        from restorebench.metrics.device import select_device
        from restorebench.models.singan.cache import obtain_pyramid

        image = as_rgb_uint8(context.training_image, name="training image")
        cache_dir = Path(context.cache_dir) / "singan" if context.cache_dir is not None else None
        self._pyramid = obtain_pyramid(
            image, self.settings, seed=context.seed, device=select_device(context.device),
            cache_dir=cache_dir, code_digest=source_version(type(self)),
        )
        self._training_shape = image.shape[:2]
        start = self.params.gen_start_scale
        scales = self._pyramid.geometry.num_scales
        if start != "random" and not 1 <= start <= scales - 1:
            raise RestoreBenchError(
                f"singan: gen_start_scale={start} but this image's pyramid has {scales} scales "
                f"(0…{scales - 1}); use a start scale in 1…{scales - 1}"
            )

    def restore(self, image: np.ndarray) -> np.ndarray:
        """The sample ``context.sample`` for the blurred ``image``, at ``image``'s size.

        The blurred photo is first resized to the training photo's size if they differ (MATLAB
        bicubic); the finest-scale sample is resized back to ``image``'s size.
        """
        from restorebench.metrics.matlab import imresize
        from restorebench.models.singan.generation import generate, resize_output

        if self._pyramid is None or self._training_shape is None:
            raise RuntimeError("singan: call prepare(context) before restore(image)")
        image = as_rgb_uint8(image)
        start = self.params.gen_start_scale
        if start == "random":
            sample = generate(self._pyramid, start=None, seed=self.ctx.seed, sample=self.ctx.sample)
        else:
            injected = image if image.shape[:2] == self._training_shape else imresize(image, output_shape=self._training_shape)
            sample = generate(self._pyramid, start=start, image=injected, seed=self.ctx.seed, sample=self.ctx.sample)
        return resize_output(sample, image.shape[:2])
