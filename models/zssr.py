"""ZSSR: "Zero-Shot" super-resolution, a small CNN trained at test time on the input alone.

Shocher, Cohen & Irani, "'Zero-Shot' Super-Resolution using Deep Internal Learning", CVPR 2018;
official code https://github.com/assafshocher/ZSSR (``configs.py``, ``ZSSR.py``, ``utils.py``).
Notes and measured profiles: ``site/docs/zssr.md``.

Algorithm, for an LR image ``y`` (RGB in [0, 1]) and an integer factor ``s``; ``D`` is MATLAB
``imresize`` bicubic downscaling by ``s`` (antialiased), ``U`` bicubic upscaling by ``s``:

- network ``f``: 8 convolutions 3×3 ("same" zero padding, no biases), widths 3→64→…→64→3,
  ReLU after all but the last; residual learning: ``F(x) = U(x) + f(U(x))``. Weights
  ``~ N(0, 0.1 / (9 · c_in))`` (official ``init_variance`` 0.1).
- training pair per iteration: a "father" ``h = crop(A(y))`` with ``A`` a random augmentation
  of ``y`` and the "son" ``D(h)``; loss ``‖F(D(h)) − h‖₁`` (mean absolute error, ``tf.abs``),
  Adam (β = 0.9, 0.999, ε = 1e-8), initial learning rate 1e-3.
- learning-rate policy: every ``test_every`` = 50 iterations record the reconstruction error
  ``e = mean((F(D(y)) − y)²)``; at 0-based iteration ``i`` with ``(i + 1) mod 60 = 0`` and more
  than ``min_iters`` = 256 iterations since the last change, fit a line to the last
  ``256 // 50 = 5`` errors; with slope ``a`` and its standard deviation ``σ_a``, divide the rate
  by 10 when ``−1.5 · a ≤ σ_a`` (no significant progress). Stop when the rate falls below
  9e-6 (after three drops) or after ``max_iters`` = 3000 iterations.
- output: geometric self-ensemble — for each of the 8 rotations/flips ``T_k``,
  ``x_k = T_k⁻¹ F(T_k y)`` clipped to [0, 1], then 10 back-projection steps
  ``x ← clip(x + U(y − D(x)))``; the per-pixel median of the 8, then 10 more back-projection steps.

Official constants (``configs.Config``, the default configuration): depth 8, width 64,
max_iters 3000, min_iters 256, learning_rate 0.001, min_learning_rate 9e-6,
learning_rate_change_ratio 1.5, learning_rate_policy_check_every 60, learning_rate_slope_range 256,
run_test_every 50, crop_size 128, output_flip True, back_projection_iters [10], noise_std 0,
init_variance 0.1; augmentation: leave-as-is probability 0.05, no-interpolation probability 0.45,
min_scale 0.5, scale_diff_sigma 0.25, shear_sigma 0.1, allow_rotation True.

Differences from the official code, and why:

- *Augmentation.* The official ``random_augment`` has three modes: unchanged (5 %), one of the 8
  rotations/flips (45 %), and a random affine warp (50 %: scale ∈ [0.5, 1] with an anisotropic
  difference σ 0.25, shear σ 0.1, any rotation angle, mirror) applied with OpenCV's cubic
  ``warpPerspective`` into a 128×128 window whose uncovered part is black. Here the third mode
  is a MATLAB-``imresize`` downscale by a uniform scale in [0.5, 1] followed by one of the 8
  rotations/flips (no shear, no arbitrary angle, no anisotropy): the project defines every
  down/up-scaling by MATLAB ``imresize`` (OpenCV is not a dependency and does not low-pass when it
  shrinks), and arbitrary angles would put black corners into the fathers. Crops are taken inside
  the image: an image smaller than the crop is used whole (official: zero-filled 128×128).
- *Sizes.* Fathers (and the image used for the reconstruction error) are cropped to multiples of
  ``s`` so that ``U(D(h))`` has exactly the size of ``h`` at exactly the factor ``s`` (the official
  ``imresize`` takes a scale and a size together; the project's takes one of them).
- *Policy degeneracy.* ``≤`` instead of the official ``<`` in the rate test, so that a perfectly
  flat error curve (slope 0, σ 0) counts as stalled rather than as progress. ``σ_a`` is computed as
  the official code's NumPy (< 1.16) ``polyfit(cov=True)`` did: residual sum of squares over
  ``n − 4`` (NumPy ≥ 1.16 divides by ``n − 2`` and would make the test stricter by √3 for n = 5).
- *Determinism.* All randomness comes from generators seeded with the case seed (the official
  code uses the global NumPy and TensorFlow states).
- *Profile ``fast``* (not official): 300 iterations with the policy's schedule shortened (test
  every 10, check every 20, 5-point fit over 50 iterations, 64 iterations between changes),
  crops of 64, no self-ensemble, 10 back-projection steps — see ``site/docs/zssr.md``.

The downscaling kernel (parameter ``kernel``): ``bicubic`` (default, the ideal case above);
``given``: the dataset's true kernel (``RestoreContext.psf``, a non-blind upper bound); or
``estimated``: KernelGAN's estimate (``models/kernelgan.py``). With a kernel, ``D`` is the official
``imresize(kernel=…)`` path (``numeric_kernel``): each channel correlated with the kernel (scipy
``correlate``, mode ``reflect``: mirrored with the edge pixel repeated), sampled at rows/columns
``round(linspace(0, n − s, ⌈n / s⌉))`` (``s·i`` when ``s`` divides ``n``), after the kernel has
been centred by :func:`align_kernel` (official ``kernel_shift``); ``U`` stays bicubic. Each choice
takes the official configuration for it, as changes to the profile:

- ``given``: ``configs.X2_GIVEN_KERNEL_CONF`` — no self-ensemble, no rotations or mirroring in
  the augmentation ("kernel may be non-symmetric"), 2 back-projection steps.
- ``estimated``: KernelGAN's ``ZSSRforKernelGAN/zssr_configs.py`` — as ``given``, and no
  augmentation at all (leave-as-is probability 1: random crops of the image), the L1 loss
  weighted per pixel by the image's gradient map (``grad_based_loss_map``,
  :func:`gradient_loss_map`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from restorebench.metrics.device import select_device
from restorebench.metrics.errors import InvalidImageError, RestoreBenchError
from restorebench.metrics.matlab import imresize
from restorebench.models.base import Method, Resources, register
from restorebench.models.weights import array_to_tensor

Profile = Literal["paper", "fast"]
KernelChoice = Literal["bicubic", "given", "estimated"]
# The son D(h) must keep the 4-tap bicubic support on each side.
MIN_SON_SIDE = 4
MIN_SIDE = 8


@dataclass(frozen=True)
class Settings:
    """Everything that determines a ZSSR result besides the image, the factor and the seed
    (field names follow the official ``configs.Config`` where one exists)."""

    max_iters: int = 3000
    min_iters: int = 256
    crop_size: int = 128
    learning_rate: float = 1e-3
    min_learning_rate: float = 9e-6
    learning_rate_change_ratio: float = 1.5
    learning_rate_policy_check_every: int = 60
    learning_rate_slope_range: int = 256
    run_test_every: int = 50
    self_ensemble: bool = True  # official output_flip
    back_projection_iters: int = 10
    depth: int = 8
    width: int = 64
    init_variance: float = 0.1
    leave_as_is_probability: float = 0.05
    no_interpolate_probability: float = 0.45
    min_scale: float = 0.5
    allow_rotation: bool = True  # official augment_allow_rotation: rotations and mirroring
    gradient_loss_map: bool = False  # KernelGAN's ZSSR: L1 weighted by the image's gradient map

    @property
    def fit_points(self) -> int:
        """How many recorded errors the slope is fitted to (official: 256 // 50 = 5)."""
        return self.learning_rate_slope_range // self.run_test_every


PAPER = Settings()
FAST = Settings(
    max_iters=300, min_iters=64, crop_size=64, learning_rate_policy_check_every=20,
    learning_rate_slope_range=50, run_test_every=10, self_ensemble=False,
)
PROFILES: dict[str, Settings] = {"paper": PAPER, "fast": FAST}
# What the official example configurations change for a known kernel (ZSSR configs.py,
# X2_GIVEN_KERNEL_CONF) and for KernelGAN's estimate (KernelGAN ZSSRforKernelGAN/zssr_configs.py).
GIVEN_KERNEL_CHANGES: dict[str, Any] = {"self_ensemble": False, "allow_rotation": False, "back_projection_iters": 2}
KERNEL_CHANGES: dict[str, dict[str, Any]] = {
    "bicubic": {},
    "given": GIVEN_KERNEL_CHANGES,
    "estimated": {
        **GIVEN_KERNEL_CHANGES, "leave_as_is_probability": 1.0, "no_interpolate_probability": 0.0,
        "gradient_loss_map": True,
    },
}


def resolve_settings(profile: Profile, overrides: dict[str, Any], *, kernel: KernelChoice = "bicubic") -> Settings:
    """The profile's settings, changed as the official configuration for ``kernel`` does, with
    the given (non-None) overrides applied last."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return replace(PROFILES[profile], **{**KERNEL_CHANGES[kernel], **given})


def minimum_side(scale: int) -> int:
    return max(MIN_SIDE, MIN_SON_SIDE * scale)


def check_size(shape: tuple[int, ...], scale: int) -> None:
    """Raise :class:`InvalidImageError` unless an ``H×W×3`` image can train ZSSR at ``scale``."""
    if len(shape) != 3 or shape[2] != 3:
        raise InvalidImageError(f"zssr: expected an RGB H×W×3 image, got shape {tuple(shape)}")
    need = minimum_side(scale)
    h, w = shape[:2]
    if min(h, w) < need:
        raise InvalidImageError(
            f"zssr: the LR image is {w}×{h} pixels; ×{scale} needs at least {need}×{need} "
            f"(its own ×{scale} downscaled copy must keep {MIN_SON_SIDE} pixels a side)"
        )


# -- resampling (MATLAB imresize, bicubic; or a given kernel) ---------------------------------

def downscale(image: np.ndarray, scale: int, *, kernel: np.ndarray | None = None) -> np.ndarray:
    """``D``: bicubic, antialiased, to exactly ``size // scale`` (sizes are multiples of ``scale``);
    with an (aligned) ``kernel``, :func:`kernel_downscale` instead."""
    if kernel is not None:
        return kernel_downscale(image, kernel, scale=scale)
    h, w = image.shape[:2]
    return imresize(image, output_shape=(h // scale, w // scale), method="bicubic")


def kernel_downscale(image: np.ndarray, kernel: np.ndarray, *, scale: int) -> np.ndarray:
    """Official ``numeric_kernel``: ``(k ⋆ x)[r_i, c_j]`` per channel, ``⋆`` correlation centred at
    index ``size // 2`` with mirrored borders (scipy ``reflect``), ``r_i = round(i · (n − s) / (m − 1))``
    for ``i < m = ⌈n / s⌉`` (``s·i`` when ``s`` divides ``n``)."""
    from scipy.ndimage import correlate

    blurred = correlate(image, np.asarray(kernel, dtype=np.float64)[:, :, None], mode="reflect")
    h, w = image.shape[:2]
    rows = np.round(np.linspace(0, h - scale, math.ceil(h / scale))).astype(int)
    cols = np.round(np.linspace(0, w - scale, math.ceil(w / scale))).astype(int)
    return blurred[rows[:, None], cols]


def align_kernel(kernel: np.ndarray, *, scale: int) -> np.ndarray:
    """Official ``kernel_shift``: move the kernel's centre of mass to ``n // 2 + (s − n mod 2) / 2``
    (per axis, ``n`` its size) by a cubic-spline shift, after zero-padding it by
    ``⌈max |shift|⌉ + 1``. For an odd size, correlation centred at ``n // 2`` then looks
    ``(s − 1) / 2`` pixels forward: output pixel ``i`` averages around the centre of the s×s cell
    it stands for, as bicubic ``imresize`` does."""
    from scipy.ndimage import center_of_mass, shift

    kernel = np.asarray(kernel, dtype=np.float64)
    size = np.array(kernel.shape)
    offset = size // 2 + 0.5 * (scale - size % 2) - np.array(center_of_mass(kernel))
    padded = np.pad(kernel, int(np.ceil(np.max(np.abs(offset)))) + 1)
    return shift(padded, offset)


def upscale(image: np.ndarray, scale: int) -> np.ndarray:
    """``U``: bicubic to ``size · scale``."""
    h, w = image.shape[:2]
    return imresize(image, output_shape=(h * scale, w * scale), method="bicubic")


def crop_to_multiple(image: np.ndarray, scale: int) -> np.ndarray:
    h, w = image.shape[:2]
    return image[: h - h % scale, : w - w % scale]


def back_project(
    sr: np.ndarray, lr: np.ndarray, *, scale: int, iterations: int, kernel: np.ndarray | None = None
) -> np.ndarray:
    """``x ← clip(x + U(y − D(x)), 0, 1)``, ``iterations`` times (official ``back_projection``)."""
    for _ in range(iterations):
        sr = np.clip(sr + upscale(lr - downscale(sr, scale, kernel=kernel), scale), 0.0, 1.0)
    return sr


# -- geometry ---------------------------------------------------------------------------------

def dihedral(image: np.ndarray, k: int) -> np.ndarray:
    """The official ``final_test`` transform ``k`` ∈ 0…7: rotation by 90°·k, mirrored when k ≥ 4."""
    return np.rot90(image, k) if k < 4 else np.fliplr(np.rot90(image, k))


def undo_dihedral(image: np.ndarray, k: int) -> np.ndarray:
    return np.rot90(image, -k) if k < 4 else np.rot90(np.fliplr(image), -k)


def sample_father(image: np.ndarray, rng: np.random.Generator, *, settings: Settings, scale: int) -> np.ndarray:
    """One "father": a random crop of a randomly augmented ``image`` (float, [0, 1]).

    Modes as in the official ``random_augment``: unchanged; one of the 8 rotations/flips; or a
    bicubic downscale by a uniform factor in [min_scale, 1] and a rotation/flip (see the module
    docstring for what this leaves out); without ``allow_rotation`` no rotation or flip is made.
    The crop is ``crop_size`` square, or the whole (augmented) image when smaller, and its sides
    are multiples of ``scale``. Channels beyond the third (a loss map carried along) are
    transformed alike and not clipped.
    """
    h, w = image.shape[:2]
    chooser = rng.random()
    turn = (lambda x: dihedral(x, int(rng.integers(8)))) if settings.allow_rotation else (lambda x: x)
    if chooser < settings.leave_as_is_probability:
        father = image
    elif chooser < settings.leave_as_is_probability + settings.no_interpolate_probability:
        father = turn(image)
    else:
        # Never shrink below what the son needs.
        lowest = max(settings.min_scale, minimum_side(scale) / min(h, w))
        factor = rng.uniform(lowest, 1.0) if lowest < 1.0 else 1.0
        size = (max(minimum_side(scale), round(h * factor)), max(minimum_side(scale), round(w * factor)))
        father = turn(imresize(image, output_shape=size, method="bicubic"))
        father = np.concatenate([np.clip(father[..., :3], 0.0, 1.0), father[..., 3:]], axis=2)
    fh, fw = father.shape[:2]
    ch = min(settings.crop_size, fh) // scale * scale
    cw = min(settings.crop_size, fw) // scale * scale
    top = int(rng.integers(fh - ch + 1))
    left = int(rng.integers(fw - cw + 1))
    return np.ascontiguousarray(father[top : top + ch, left : left + cw])


def gradient_loss_map(image: np.ndarray, *, window: int = 5) -> np.ndarray:
    """KernelGAN's ZSSR ``create_loss_map``: the gray image's gradient magnitude summed over
    ``window``×``window`` squares, zero within ``(window + window mod 2) / 2`` pixels of the border,
    normalised to mean 1 (all ones for an image without gradients); ``H×W×1``."""
    from scipy.signal import convolve2d

    gray = image[..., :3] @ np.array([0.299, 0.587, 0.114])
    grad_r, grad_c = np.gradient(gray)
    summed = convolve2d(np.sqrt(grad_r**2 + grad_c**2), np.ones((window, window)), "same")
    margin = (window + window % 2) // 2
    weights = np.zeros_like(summed)
    weights[margin:-margin, margin:-margin] = np.clip(summed[margin:-margin, margin:-margin], 0.0, 255.0)
    mean = weights.mean()
    return (weights / mean if mean > 0 else np.ones_like(weights))[..., None]


# -- learning-rate policy ---------------------------------------------------------------------

def slope_and_std(steps: np.ndarray, errors: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of ``errors`` over ``steps`` and its standard deviation, scaled as the
    official code's ``numpy.polyfit(deg=1, cov=True)`` (NumPy < 1.16): residual sum of squares
    over ``n − 4``. Needs ``n ≥ 5`` points."""
    x = np.asarray(steps, dtype=np.float64)
    y = np.asarray(errors, dtype=np.float64)
    n = x.size
    if n < 5:
        raise ValueError(f"the slope's deviation needs at least 5 points, got {n}")
    dx = x - x.mean()
    sxx = float(dx @ dx)
    slope = float(dx @ (y - y.mean())) / sxx
    residuals = y - (y.mean() + slope * dx)
    variance = float(residuals @ residuals) / (n - 4) / sxx
    return slope, math.sqrt(variance)


def policy_check_due(iteration: int, last_change: int, *, settings: Settings) -> bool:
    """Official ``learning_rate_policy`` gate (0-based ``iteration``)."""
    return (iteration + 1) % settings.learning_rate_policy_check_every == 0 and iteration - last_change > settings.min_iters


def next_learning_rate(steps: np.ndarray, errors: np.ndarray, learning_rate: float, *, change_ratio: float) -> float:
    """The rate divided by 10 when the recent reconstruction errors show no significant descent
    (``−change_ratio · slope ≤ std(slope)``), else unchanged."""
    slope, std = slope_and_std(steps, errors)
    return learning_rate / 10.0 if -change_ratio * slope <= std else learning_rate


# -- network ----------------------------------------------------------------------------------

def build_network(*, depth: int, width: int, init_variance: float, generator):
    """``depth`` bias-free 3×3 convolutions, 3 → width → … → 3, ReLU between, zero "same"
    padding; weights ``N(0, init_variance / (9 · c_in))`` drawn from ``generator`` (CPU)."""
    import torch
    from torch import nn

    channels = [3] + [width] * (depth - 1) + [3]
    layers: list[nn.Module] = []
    for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:])):
        conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        with torch.no_grad():
            std = math.sqrt(init_variance / (9 * c_in))
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * std)
        layers.append(conv)
        if i < depth - 1:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def predict(net, interpolated: np.ndarray, device) -> np.ndarray:
    """``clip(U(x) + f(U(x)), 0, 1)`` for an already upscaled ``interpolated`` image."""
    import torch

    with torch.no_grad():
        x = array_to_tensor(interpolated, device)
        out = (x + net(x))[0].clamp_(0.0, 1.0)
    return out.permute(1, 2, 0).cpu().numpy().astype(np.float64)


@dataclass
class TrainingLog:
    """What the training loop did (for tests and notes): the recorded reconstruction errors, the
    iterations at which the rate dropped, the number of iterations run."""

    steps: list[int]
    errors: list[float]
    changes: list[int]
    iterations: int = 0


def train(
    image: np.ndarray, *, scale: int, settings: Settings, seed: int, device, kernel: np.ndarray | None = None
) -> tuple[Any, TrainingLog]:
    """Train ZSSR's network on ``image`` (float RGB in [0, 1]) alone, as the official ``train``;
    sons are made with ``kernel`` (aligned, see :func:`align_kernel`) when given, else bicubic."""
    import torch

    seeds = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(seeds[0])
    generator = torch.Generator().manual_seed(int(seeds[1].generate_state(1, dtype=np.uint64)[0] >> 1))
    net = build_network(depth=settings.depth, width=settings.width, init_variance=settings.init_variance, generator=generator)
    net = net.to(device).train()
    lr = settings.learning_rate
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)

    # Reconstruction test: F(D(y)) against y; its input does not change during training.
    reference = crop_to_multiple(image, scale)
    test_input = upscale(downscale(reference, scale, kernel=kernel), scale)
    log = TrainingLog(steps=[], errors=[], changes=[0])
    n = settings.fit_points
    # A per-pixel loss weight travels with the image through augmentation and cropping.
    source = np.concatenate([image, gradient_loss_map(image)], axis=2) if settings.gradient_loss_map else image
    for iteration in range(settings.max_iters):
        sample = sample_father(source, rng, settings=settings, scale=scale)
        father = np.ascontiguousarray(sample[..., :3])
        son = upscale(downscale(father, scale, kernel=kernel), scale)
        x, target = array_to_tensor(son, device), array_to_tensor(father, device)
        error = torch.abs(x + net(x) - target)
        if settings.gradient_loss_map:
            error = error * array_to_tensor(np.ascontiguousarray(sample[..., 3:]), device)
        loss = torch.mean(error)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        log.iterations = iteration + 1

        if iteration % settings.run_test_every == 0:
            net.eval()
            error = float(np.mean((predict(net, test_input, device) - reference) ** 2))
            net.train()
            log.steps.append(iteration)
            log.errors.append(error)

        if policy_check_due(iteration, log.changes[-1], settings=settings) and len(log.errors) >= n:
            new_lr = next_learning_rate(
                np.array(log.steps[-n:]), np.array(log.errors[-n:]), lr,
                change_ratio=settings.learning_rate_change_ratio,
            )
            if new_lr != lr:
                lr = new_lr
                log.changes.append(iteration)
                for group in optimizer.param_groups:
                    group["lr"] = lr
        if lr < settings.min_learning_rate:
            break
    return net.eval(), log


def super_resolve(
    net, image: np.ndarray, *, scale: int, settings: Settings, device, kernel: np.ndarray | None = None
) -> np.ndarray:
    """Official ``final_test``: self-ensemble (8 transforms or 1), back-projection per output
    (through ``kernel`` when given), per-pixel median, back-projection of the median."""
    outputs = []
    for k in range(8 if settings.self_ensemble else 1):
        transformed = np.ascontiguousarray(dihedral(image, k))
        out = undo_dihedral(predict(net, upscale(transformed, scale), device), k)
        outputs.append(back_project(out, image, scale=scale, iterations=settings.back_projection_iters, kernel=kernel))
    fused = outputs[0] if len(outputs) == 1 else np.median(np.stack(outputs), axis=0)
    return back_project(fused, image, scale=scale, iterations=settings.back_projection_iters, kernel=kernel)


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(image * 255.0 + 0.5), 0, 255).astype(np.uint8)


# -- the method -------------------------------------------------------------------------------

def bicubic_kernel(scale: int) -> np.ndarray:
    """MATLAB's antialiased bicubic ×1/s as one ``4s×4s`` kernel: ``w wᵀ`` with
    ``w_t = cubic((t − (4s − 1)/2) / s) / s``, t = 0 … 4s − 1 (symmetric, sums to 1; for s = 2 the
    table of KernelGAN's ``DownScaleLoss``)."""
    x = np.abs((np.arange(4 * scale) - (4 * scale - 1) / 2) / scale)
    cubic = np.where(x <= 1, 1.5 * x**3 - 2.5 * x**2 + 1, np.where(x < 2, -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2, 0.0))
    w = cubic / scale
    return np.outer(w, w)


class ZSSRParams(BaseModel):
    """Parameters of the ``zssr`` method. Unset overrides take the profile's value."""

    model_config = ConfigDict(extra="forbid")
    profile: Profile = Field("paper", description="paper: official defaults; fast: CPU profile (≈10 s for 64×64 at ×2)")
    kernel: KernelChoice = Field(
        "bicubic", description="downscaling kernel: bicubic (official default), given (the dataset's "
        "true kernel), estimated (KernelGAN's estimate); each with its official configuration")
    scale: int | None = Field(None, ge=2, le=8, description="SR factor; default: the dataset's")
    max_iters: int | None = Field(None, ge=1, description="training iterations at most (official 3000)")
    crop_size: int | None = Field(None, ge=8, description="father crop side in LR pixels (official 128)")
    self_ensemble: bool | None = Field(None, description="median over the 8 rotations/flips (official True; False with a kernel)")
    back_projection_iters: int | None = Field(None, ge=0, description="back-projection steps (official 10; 2 with a kernel)")
    kernelgan_iters: int | None = Field(None, ge=1, description="kernel: estimated — KernelGAN iterations (official 3000)")

    @model_validator(mode="after")
    def _estimates_fit_the_options(self) -> "ZSSRParams":
        if self.kernelgan_iters is not None and self.kernel != "estimated":
            raise ValueError(f"kernelgan_iters applies to kernel: estimated only (kernel is {self.kernel})")
        if self.kernel == "estimated" and self.scale not in (None, 2, 4):
            raise ValueError(f"kernel: estimated works at ×2 and ×4 (KernelGAN's kernels), not ×{self.scale}")
        return self

    def overrides(self) -> dict[str, Any]:
        return self.model_dump(exclude={"profile", "scale", "kernel", "kernelgan_iters"})


@register()
class ZSSR(Method):
    """ZSSR (Shocher et al., CVPR 2018): a CNN trained on the LR image's own downscaled copies."""

    name = "zssr"
    tasks = frozenset({"sr"})
    Params = ZSSRParams
    summary = "ZSSR (Shocher et al. 2018): 8-layer CNN trained at test time on the input alone"

    def __init__(self, params: BaseModel | None = None, **kwargs: Any):
        super().__init__(params, **kwargs)
        self.settings = resolve_settings(self.params.profile, self.params.overrides(), kernel=self.params.kernel)
        self.kernelgan_settings = None
        if self.params.kernel == "estimated":
            from restorebench.models import kernelgan

            self.kernelgan_settings = kernelgan.resolve_settings(self.params.profile, {"max_iters": self.params.kernelgan_iters})
        # Of the last restored image: the training log, the PSF the result assumed, KernelGAN's log.
        self.log: TrainingLog | None = None
        self.psf: np.ndarray | None = None
        self.kernelgan_log: Any = None

    @property
    def params_dict(self) -> dict[str, Any]:
        """The parameters given (unset overrides are left out of records and hashes)."""
        return self.params.model_dump(mode="json", exclude_none=True)

    def resources(self) -> Resources:
        """A quarter of a GPU: one 8-layer, 64-channel network trained on crops of one image."""
        return Resources(gpus=0.25)

    def estimated_kernel(self) -> np.ndarray | None:
        """The PSF the last result assumed: bicubic, the dataset's, or KernelGAN's estimate."""
        return self.psf

    def sr_scales(self) -> frozenset[int] | None:
        """Any factor; ×2 and ×4 with ``kernel: estimated`` (KernelGAN's kernels)."""
        if self.params.scale:
            return frozenset({self.params.scale})
        return frozenset({2, 4}) if self.params.kernel == "estimated" else None

    def restore(self, image: np.ndarray) -> np.ndarray:
        scale = int(self.params.scale or self.ctx.scale)
        if scale < 2:
            raise RestoreBenchError(f"{self.name}: super-resolves by a factor ≥ 2, got ×{scale}")
        check_size(image.shape, scale)
        device = select_device(self.ctx.device)
        lr = image.astype(np.float64) / 255.0
        self.psf = self._psf(lr, scale, device)
        # D correlates: the PSF flipped, centred on the cell each LR pixel stands for.
        kernel = None if self.params.kernel == "bicubic" else align_kernel(self.psf[::-1, ::-1], scale=scale)
        net, self.log = train(lr, scale=scale, settings=self.settings, seed=self.ctx.seed, device=device, kernel=kernel)
        return to_uint8(super_resolve(net, lr, scale=scale, settings=self.settings, device=device, kernel=kernel))

    def _psf(self, lr: np.ndarray, scale: int, device) -> np.ndarray:
        choice = self.params.kernel
        if choice == "bicubic":
            return bicubic_kernel(scale)
        if choice == "given":
            if self.ctx.psf is None:
                raise InvalidImageError(
                    f"{self.name}: kernel: given needs the dataset's true kernel, and item "
                    f"'{self.ctx.item_id}' has none (lr_sets: kernel.psf.npy in the set folder)"
                )
            return np.asarray(self.ctx.psf, dtype=np.float64)
        from restorebench.models import kernelgan

        psf, self.kernelgan_log = kernelgan.estimate_psf(
            lr, scale=scale, settings=self.kernelgan_settings, seed=self.ctx.seed, device=device
        )
        return psf
