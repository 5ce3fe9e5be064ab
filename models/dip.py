"""Deep Image Prior: an untrained hourglass network fitted so that its downscaled output is the LR image.

Ulyanov, Vedaldi & Lempitsky, "Deep Image Prior", CVPR 2018; official code
https://github.com/DmitryUlyanov/deep-image-prior (``super-resolution.ipynb``,
``sr_prior_effect.ipynb``, ``models/skip.py``, ``models/common.py``, ``models/downsampler.py``,
``utils/common_utils.py``). Notes and measured profiles: ``site/docs/dip.md``.

Algorithm, for an LR image ``y`` (RGB in [0, 1]) and a factor ``s``:

- input ``z``: 32 channels of noise ``U(0, 1) · 0.1`` at the HR size (official ``get_noise``).
- network ``f``: the ``skip`` hourglass — 5 scales; at scale ``i`` a skip branch (1×1 conv to 4
  channels, BN, LeakyReLU 0.2) beside a deeper branch (3×3 conv with stride 2 → 128, BN, LReLU,
  3×3 conv 128 → 128, BN, LReLU, the next scale, bilinear ×2 upsampling), concatenated, then BN,
  3×3 conv → 128, BN, LReLU, 1×1 conv 128 → 128, BN, LReLU; a final 1×1 conv → 3 and a sigmoid.
  Every convolution has a bias and reflection padding (official ``get_net(…, 'skip', 'reflection',
  skip_n33d=128, skip_n33u=128, skip_n11=4, num_scales=5, upsample_mode='bilinear')``).
- loss: ``‖D(f(z + σ_reg·n)) − y‖²`` (mean squared error), ``n ~ N(0, 1)`` drawn anew each
  iteration (noise regularisation, ``reg_noise_std``), ``D`` the Lanczos-2 downsampler: one
  ``4s×4s`` kernel ``L(d_r)·L(d_c)``, ``L(d) = 2 sin(πd) sin(πd/2) / (π²d²)``, ``d = |t + ½ − (2s + ½)|/s``
  for t = 1 … 4s (half-pixel phase), normalised to sum 1, applied at stride ``s`` after
  replicating the border by ``3s/2`` (output pixel ``i`` centred at HR position
  ``s·i + (s − 1)/2``, as bicubic ``imresize``).
- Adam (lr 0.01, PyTorch defaults otherwise) on the network's weights for 2000 iterations at ×4
  (σ_reg = 0.03) or 4000 at ×8 (σ_reg = 0.05); the output is ``f(z)``.

Differences from the official code, and why:

- *×2.* The official notebook refuses factors other than 4 and 8 ("we did not experiment with
  other factors"); ×2 (and any other factor) takes the ×4 settings here, the nearest tested ones.
- *Sizes.* The hourglass needs sides divisible by 2⁵; the official notebook crops the HR image
  to multiples of 32 before making the LR image. Here the image is given: the network draws a
  canvas whose sides are the HR sides rounded up to multiples of 32, the loss compares the LR
  image with the matching window of the downscaled canvas (its offset a multiple of ``s``), and
  the output is that window of the canvas.
- *Output.* The official notebook evaluates the network on the input of the last iteration
  (``net_input`` still holds ``z`` plus that iteration's regularisation noise); here on ``z``
  itself, the input the noise regularisation perturbs. The network stays in training mode
  (batch statistics), as in the official notebook, which never calls ``eval()``.
- *Determinism.* Weights (PyTorch's default initialisation), ``z`` and the regularisation noise
  come from generators seeded with the case seed.
- *Profile ``fast``* (not official): see ``FAST`` below and ``site/docs/dip.md``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from restorebench.metrics.device import select_device
from restorebench.metrics.errors import InvalidImageError, RestoreBenchError
from restorebench.models.base import Method, Resources, register
from restorebench.models.weights import array_to_tensor

Profile = Literal["paper", "fast"]
DEPTH_MULTIPLE = 32  # 2 ** num_scales
# The deepest scale's 3×3 reflection padding needs 2×2 pixels there.
MIN_CANVAS = 2 * DEPTH_MULTIPLE


@dataclass(frozen=True)
class Settings:
    """Everything that determines a DIP result besides the image, the factor and the seed (names
    follow the official notebook)."""

    input_depth: int = 32
    channels: int = 128  # skip_n33d = skip_n33u
    skip_channels: int = 4  # skip_n11
    num_scales: int = 5
    learning_rate: float = 0.01
    input_noise_scale: float = 0.1  # get_noise(var=1/10)
    num_iter: int = 2000  # ×4; ×8: num_iter_x8
    reg_noise_std: float = 0.03
    num_iter_x8: int = 4000
    reg_noise_std_x8: float = 0.05

    def iterations(self, scale: int) -> int:
        return self.num_iter_x8 if scale >= 8 else self.num_iter

    def regularisation(self, scale: int) -> float:
        return self.reg_noise_std_x8 if scale >= 8 else self.reg_noise_std


PAPER = Settings()
# Not official (site/docs/dip.md): 32 channels instead of 128 and half the iterations; one CPU
# thread spends ≈ 0.15 s per iteration on a 192×192 output (128 channels: ≈ 0.8 s), ≈ 2.5 min per
# 96×96 ×2 image.
FAST = Settings(channels=32, num_iter=1000, num_iter_x8=2000)
PROFILES: dict[str, Settings] = {"paper": PAPER, "fast": FAST}


def resolve_settings(profile: Profile, overrides: dict[str, Any]) -> Settings:
    """The profile's settings with the given (non-None) overrides applied."""
    return replace(PROFILES[profile], **{k: v for k, v in overrides.items() if v is not None})


# -- the downsampler --------------------------------------------------------------------------

def lanczos2_kernel(scale: int) -> np.ndarray:
    """Official ``get_kernel(factor, 'lanczos', phase=0.5, kernel_width=4s + 1, support=2)``: the
    ``4s×4s`` Lanczos-2 kernel of the module docstring, summing to 1."""
    t = np.arange(1, 4 * scale + 1)
    d = np.abs(t + 0.5 - (4 * scale + 2) / 2) / scale
    taps = 2 * np.sin(np.pi * d) * np.sin(np.pi * d / 2) / (np.pi**2 * d**2)
    kernel = np.outer(taps, taps)
    return kernel / kernel.sum()


def build_downsampler(scale: int):
    """``D``: replicate-pad by ``3s/2``, then the Lanczos-2 kernel on each channel at stride ``s``
    (official ``Downsampler(n_planes=3, factor=s, kernel_type='lanczos2', phase=0.5,
    preserve_size=True)``); an ``H×W`` input gives ``H/s × W/s``."""
    import torch
    from torch import nn

    kernel = torch.as_tensor(lanczos2_kernel(scale), dtype=torch.float32)
    conv = nn.Conv2d(3, 3, kernel.shape[0], stride=scale, bias=False, groups=3)
    with torch.no_grad():
        conv.weight.copy_(kernel.expand(3, 1, *kernel.shape))
    conv.weight.requires_grad_(False)
    return nn.Sequential(nn.ReplicationPad2d((kernel.shape[0] - scale) // 2), conv)


# -- the network ------------------------------------------------------------------------------

def build_skip(settings: Settings):
    """The official ``skip`` hourglass (see the module docstring), with PyTorch's default
    initialisation drawn from the global generator (callers fork and seed it)."""
    import torch
    from torch import nn

    class Concat(nn.Module):
        """The branches' outputs stacked along the channels (official ``Concat(1, …)``)."""

        def __init__(self, *branches: nn.Module):
            super().__init__()
            self.branches = nn.ModuleList(branches)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([branch(x) for branch in self.branches], dim=1)

    def conv(c_in: int, c_out: int, size: int, stride: int = 1) -> nn.Sequential:
        return nn.Sequential(nn.ReflectionPad2d((size - 1) // 2), nn.Conv2d(c_in, c_out, size, stride))

    def norm_act(c: int) -> list[nn.Module]:
        return [nn.BatchNorm2d(c), nn.LeakyReLU(0.2, inplace=True)]

    c, k = settings.channels, settings.skip_channels

    def scale_block(level: int, c_in: int) -> nn.Sequential:
        deeper: list[nn.Module] = [conv(c_in, c, 3, 2), *norm_act(c), conv(c, c, 3), *norm_act(c)]
        if level < settings.num_scales - 1:
            deeper.append(scale_block(level + 1, c))
        deeper.append(nn.Upsample(scale_factor=2, mode="bilinear"))
        skip = nn.Sequential(conv(c_in, k, 1), *norm_act(k))
        return nn.Sequential(
            Concat(skip, nn.Sequential(*deeper)),
            nn.BatchNorm2d(k + c),
            conv(k + c, c, 3), *norm_act(c),
            conv(c, c, 1), *norm_act(c),
        )

    return nn.Sequential(scale_block(0, settings.input_depth), conv(c, 3, 1), nn.Sigmoid())


# -- fitting ----------------------------------------------------------------------------------

@dataclass
class FitLog:
    """The loss ``mean((D(f(z + noise)) − y)²)`` per iteration (for tests and notes)."""

    losses: list[float] = field(default_factory=list)


def canvas_window(size: int, scale: int) -> tuple[int, int]:
    """``(canvas side, offset)``: the HR side ``size`` rounded up to a multiple of 32 (at least
    64), and where the image's window starts in it (centred, a multiple of ``scale``)."""
    canvas = max(MIN_CANVAS, math.ceil(size / DEPTH_MULTIPLE) * DEPTH_MULTIPLE)
    return canvas, (canvas - size) // 2 // scale * scale


def fit(image: np.ndarray, *, scale: int, settings: Settings, seed: int, device, iterations: int | None = None) -> tuple[np.ndarray, FitLog]:
    """Fit DIP to ``image`` (float RGB in [0, 1]); return ``f(z)`` (float, ``(h·s, w·s, 3)``) and the log."""
    import torch

    h, w = image.shape[:2]
    (canvas_h, top), (canvas_w, left) = canvas_window(h * scale, scale), canvas_window(w * scale, scale)
    seeds = np.random.SeedSequence(seed).spawn(2)
    generator = torch.Generator().manual_seed(int(seeds[1].generate_state(1, dtype=np.uint64)[0] >> 1))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seeds[0].generate_state(1, dtype=np.uint64)[0] >> 1))
        net = build_skip(settings)
    net = net.to(device).train()
    down = build_downsampler(scale).to(device)
    z = (torch.rand(1, settings.input_depth, canvas_h, canvas_w, generator=generator) * settings.input_noise_scale).to(device)
    target = array_to_tensor(image, device)
    rows, cols = slice(top // scale, top // scale + h), slice(left // scale, left // scale + w)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.learning_rate)
    sigma = settings.regularisation(scale)
    log = FitLog()
    for _ in range(iterations if iterations is not None else settings.iterations(scale)):
        noisy = z + torch.randn(z.shape, generator=generator).to(device) * sigma if sigma > 0 else z
        optimizer.zero_grad(set_to_none=True)
        loss = torch.mean((down(net(noisy))[..., rows, cols] - target) ** 2)
        loss.backward()
        optimizer.step()
        log.losses.append(loss.item())
    with torch.no_grad():
        out = net(z)[0, :, top : top + h * scale, left : left + w * scale]
    return out.permute(1, 2, 0).cpu().numpy().astype(np.float64), log


# -- the method -------------------------------------------------------------------------------

class DIPParams(BaseModel):
    """Parameters of the ``dip`` method. Unset overrides take the profile's value."""

    model_config = ConfigDict(extra="forbid")
    profile: Profile = Field("paper", description="paper: official SR notebook; fast: CPU profile (see site/docs/dip.md)")
    scale: int | None = Field(None, ge=2, le=8, description="SR factor; default: the dataset's")
    num_iter: int | None = Field(None, ge=1, description="Adam iterations (official 2000 at ×4, 4000 at ×8)")
    channels: int | None = Field(None, ge=1, description="channels of every scale (official 128)")
    reg_noise_std: float | None = Field(None, ge=0, description="input noise regularisation σ (official 0.03 at ×4)")

    def overrides(self) -> dict[str, Any]:
        return self.model_dump(exclude={"profile", "scale"})


@register()
class DIP(Method):
    """Deep Image Prior (Ulyanov et al., CVPR 2018): an untrained hourglass fitted to the LR image."""

    name = "dip"
    tasks = frozenset({"sr"})
    Params = DIPParams
    summary = "Deep Image Prior (Ulyanov et al. 2018): untrained skip hourglass fitted through a Lanczos-2 downsampler"

    def __init__(self, params: BaseModel | None = None, **kwargs: Any):
        super().__init__(params, **kwargs)
        overrides = self.params.overrides()
        if overrides["num_iter"] is not None:  # one count for every factor
            overrides["num_iter_x8"] = overrides["num_iter"]
        if overrides["reg_noise_std"] is not None:
            overrides["reg_noise_std_x8"] = overrides["reg_noise_std"]
        self.settings = resolve_settings(self.params.profile, overrides)
        self.log: FitLog | None = None  # of the last restored image
        self.psf: np.ndarray | None = None

    @property
    def params_dict(self) -> dict[str, Any]:
        """The parameters given (unset overrides are left out of records and hashes)."""
        return self.params.model_dump(mode="json", exclude_none=True)

    def estimated_kernel(self) -> np.ndarray | None:
        """The PSF the last result assumed: the Lanczos-2 downsampler (symmetric)."""
        return self.psf

    def resources(self) -> Resources:
        """A quarter of a GPU: one skip hourglass fitted to one image."""
        return Resources(gpus=0.25)

    def restore(self, image: np.ndarray) -> np.ndarray:
        scale = int(self.params.scale or self.ctx.scale)
        if scale < 2:
            raise RestoreBenchError(f"dip: super-resolves by a factor ≥ 2, got ×{scale}")
        if image.ndim != 3 or image.shape[2] != 3:
            raise InvalidImageError(f"dip: expected an RGB H×W×3 image, got shape {tuple(image.shape)}")
        device = select_device(self.ctx.device)
        sr, self.log = fit(image.astype(np.float64) / 255.0, scale=scale, settings=self.settings, seed=self.ctx.seed, device=device)
        self.psf = lanczos2_kernel(scale)
        return np.clip(np.floor(sr * 255.0 + 0.5), 0, 255).astype(np.uint8)
