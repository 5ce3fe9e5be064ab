"""Training settings of SinGAN and the two profiles, ``paper`` and ``fast``.

``paper`` holds the defaults of the official implementation (Shaham, Dekel & Michaeli, ICCV 2019,
``tamarott/SinGAN``: ``config.py`` and ``SinGAN/training.py``); ``fast`` is our CPU profile, whose
choice is measured and explained in ``site/docs/singan.md``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

Profile = Literal["fast", "paper"]


@dataclass(frozen=True)
class TrainingSettings:
    """Everything that determines a trained pyramid (besides the image and the seed).

    Attributes:
        max_size: longest side of the finest scale (the image is shrunk to it, never enlarged).
        min_size: shortest side of the coarsest scale.
        scale_factor: the *initial* factor between consecutive scales; the pyramid re-fits it so
            that the coarsest scale's short side is exactly ``min_size`` (see ``geometry``).
        iterations: training iterations per scale. One iteration = ``d_steps`` discriminator
            updates followed by ``g_steps`` generator updates.
        nfc, min_nfc: channels of the conv layers at scale 0; both double every
            ``widen_every`` scales, capped at ``max_nfc``.
        num_layer: conv layers per network (head + body blocks + tail), kernel ``kernel_size``.
        lr: Adam learning rate of both networks; betas ``(beta1, 0.999)``.
        lr_decay_at: fraction of ``iterations`` after which the learning rate is multiplied by
            ``gamma`` (the official milestone is iteration 1600 of 2000).
        d_steps, g_steps: discriminator and generator updates per iteration.
        lambda_grad: weight of the WGAN-GP gradient penalty.
        alpha: weight of the reconstruction loss.
        noise_amp: noise amplitude at scale n = ``noise_amp`` · RMSE(real_n, upsampled
            reconstruction from scale n−1); 1 at scale 0.
    """

    max_size: int = 250
    min_size: int = 25
    scale_factor: float = 0.75
    iterations: int = 2000
    nfc: int = 32
    min_nfc: int = 32
    max_nfc: int = 128
    widen_every: int = 4
    num_layer: int = 5
    kernel_size: int = 3
    lr: float = 5e-4
    beta1: float = 0.5
    gamma: float = 0.1
    lr_decay_at: float = 0.8
    d_steps: int = 3
    g_steps: int = 3
    lambda_grad: float = 0.1
    alpha: float = 10.0
    noise_amp: float = 0.1

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.scale_factor < 1:
            problems.append(f"scale_factor must be in (0, 1), got {self.scale_factor}")
        if self.min_size < 2 * self.padding + 1:
            problems.append(f"min_size must be at least {2 * self.padding + 1} (the generator's receptive field)")
        if self.max_size < self.min_size:
            problems.append(f"max_size ({self.max_size}) must be at least min_size ({self.min_size})")
        if self.num_layer < 3 or self.kernel_size % 2 == 0:
            problems.append("num_layer must be ≥ 3 and kernel_size odd")
        if min(self.iterations, self.d_steps, self.g_steps, self.nfc, self.min_nfc) < 1:
            problems.append("iterations, d_steps, g_steps, nfc and min_nfc must be ≥ 1")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def padding(self) -> int:
        """Zero padding added around noise and image so that the unpadded convs give the input size:
        ``(kernel_size − 1) · num_layer / 2`` (5 for the defaults)."""
        return (self.kernel_size - 1) * self.num_layer // 2

    @property
    def lr_milestone(self) -> int:
        """The iteration count at which the learning rate drops (1600 for 2000 iterations)."""
        return int(round(self.lr_decay_at * self.iterations))

    def widths(self, scale: int) -> tuple[int, int]:
        """``(nfc, min_nfc)`` at ``scale``: ``min(nfc · 2^⌊scale / widen_every⌋, max_nfc)``."""
        factor = 2 ** (scale // self.widen_every)
        return min(self.nfc * factor, self.max_nfc), min(self.min_nfc * factor, self.max_nfc)

    def lr_factor(self, iteration: int) -> float:
        """Learning-rate multiplier at 0-based ``iteration``.

        The official loop calls ``scheduler.step()`` at the *start* of every iteration, so with
        PyTorch ≥ 1.1 the decay already applies from 0-based iteration ``milestone − 1``; we keep
        that schedule exactly.
        """
        return self.gamma if iteration + 1 >= self.lr_milestone else 1.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PAPER = TrainingSettings()
"""The official defaults: 250 px, factor 0.75 (10 scales on a 256×256 image), 2000 iterations."""

FAST = TrainingSettings(max_size=64, iterations=240, nfc=16, min_nfc=16)
"""CPU profile: ≤ 3 minutes of training per 256-px image on 2 cores (trade-off measured in
``site/docs/singan.md``)."""

PROFILES: dict[str, TrainingSettings] = {"paper": PAPER, "fast": FAST}


def resolve_settings(profile: Profile, overrides: dict[str, Any]) -> TrainingSettings:
    """The profile's settings with the given (non-None) overrides applied."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return replace(PROFILES[profile], **given)

