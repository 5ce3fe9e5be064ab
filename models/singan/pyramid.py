"""A (partly) trained SinGAN pyramid and the pass through its scales that training and sampling share.

Scale ``n`` holds a frozen generator ``G_n``, its reconstruction noise ``Z_opt_n`` (zero-padded;
random at scale 0, zeros above, as in the official code) and its noise amplitude ``σ_n``.
Going up one scale is the official ``draw_concat`` / ``SinGAN_generate`` step::

    x̃_n = pad(crop(imresize(x_{n-1}, 1/r)))      (x̃_0 = pad(zeros) or an injected image)
    x_n  = G_n(σ_n · z_n + x̃_n, x̃_n)

with ``z_n`` fresh Gaussian noise (one channel repeated over RGB at scale 0, three channels above)
or ``Z_opt_n`` for the reconstruction.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F

from restorebench.models.singan.geometry import PyramidGeometry
from restorebench.models.singan.imaging import Upsampler, upsamplers
from restorebench.models.singan.networks import Generator, set_trainable
from restorebench.models.singan.settings import TrainingSettings

NoiseSource = Callable[[int, int], torch.Tensor]
"""``noise(scale, batch) -> (batch, 3, H_n + 2p, W_n + 2p)`` padded noise for a scale."""

FORMAT_VERSION = 1


def pad(x: torch.Tensor, amount: int) -> torch.Tensor:
    """Zero padding on all four sides (the official ``nn.ZeroPad2d``)."""
    return F.pad(x, (amount, amount, amount, amount))


def gaussian_noise(
    shape: tuple[int, int], *, batch: int, coarsest: bool, padding: int, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Padded ``N(0, 1)`` noise: one channel repeated over RGB at scale 0, independent RGB above."""
    channels = 1 if coarsest else 3
    z = torch.randn((batch, channels, *shape), generator=generator, device=device)
    if coarsest:
        z = z.expand(batch, 3, *shape)
    return pad(z, padding)


@dataclass
class Pyramid:
    """Trained scales ``0 … len(generators) − 1`` of one image (all frozen, eval mode)."""

    settings: TrainingSettings
    geometry: PyramidGeometry
    reals: list[torch.Tensor]
    generators: list[Generator] = field(default_factory=list)
    z_opt: list[torch.Tensor] = field(default_factory=list)
    noise_amps: list[float] = field(default_factory=list)
    _upsamplers: list[Upsampler] | None = field(default=None, repr=False)

    @property
    def device(self) -> torch.device:
        return self.reals[0].device

    @property
    def trained_scales(self) -> int:
        return len(self.generators)

    @property
    def upsamplers(self) -> list[Upsampler]:
        if self._upsamplers is None:
            self._upsamplers = upsamplers(self.geometry.shapes, self.geometry.scale_factor, device=self.device)
        return self._upsamplers

    def add_scale(self, generator: Generator, z_opt: torch.Tensor, noise_amp: float) -> None:
        generator.eval()
        set_trainable(generator, False)
        self.generators.append(generator)
        self.z_opt.append(z_opt.detach())
        self.noise_amps.append(float(noise_amp))

    # -- the pass through scales --------------------------------------------------------------------
    def run(self, image: torch.Tensor, *, first: int, last: int, noise: NoiseSource) -> torch.Tensor:
        """Run generators ``first … last`` starting from ``image`` at scale ``first``
        (``(B, 3, H_first, W_first)``, unpadded) and return the image at scale ``last``."""
        padding = self.settings.padding
        with torch.no_grad():
            for n in range(first, last + 1):
                if n > first:
                    image = self.upsamplers[n - 1](image)
                previous = pad(image, padding)
                image = self.generators[n](self.noise_amps[n] * noise(n, image.shape[0]) + previous, previous)
        return image

    def zeros(self, scale: int, batch: int = 1) -> torch.Tensor:
        return torch.zeros((batch, 3, *self.geometry.shapes[scale]), device=self.device)

    def random_input(self, scale: int, *, batch: int, noise: NoiseSource) -> torch.Tensor:
        """The official ``draw_concat(..., 'rand')``: a fresh sample of scales ``0 … scale−1``
        upsampled to ``scale`` (unpadded), ``batch`` independent draws with the given noise."""
        if scale == 0:
            return self.zeros(0, batch)
        out = self.run(self.zeros(0, batch), first=0, last=scale - 1, noise=noise)
        return self.upsamplers[scale - 1](out)

    def reconstruction_input(self, scale: int) -> torch.Tensor:
        """The official ``draw_concat(..., 'rec')``: the reconstruction from ``Z_opt`` of scales
        ``0 … scale−1`` upsampled to ``scale`` (unpadded)."""
        if scale == 0:
            return self.zeros(0)
        out = self.run(self.zeros(0), first=0, last=scale - 1, noise=lambda n, batch: self.z_opt[n].expand(batch, -1, -1, -1))
        return self.upsamplers[scale - 1](out)

    # -- persistence (tensors, numbers and strings only: loadable with weights_only=True) ------------
    def state(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "settings": self.settings.as_dict(),
            "image_shape": list(self.geometry.image_shape),
            "scale1": self.geometry.scale1,
            "scale_factor": self.geometry.scale_factor,
            "shapes": [list(s) for s in self.geometry.shapes],
            "generators": [{k: v.detach().cpu() for k, v in g.state_dict().items()} for g in self.generators],
            "z_opt": [z.detach().cpu() for z in self.z_opt],
            "noise_amps": list(self.noise_amps),
            "reals": [r.detach().cpu() for r in self.reals],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], *, device: torch.device) -> "Pyramid":
        if state.get("format") != FORMAT_VERSION:
            raise ValueError(f"trained SinGAN file has format {state.get('format')}, expected {FORMAT_VERSION}")
        settings = TrainingSettings(**state["settings"])
        geometry = PyramidGeometry(
            image_shape=tuple(state["image_shape"]), scale1=float(state["scale1"]),
            scale_factor=float(state["scale_factor"]), shapes=tuple(tuple(s) for s in state["shapes"]),
        )
        pyramid = cls(settings=settings, geometry=geometry, reals=[r.to(device) for r in state["reals"]])
        for n, (weights, z_opt, amp) in enumerate(zip(state["generators"], state["z_opt"], state["noise_amps"])):
            generator = Generator(*settings.widths(n), num_layer=settings.num_layer, kernel_size=settings.kernel_size)
            generator.load_state_dict(weights)
            pyramid.add_scale(generator.to(device), z_opt.to(device), amp)
        return pyramid
