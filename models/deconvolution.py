"""Non-blind deconvolution: Wiener and Richardson–Lucy (scikit-image), symmetric padding.

Both use the blur kernel the dataset provides (builtin triplets store theirs) and fall back to a
Gaussian guess of ``sigma`` when there is none. Images are padded symmetrically by the kernel
size before deconvolving, because both algorithms assume periodic boundaries and would
otherwise ring at the borders.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from skimage import restoration

from restorebench.models.base import Method, register
from restorebench.models.kernels import gaussian_kernel


class _DeconvParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    psf: Literal["auto", "gaussian"] = Field(
        "auto", description="auto: the dataset's kernel when it has one, else a Gaussian"
    )
    sigma: float = Field(2.0, gt=0, description="σ of the Gaussian PSF guess, in pixels")


class WienerParams(_DeconvParams):
    balance: float = Field(0.01, gt=0, description="regularisation (noise-to-signal) weight")


class RichardsonLucyParams(_DeconvParams):
    iterations: int = Field(30, ge=1, le=1000)


class _Deconvolution(Method):
    tasks = frozenset({"deblur"})

    def psf(self) -> np.ndarray:
        if self.params.psf == "auto" and self.ctx.psf is not None:
            return np.asarray(self.ctx.psf, dtype=np.float64)
        return gaussian_kernel(self.params.sigma)

    def restore(self, image: np.ndarray) -> np.ndarray:
        psf = self.psf()
        pad = max(psf.shape)
        padded = np.pad(image.astype(np.float64) / 255.0, ((pad, pad), (pad, pad), (0, 0)), mode="symmetric")
        channels = [self.deconvolve(padded[:, :, c], psf) for c in range(padded.shape[2])]
        out = np.stack(channels, axis=2)[pad:-pad, pad:-pad]
        return np.clip(np.floor(out * 255.0 + 0.5), 0, 255).astype(np.uint8)

    def deconvolve(self, channel: np.ndarray, psf: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@register()
class Wiener(_Deconvolution):
    name = "wiener"
    Params = WienerParams
    summary = "Wiener–Hunt deconvolution (skimage.restoration.wiener)"

    def deconvolve(self, channel: np.ndarray, psf: np.ndarray) -> np.ndarray:
        return restoration.wiener(channel, psf, self.params.balance, clip=False)


@register()
class RichardsonLucy(_Deconvolution):
    name = "richardson_lucy"
    Params = RichardsonLucyParams
    summary = "Richardson–Lucy deconvolution (skimage.restoration.richardson_lucy)"

    def deconvolve(self, channel: np.ndarray, psf: np.ndarray) -> np.ndarray:
        return restoration.richardson_lucy(channel, psf, num_iter=self.params.iterations, clip=False)
