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
        lr_milestone: the 0-based iteration from which the learning rate is ``gamma · lr``
            (the official ``MultiStepLR(milestones=[1600])``, whatever the iteration count).
        lr_decay_at: instead of a fixed milestone, a fraction of ``iterations`` (the ``fast``
            profile's choice: 0.8, so that its 240 iterations still end at the lower rate).
            Exactly one of ``lr_milestone`` and ``lr_decay_at`` is set.
        d_steps, g_steps: discriminator and generator updates per iteration.
        lambda_grad: weight of the WGAN-GP gradient penalty.
        alpha: weight of the reconstruction loss.
        noise_amp: noise amplitude at scale n = ``noise_amp`` · RMSE(real_n, upsampled
            reconstruction from scale n−1); 1 at scale 0.
        rec_pass_every: the official loop saves a snapshot of ``G(Z_opt)`` at every iteration
            ``i`` with ``i % rec_pass_every == 0`` and at the last one; that is a training-mode
            forward pass, so it also moves the generator's BatchNorm running statistics (which
            sampling uses) towards the reconstruction's. We run the same pass (without saving).
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
    lr_milestone: int | None = 1600
    lr_decay_at: float | None = None
    d_steps: int = 3
    g_steps: int = 3
    lambda_grad: float = 0.1
    alpha: float = 10.0
    noise_amp: float = 0.1
    rec_pass_every: int = 500

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
        if min(self.iterations, self.d_steps, self.g_steps, self.nfc, self.min_nfc, self.rec_pass_every) < 1:
            problems.append("iterations, d_steps, g_steps, nfc, min_nfc and rec_pass_every must be ≥ 1")
        if (self.lr_milestone is None) == (self.lr_decay_at is None):
            problems.append("give exactly one of lr_milestone (an iteration) and lr_decay_at (a fraction of iterations)")
        elif self.lr_decay_at is not None and not 0 < self.lr_decay_at <= 1:
            problems.append(f"lr_decay_at must be in (0, 1], got {self.lr_decay_at}")
        elif self.lr_milestone is not None and self.lr_milestone < 0:
            problems.append(f"lr_milestone must be ≥ 0, got {self.lr_milestone}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def padding(self) -> int:
        """Zero padding added around noise and image so that the unpadded convs give the input size:
        ``(kernel_size − 1) · num_layer / 2`` (5 for the defaults)."""
        return (self.kernel_size - 1) * self.num_layer // 2

    @property
    def milestone(self) -> int:
        """The 0-based iteration from which the learning rate is decayed."""
        if self.lr_milestone is not None:
            return self.lr_milestone
        return int(round(self.lr_decay_at * self.iterations))

    def widths(self, scale: int) -> tuple[int, int]:
        """``(nfc, min_nfc)`` at ``scale``: ``min(nfc · 2^⌊scale / widen_every⌋, max_nfc)``."""
        factor = 2 ** (scale // self.widen_every)
        return min(self.nfc * factor, self.max_nfc), min(self.min_nfc * factor, self.max_nfc)

    def lr_factor(self, iteration: int) -> float:
        """Learning-rate multiplier at 0-based ``iteration``: ``gamma`` from the milestone on.

        The official loop (``SinGAN/training.py`` since the revision that made it run on
        PyTorch ≥ 1.1) calls ``scheduler.step()`` at the *end* of every iteration, after both
        optimisers stepped, so iteration ``i`` runs at the rate ``MultiStepLR`` gives for epoch
        ``i``: the decayed rate from iteration 1600 on. (An earlier revision stepped the
        schedulers at the start of the iteration, one iteration earlier.)
        """
        return self.gamma if iteration >= self.milestone else 1.0

    def rec_pass_at(self, iteration: int, iterations: int | None = None) -> bool:
        """Whether the official loop runs its snapshot forward of ``G(Z_opt)`` after ``iteration``
        (of ``iterations``, by default the settings' count)."""
        last = (self.iterations if iterations is None else iterations) - 1
        return iteration % self.rec_pass_every == 0 or iteration == last

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PAPER = TrainingSettings()
"""The official defaults: 250 px, factor 0.75 (10 scales on a 256×256 image), 2000 iterations,
learning rate decayed from iteration 1600."""

FAST = TrainingSettings(max_size=64, iterations=240, nfc=16, min_nfc=16, lr_milestone=None, lr_decay_at=0.8)
"""CPU profile: ≤ 3 minutes of training per 256-px image on 2 cores (trade-off measured in
``site/docs/singan.md``). Its milestone scales with the iteration count (80 %, iteration 192 of
240) — a deliberate choice: the official fixed milestone 1600 would never be reached, and the
last fifth of the iterations at the lower rate is what the official schedule does."""

PROFILES: dict[str, TrainingSettings] = {"paper": PAPER, "fast": FAST}


def resolve_settings(profile: Profile, overrides: dict[str, Any]) -> TrainingSettings:
    """The profile's settings with the given (non-None) overrides applied."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return replace(PROFILES[profile], **given)

