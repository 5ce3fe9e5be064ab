"""KernelGAN: the image's own downscaling kernel, estimated by an internal GAN; then ZSSR with it.

Bell-Kligler, Shocher & Irani, "Blind Super-Resolution Kernel Estimation using an Internal-GAN",
NeurIPS 2019; official code https://github.com/sefibk/KernelGAN (``configs.py``, ``networks.py``,
``loss.py``, ``kernelGAN.py``, ``learner.py``, ``data.py``, ``util.py``, ``ZSSRforKernelGAN/``).
Notes and measured profiles: ``site/docs/kernelgan.md``.

Algorithm, for an LR image ``y`` (RGB in [0, 1], fed to the networks as ``2y − 1``):

- generator ``G``: a deep *linear* network that downscales by 2 — six bias-free convolutions of
  sizes 7, 5, 3, 1, 1, 1 ("valid"), 1 → 64 → … → 64 → 1 channels, the last with stride 2, each
  colour channel passed separately. ``G(x) = (k ⋆ x)↓2``: one 13×13 correlation kernel ``k``
  (receptive field 7 + 5 + 3 − 2), which is read off by passing a delta through the layers.
- discriminator ``D``: a fully convolutional patch discriminator — a 7×7 convolution 3 → 64, five
  1×1 convolutions 64 → 64 each followed by batch norm and ReLU, a 1×1 convolution 64 → 1 and a
  sigmoid; every convolution spectrally normalised. Its output is a 20×20 map for a 26×26 input:
  one "real?" score per 7×7 patch.
- per iteration: a 64×64 crop ``x`` of ``y`` for ``G`` and a 26×26 crop ``r`` of ``y`` (plus
  noise σ = 1/255) for ``D`` — 26 = size of ``G(x)`` — at centres drawn with probability from
  the image gradients (:func:`crop_probabilities`). ``G`` minimises
  ``mean|D(G(x)) − 1| + λ_bic·L_bic + λ_sum·|1 − Σk| + λ_bound·mean|k·m| + λ_cent·L_cent
  + λ_sparse·mean|k|^0.2``, with ``L_bic = mean((G(x) − B(x))²)`` against bicubic ×½ ``B``,
  ``m`` a mask on the kernel's 2-pixel frame (``30·(1 − g/max g)``, ``g`` a Gaussian σ 13),
  ``L_cent`` the squared distance of ``k``'s centre of mass from (6.5, 6.5) (the centre of the
  2×2 cell a ×2 sample stands for). ``D`` minimises
  ``½(mean|D(G(x) + n)| + mean|D(r) − 1|)`` (``n`` noise σ = 1/255 on the [−1, 1] scale).
  Adam (lr 2e-4, β 0.5, 0.999) for both.
- schedule (official ``Learner``): λ = (bic 5, sum 0.5, bound 0.5, cent 0, sparse 0). Once ``G``
  is "similar to bicubic" (``L_bic`` below 0.4 — here relative, see below — three iterations in a
  row), every 200 iterations ``λ_bic ← max(λ_bic / 100, 5e-6)``; when it first falls below 5e-3,
  ``λ_cent = 1`` and ``λ_sparse = 5``. Both learning rates are divided by 10 every 750
  iterations. 3000 iterations.
- kernel: ``k`` of the last iteration, values below 0.75 × its 41st largest subtracted (and
  clipped at 0), normalised to sum 1, centred by :func:`models.zssr.align_kernel` for ×2 (13×13
  becomes 17×17 by that function's padding). For ×4, ``k₄ = k ∗ k↑2`` (full convolution with
  its 2×-dilated self: downscaling twice by 2 with ``k``), ``3n − 2`` wide, cropped by ``n // 2``
  a side (33×33 from 17×17) and normalised (official ``analytic_kernel``). The method exposes the
  PSF, ``k`` flipped (``G`` correlates).
- SR: ZSSR (``models/zssr.py``, ``kernel: estimated``) with ``D`` = the aligned estimated kernel, in
  the official ``ZSSRforKernelGAN`` configuration: no augmentation (random crops only: rotations
  would turn an anisotropic kernel), L1 loss weighted by the image's gradient map, no
  self-ensemble, 2 + 2 back-projection steps.

Official constants (``configs.py``, ``kernelGAN.py``, ``learner.py``, ``loss.py``, ``util.py``,
``data.py``): input_crop_size 64, G_chan 64, D_chan 64, G_kernel_size 13, D_n_layers 7,
D_kernel_size 7, G_structure [7, 5, 3, 1, 1, 1], max_iters 3000, g_lr = d_lr = 2e-4, beta1 0.5,
n_filtering 40; lambda_sum2one 0.5, lambda_bicubic 5, lambda_boundaries 0.5, lambda_centralized 0,
lambda_sparse 0; lambda_update_freq 200, bic_loss_to_start_change 0.4,
lambda_bicubic_decay_rate 100, update_l_rate_freq 750, update_l_rate_rate 10,
lambda_sparse_end 5, lambda_centralized_end 1, lambda_bicubic_min 5e-6; sparsity power 0.2,
boundary penalty scale 30; gradient map window 5, clipping percentile 0.97; edge shave 10 pixels
(synthetic images); weights ``xavier_normal(gain 0.1)``, batch-norm scales ``N(1, 0.02)``.

Differences from the official code, and why:

- *Bicubic loss per channel.* The official ``resize_tensor_w_kernel`` expands the 8×8 bicubic
  kernel to a 3 → 3 convolution without groups, so each channel of its "bicubic downscale" is
  the *sum* of the three downscaled channels (a gray image ×3; sefibk/KernelGAN issues #28, #47).
  Here each channel is downscaled on its own, as the loss's docstring and the paper describe.
- *"Similar to bicubic" relative to the target.* The official test is ``L_bic < 0.4`` on the
  summed-channel loss above. With the loss per channel, on the [−1, 1] scale, a mid-gray image
  passes it at once: ``G`` starts as an almost-zero map (six layers of ``xavier(0.1)`` weights)
  whose output, 0, is mid-gray. ``λ_bic`` then decays and the constraints come in before ``G`` has
  learnt anything (measured on a builtin page image: the official ``G`` at lr 2e-4 keeps an
  output ≈ 0 (the ratio below stays ≈ 1) until iteration ≈ 300, then fits ``B(x)`` within a few
  iterations) — against the ``Learner``'s own rule "until similar to bicubic is satisfied,
  don't update any other lambdas". Here the test is
  ``mean((G(x) − B(x))²) / mean(B(x)²) < 0.4``: 1 at the start for every image, below 0.4 once
  ``G`` reproduces most of the bicubic downscale; for a dark image (``B(x) ≈ −1``) it is the
  official test.
- *Fresh noise on the real crops.* The official ``next_crop`` adds the noise to a view of the
  image (``crop_im +=``), so the noise accumulates in the image over the iterations — on a
  76×76 image every pixel is in a crop hundreds of times. Here each real crop gets its own noise.
- *Discriminator initialisation* (reproduced, not changed). The official ``weights_init_D`` runs
  after a forward pass, when the spectrally normalised convolutions' ``weight`` is a computed
  copy: the xavier draw is lost and the convolutions keep PyTorch's default ``U(±1/√fan_in)``
  (biases are zeroed, batch norm initialised). That is what is drawn here; the scale is
  immaterial anyway, since spectral normalisation divides by the largest singular value.
- *Small images.* The official code shaves 10 pixels off every edge of a synthetic image; here
  at most as many as leave room for ``G``'s crop (the builtin ×4 sets are 48×48). Images smaller
  than the crop are refused with both sizes.
- *Flat images.* The official gradient map divides by zero on an image without gradients; here
  such an image draws crop centres uniformly.
- *×4.* The official code runs ZSSR gradually: ×2 with ``k``, then ×4 with ``k₄``, keeping the
  network. Its fathers are always crops of the input (leave-as-is probability 1 never picks the
  ×2 result), so the ×2 stage only warm-starts the ×4 network; here ZSSR goes to ×4 in one
  stage with ``k₄``.
- *ZSSR.* The project's ZSSR, with its own documented differences (``models/zssr.py``); the
  official variant's zero-filled 128×128 window for smaller images is the whole image here.
- *Determinism.* All randomness (initial weights, spectral-norm vectors, crop centres, noise, ZSSR)
  comes from generators seeded with the case seed.
- *Profile ``fast``* (not official): see ``FAST`` below and ``site/docs/kernelgan.md``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from pydantic import Field

from restorebench.metrics.errors import InvalidImageError, RestoreBenchError
from restorebench.metrics.matlab import imresize
from restorebench.models import zssr
from restorebench.models.base import register
from restorebench.models.weights import array_to_tensor

Profile = Literal["paper", "fast"]
SCALES = frozenset({2, 4})  # ×2 estimated, ×4 derived from it (official)
GRAY_WEIGHTS = (0.299, 0.587, 0.114)  # official util.rgb2gray


@dataclass(frozen=True)
class Settings:
    """Everything that determines a kernel estimate besides the image and the seed (names follow
    the official ``configs.py`` and ``learner.py``)."""

    max_iters: int = 3000
    input_crop_size: int = 64
    g_chan: int = 64
    d_chan: int = 64
    g_structure: tuple[int, ...] = (7, 5, 3, 1, 1, 1)
    d_n_layers: int = 7
    d_kernel_size: int = 7
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    beta1: float = 0.5
    n_filtering: int = 40
    edge_shave: int = 10
    lambda_update_freq: int = 200
    update_l_rate_freq: int = 750

    @property
    def g_kernel_size(self) -> int:
        """The size of the kernel ``G`` applies: its receptive field (official G_kernel_size 13)."""
        return sum(self.g_structure) - len(self.g_structure) + 1

    @property
    def g_output_size(self) -> int:
        """``G``'s output side for an input crop (official ``G.output_size``: 26 for 64)."""
        return (self.input_crop_size - self.g_kernel_size + 1 + 1) // 2

    @property
    def d_output_size(self) -> int:
        return self.g_output_size - self.d_kernel_size + 1


@dataclass
class Lambdas:
    """Weights of the generator's regularisers (official ``KernelGAN`` class attributes)."""

    bicubic: float = 5.0
    sum2one: float = 0.5
    boundaries: float = 0.5
    centralized: float = 0.0
    sparse: float = 0.0


# Official learner.py constants.
BICUBIC_LOSS_TO_START_CHANGE = 0.4
LAMBDA_BICUBIC_DECAY_RATE = 100.0
LAMBDA_BICUBIC_MIN = 5e-6
CONSTRAINTS_BELOW = 5e-3
LAMBDA_SPARSE_END = 5.0
LAMBDA_CENTRALIZED_END = 1.0
L_RATE_DIVISOR = 10.0
SPARSITY_POWER = 0.2
BOUNDARY_PENALTY = 30.0
NOISE_STD = 1.0 / 255.0

PAPER = Settings()
# Not official (site/docs/kernelgan.md): a 32-channel G on 32×32 crops (≈ 1/5 of the official
# cost per iteration) and learning rates ×5, so that G leaves its near-zero start after ≈ 50
# instead of ≈ 300 iterations; 600 iterations with the schedule shortened to match (lambda
# updates every 40, learning-rate drops every 150). ≈ 12 s of CPU per 96×96 image.
FAST = Settings(
    max_iters=600, input_crop_size=32, g_chan=32, g_lr=1e-3, d_lr=1e-3, lambda_update_freq=40, update_l_rate_freq=150
)
PROFILES: dict[str, Settings] = {"paper": PAPER, "fast": FAST}


def resolve_settings(profile: Profile, overrides: dict[str, Any]) -> Settings:
    """The profile's settings with the given (non-None) overrides applied."""
    return replace(PROFILES[profile], **{k: v for k, v in overrides.items() if v is not None})


def edge_to_shave(shape: tuple[int, ...], settings: Settings) -> int:
    """Pixels shaved off each edge before training: the official 10 (boundary effects of
    synthetic images), or as many as leave room for ``G``'s crop on a smaller image. Raises
    :class:`InvalidImageError` for an image that is not RGB or is smaller than the crop."""
    if len(shape) != 3 or shape[2] != 3:
        raise InvalidImageError(f"kernelgan: expected an RGB H×W×3 image, got shape {tuple(shape)}")
    h, w = shape[:2]
    crop = settings.input_crop_size
    if min(h, w) < crop:
        raise InvalidImageError(
            f"kernelgan: the LR image is {w}×{h} pixels; it needs at least {crop}×{crop} (the generator's crop)"
        )
    return min(settings.edge_shave, (min(h, w) - crop) // 2)


# -- kernels ----------------------------------------------------------------------------------

def penalty_mask(size: int, *, scale: float = BOUNDARY_PENALTY) -> np.ndarray:
    """Official ``create_penalty_mask``: ``scale · (1 − g / max g)`` with ``g`` a Gaussian of σ =
    ``size``, zero inside the frame of width ``(size − (size // 2 + size mod 2)) // 2 − 1``."""
    z = np.arange(-size // 2 + 1, size // 2 + 1)
    g = np.exp(-(z**2) / (2.0 * size**2))
    mask = 1.0 - np.outer(g, g) / np.outer(g, g).max()
    margin = (size - (size // 2 + size % 2)) // 2 - 1
    mask[margin:-margin, margin:-margin] = 0.0
    return scale * mask


def wanted_center(size: int, *, scale: int = 2) -> float:
    """Official ``CentralizedLoss`` target: ``size // 2 + (s − size mod 2) / 2`` (6.5 for 13, ×2)."""
    return size // 2 + 0.5 * (scale - size % 2)


def post_process_kernel(kernel: np.ndarray, *, n: int) -> np.ndarray:
    """Official ``post_process_k``: ``k' = max(k − 0.75·k₍ₙ₊₁₎, 0) / Σ``, ``k₍ₙ₊₁₎`` the
    (n+1)-th largest value, then centred for ×2 (:func:`models.zssr.align_kernel`)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    floor = 0.75 * np.sort(kernel.ravel())[-n - 1]
    significant = np.clip(kernel - floor, 0.0, None)
    return zssr.align_kernel(significant / significant.sum(), scale=2)


def analytic_kernel_x4(kernel: np.ndarray) -> np.ndarray:
    """Official ``analytic_kernel``: ``k₄ = k ∗ k↑2`` (``k↑2`` has ``k[r, c]`` at ``(2r, 2c)``),
    size ``3n − 2``, cropped by ``n // 2`` a side and normalised to sum 1."""
    from scipy.signal import convolve2d

    n = kernel.shape[0]
    dilated = np.zeros((2 * n - 1, 2 * n - 1))
    dilated[::2, ::2] = kernel
    big = convolve2d(kernel, dilated)
    crop = n // 2
    cropped = big[crop:-crop, crop:-crop]
    return cropped / cropped.sum()


# -- crops ------------------------------------------------------------------------------------

def zero_border(image: np.ndarray, edge: int) -> np.ndarray:
    """Official ``pad_edges``: the image with a frame of ``edge`` pixels set to 0."""
    out = np.zeros_like(image)
    out[edge:-edge, edge:-edge] = image[edge:-edge, edge:-edge]
    return out


def clip_extreme(values: np.ndarray, *, percent: float) -> np.ndarray:
    """Official ``clip_extreme``: ``clip(v, a, b) − a`` with ``a`` the value at the ``percent``
    quantile (sorted index ``⌊percent·n⌋``) and ``b`` the next larger one (``a + 1e-5`` on a tie)."""
    ordered = np.sort(values.ravel())
    pivot = int(percent * ordered.size)
    low = ordered[pivot]
    high = ordered[pivot + 1] if ordered[pivot + 1] > low else low + 1e-5
    return np.clip(values, low, high) - low


def _share(values: np.ndarray) -> np.ndarray:
    total = values.sum()
    return values / total if total > 0 else np.zeros_like(values)


def gradient_map(image: np.ndarray, *, window: int = 5, percent: float = 0.97) -> np.ndarray:
    """Official ``create_gradient_map``: with ``(g_r, g_c) = ∇ gray`` and the frame of ``window``
    zeroed, ``M = box_window ∗ (c(|g_r|)/Σ + c(|g_c|)/Σ + |∇|/Σ)`` (``c`` = :func:`clip_extreme`),
    normalised to mean 1 (all zero for an image without gradients)."""
    from scipy.signal import convolve2d

    gray = image[..., :3] @ np.array(GRAY_WEIGHTS)
    grad_r, grad_c = np.gradient(gray)
    magnitude = zero_border(np.sqrt(grad_r**2 + grad_c**2), window)
    rows = clip_extreme(zero_border(np.abs(grad_r), window), percent=percent)
    cols = clip_extreme(zero_border(np.abs(grad_c), window), percent=percent)
    combined = _share(rows) + _share(cols) + _share(magnitude)
    blurred = convolve2d(combined, np.ones((window, window)), "same") / window**2
    mean = blurred.mean()
    return blurred / mean if mean > 0 else blurred


def crop_probabilities(loss_map: np.ndarray, crop: int) -> np.ndarray:
    """Official ``create_probability_map``: the map averaged over ``crop/2``-squares, zero within
    ``crop // 2`` of the border, as a flat distribution over pixels (uniform when all zero)."""
    from scipy.signal import convolve2d

    half = crop // 2
    blurred = convolve2d(loss_map, np.ones((half, half)), "same") / half**2
    weights = zero_border(blurred, half).ravel()
    total = weights.sum()
    return weights / total if total > 0 else np.full(weights.size, 1.0 / weights.size)


def crop_top_left(center: int, *, size: int, shape: tuple[int, int]) -> tuple[int, int]:
    """Official ``get_top_left``: the flat ``center`` index → the top-left corner of a ``size``
    crop around it, kept inside the image and rounded down to even coordinates."""
    rows, cols = shape
    row, col = divmod(int(center), cols)
    top = min(max(0, row - size // 2), rows - size)
    left = min(max(0, col - size // 2), cols - size)
    return top - top % 2, left - left % 2


def shave_edges(image: np.ndarray, *, edge: int) -> np.ndarray:
    """Official ``shave_edges``: drop ``edge`` pixels a side (boundary effects of synthetic
    images), then crop to even sides."""
    if edge:
        image = image[edge:-edge, edge:-edge]
    h, w = image.shape[:2]
    return image[: h - h % 2, : w - w % 2]


def sample_crop_centers(
    image: np.ndarray, rng: np.random.Generator, *, settings: Settings
) -> tuple[np.ndarray, np.ndarray]:
    """Official ``make_list_of_crop_indices``: ``max_iters`` centres for ``G``'s crops, drawn from
    the gradient map of the image's bicubic ×½ (pixel-replicated back to full size), and as many
    for ``D``'s crops, from the image's own gradient map."""
    small = imresize(image, output_shape=(image.shape[0] // 2, image.shape[1] // 2), method="bicubic")
    small_map = np.repeat(np.repeat(gradient_map(small), 2, axis=0), 2, axis=1)
    for_g = crop_probabilities(small_map, settings.input_crop_size)
    for_d = crop_probabilities(gradient_map(image), settings.g_output_size)
    return (
        rng.choice(for_g.size, size=settings.max_iters, p=for_g),
        rng.choice(for_d.size, size=settings.max_iters, p=for_d),
    )


# -- networks ---------------------------------------------------------------------------------

def _xavier_normal_(weight, generator, *, gain: float) -> None:
    """``N(0, gain² · 2 / (fan_in + fan_out))`` drawn from ``generator`` (official ``xavier_normal_``)."""
    import torch

    receptive = weight[0, 0].numel()
    std = gain * math.sqrt(2.0 / (weight.shape[1] * receptive + weight.shape[0] * receptive))
    with torch.no_grad():
        weight.copy_(torch.randn(weight.shape, generator=generator) * std)


def build_generator(settings: Settings, *, generator):
    """``G``: bias-free convolutions of sizes ``g_structure``, 1 → g_chan → … → 1, the last with
    stride 2, applied to each colour channel separately (official ``networks.Generator``)."""
    import torch
    from torch import nn

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            sizes = settings.g_structure
            channels = [1] + [settings.g_chan] * (len(sizes) - 1) + [1]
            self.layers = nn.Sequential(*(
                nn.Conv2d(c_in, c_out, k, stride=2 if i == len(sizes) - 1 else 1, bias=False)
                for i, (c_in, c_out, k) in enumerate(zip(channels[:-1], channels[1:], sizes))
            ))

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            # Colour channels as a batch of gray images: one kernel for all three.
            return self.layers(image.transpose(0, 1)).transpose(0, 1)

    net = Generator()
    for conv in net.layers:
        _xavier_normal_(conv.weight, generator, gain=0.1)
    return net


def build_discriminator(settings: Settings, *, generator):
    """``D``: spectrally normalised 7×7 conv 3 → d_chan, then ``d_n_layers − 2`` × (1×1 conv,
    batch norm, ReLU), 1×1 conv → 1, sigmoid (official ``networks.Discriminator``)."""
    import torch
    from torch import nn
    from torch.nn.utils import spectral_norm

    c = settings.d_chan
    convs = [nn.Conv2d(3, c, settings.d_kernel_size)]
    layers: list[nn.Module] = [convs[0]]
    for _ in range(settings.d_n_layers - 2):
        convs.append(nn.Conv2d(c, c, 1))
        layers += [convs[-1], nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
    convs.append(nn.Conv2d(c, 1, 1))
    layers += [convs[-1], nn.Sigmoid()]
    with torch.no_grad():
        for conv in convs:
            bound = 1.0 / math.sqrt(conv.weight[0].numel())
            conv.weight.copy_((torch.rand(conv.weight.shape, generator=generator) * 2 - 1) * bound)
            conv.bias.zero_()
        for norm in (m for m in layers if isinstance(m, nn.BatchNorm2d)):
            norm.weight.copy_(1.0 + 0.02 * torch.randn(norm.weight.shape, generator=generator))
            norm.bias.zero_()
    for conv in convs:
        spectral_norm(conv)
        with torch.no_grad():
            for name in ("weight_u", "weight_v"):
                vector = getattr(conv, name)
                drawn = torch.randn(vector.shape, generator=generator)
                vector.copy_(drawn / drawn.norm().clamp_min(1e-12))
    net = nn.Sequential(*layers)
    # The official constructor measures its shave with one forward pass in training mode, which
    # is also one power iteration of every spectral norm.
    net(torch.ones(1, 3, settings.input_crop_size, settings.input_crop_size))
    return net


def generator_kernel(net, size: int):
    """The correlation kernel ``k`` with ``G(x) = (k ⋆ x)↓2`` (official ``calc_curr_k``): a delta
    through the layers without stride, full padding on the first, flipped (differentiable)."""
    import torch
    import torch.nn.functional as F

    weights = [conv.weight for conv in net.layers]
    kernel = F.conv2d(torch.ones(1, 1, 1, 1, device=weights[0].device), weights[0], padding=size - 1)
    for weight in weights[1:]:
        kernel = F.conv2d(kernel, weight)
    return kernel[0, 0].flip([0, 1])


# -- losses -----------------------------------------------------------------------------------

def shave_to(big, size: int):
    """Official ``shave_a2b`` on a square ``(N, C, n, n)`` tensor: centre crop to ``size``."""
    cut = big.shape[-1] - size
    lo, hi = cut // 2, big.shape[-1] - cut // 2 - cut % 2
    return big[..., lo:hi, lo:hi]


def bicubic_downscale(g_input, bicubic, *, size: int):
    """``B(x)``: each channel correlated with the 8×8 bicubic kernel at stride 2 (zero padding 3),
    centre-cropped to ``size`` (official ``DownScaleLoss`` target, channels kept apart)."""
    import torch.nn.functional as F

    downscaled = F.conv2d(g_input.transpose(0, 1), bicubic, stride=2, padding=3).transpose(0, 1)
    return shave_to(downscaled, size)


def centralized_loss(kernel, center: float):
    """Official ``CentralizedLoss``: mean squared distance of the centre of mass (row, column)
    from ``(center, center)``."""
    import torch

    indices = torch.arange(kernel.shape[0], dtype=kernel.dtype, device=kernel.device)
    total = kernel.sum()
    rows = kernel.sum(dim=1) @ indices / total
    cols = kernel.sum(dim=0) @ indices / total
    return ((rows - center) ** 2 + (cols - center) ** 2) / 2


def constraint_losses(kernel, mask, center: float) -> dict[str, Any]:
    """The kernel regularisers (official ``loss.py``): sum to one, boundaries, centralised, sparse."""
    return {
        "sum2one": (1.0 - kernel.sum()).abs(),
        "boundaries": (kernel * mask).abs().mean(),
        "centralized": centralized_loss(kernel, center),
        "sparse": (kernel.abs() ** SPARSITY_POWER).mean(),
    }


# -- training ---------------------------------------------------------------------------------

@dataclass
class EstimationLog:
    """What the training did (for tests and notes): per iteration the bicubic loss relative to the
    target's energy, ``mean((G(x) − B(x))²) / mean(B(x)²)``; when ``G`` was first similar to
    bicubic, when the other constraints came in, when the rates dropped."""

    bicubic_ratio: list[float] = field(default_factory=list)
    similar_to_bicubic: int | None = None
    constraints_added: int | None = None
    rate_drops: list[int] = field(default_factory=list)


@dataclass
class Schedule:
    """Official ``Learner``: the regulariser weights and the learning rates over the iterations."""

    settings: Settings
    lambdas: Lambdas = field(default_factory=Lambdas)
    bicubic_streak: int = 0

    def update(self, iteration: int, bicubic_ratio: float, log: EstimationLog) -> bool:
        """Advance after ``iteration`` (0-based); True when the learning rates drop now."""
        if iteration == 0:
            return False
        drop = iteration % self.settings.update_l_rate_freq == 0
        if drop:
            log.rate_drops.append(iteration)
        if log.similar_to_bicubic is None:
            if bicubic_ratio < BICUBIC_LOSS_TO_START_CHANGE:
                if self.bicubic_streak >= 2:
                    log.similar_to_bicubic = iteration
                else:
                    self.bicubic_streak += 1
            else:
                self.bicubic_streak = 0
        elif iteration % self.settings.lambda_update_freq == 0 and self.lambdas.bicubic > LAMBDA_BICUBIC_MIN:
            self.lambdas.bicubic = max(self.lambdas.bicubic / LAMBDA_BICUBIC_DECAY_RATE, LAMBDA_BICUBIC_MIN)
            if log.constraints_added is None and self.lambdas.bicubic < CONSTRAINTS_BELOW:
                self.lambdas.centralized = LAMBDA_CENTRALIZED_END
                self.lambdas.sparse = LAMBDA_SPARSE_END
                log.constraints_added = iteration
        return drop


def _generators(seed: int):
    """KernelGAN's own streams (children 2 and 3 of the case seed; ZSSR uses 0 and 1)."""
    import torch

    children = np.random.SeedSequence(seed).spawn(4)[2:]
    rng = np.random.default_rng(children[0])
    generator = torch.Generator().manual_seed(int(children[1].generate_state(1, dtype=np.uint64)[0] >> 1))
    return rng, generator


def estimate_kernel(image: np.ndarray, *, settings: Settings, seed: int, device) -> tuple[np.ndarray, EstimationLog]:
    """KernelGAN on ``image`` (float RGB in [0, 1]): the post-processed ×2 kernel and the log."""
    import torch
    import torch.nn.functional as F

    edge = edge_to_shave(image.shape, settings)
    rng, generator = _generators(seed)
    image = shave_edges(image, edge=edge)
    g_net = build_generator(settings, generator=generator).to(device)
    d_net = build_discriminator(settings, generator=generator).to(device)
    g_opt = torch.optim.Adam(g_net.parameters(), lr=settings.g_lr, betas=(settings.beta1, 0.999))
    d_opt = torch.optim.Adam(d_net.parameters(), lr=settings.d_lr, betas=(settings.beta1, 0.999))

    size = settings.g_kernel_size
    bicubic = torch.tensor(zssr.bicubic_kernel(2), dtype=torch.float32, device=device)[None, None]
    mask = torch.tensor(penalty_mask(size), dtype=torch.float32, device=device)
    center = wanted_center(size)
    schedule = Schedule(settings)
    log = EstimationLog()
    g_centers, d_centers = sample_crop_centers(image, rng, settings=settings)
    g_crop, d_crop = settings.input_crop_size, settings.g_output_size
    shape = image.shape[:2]

    kernel = None
    for iteration in range(settings.max_iters):
        top, left = crop_top_left(g_centers[iteration], size=g_crop, shape=shape)
        g_input = array_to_tensor(image[top : top + g_crop, left : left + g_crop] * 2 - 1, device)
        top, left = crop_top_left(d_centers[iteration], size=d_crop, shape=shape)
        real = image[top : top + d_crop, left : left + d_crop]
        d_input = array_to_tensor((real + rng.standard_normal(real.shape) * NOISE_STD) * 2 - 1, device)

        # G: fool D, and keep the kernel plausible.
        g_opt.zero_grad(set_to_none=True)
        g_output = g_net(g_input)
        kernel = generator_kernel(g_net, size)
        target = bicubic_downscale(g_input, bicubic, size=g_output.shape[-1])
        bicubic_loss = F.mse_loss(g_output, target)
        constraints = constraint_losses(kernel, mask, center)
        lambdas = schedule.lambdas
        total = (
            (d_net(g_output) - 1).abs().mean()
            + lambdas.bicubic * bicubic_loss
            + lambdas.sum2one * constraints["sum2one"]
            + lambdas.boundaries * constraints["boundaries"]
            + lambdas.centralized * constraints["centralized"]
            + lambdas.sparse * constraints["sparse"]
        )
        total.backward()
        g_opt.step()

        # D: real crops → 1, G's (updated) output plus noise → 0.
        d_opt.zero_grad(set_to_none=True)
        d_real = d_net(d_input)
        with torch.no_grad():
            fake = g_net(g_input)
            fake = fake + torch.randn(fake.shape, generator=generator).to(device) * NOISE_STD
        d_fake = d_net(fake)
        d_loss = (d_fake.abs().mean() + (d_real - 1).abs().mean()) * 0.5
        d_loss.backward()
        d_opt.step()

        # "Similar to bicubic" is judged relative to the target's energy (module docstring).
        ratio = bicubic_loss.item() / max(float(torch.mean(target**2)), 1e-12)
        log.bicubic_ratio.append(ratio)
        if schedule.update(iteration, ratio, log):
            for optimizer in (g_opt, d_opt):
                for group in optimizer.param_groups:
                    group["lr"] /= L_RATE_DIVISOR
    assert kernel is not None
    return post_process_kernel(kernel.detach().cpu().numpy(), n=settings.n_filtering), log


def estimate_psf(image: np.ndarray, *, scale: int, settings: Settings, seed: int, device) -> tuple[np.ndarray, EstimationLog]:
    """The blur PSF of ``image`` for ``scale`` in the dataset convention (``LR = (psf ∗ HR)↓s``,
    convolution): KernelGAN's ×2 correlation kernel flipped, or for ×4 its analytic ×4 kernel."""
    if scale not in SCALES:
        raise RestoreBenchError(f"kernelgan: estimates ×2 and ×4 kernels (official), not ×{scale}")
    kernel, log = estimate_kernel(image, settings=settings, seed=seed, device=device)
    if scale == 4:
        kernel = analytic_kernel_x4(kernel)
    return np.ascontiguousarray(kernel[::-1, ::-1]), log


# -- the method -------------------------------------------------------------------------------

class KernelGANZSSRParams(zssr.ZSSRParams):
    """Parameters of ``kernelgan_zssr``: those of ``zssr`` with the kernel estimated by KernelGAN."""

    profile: Profile = Field("paper", description="paper: official KernelGAN + its ZSSR; fast: CPU profile (see site/docs/kernelgan.md)")
    kernel: Literal["estimated"] = Field("estimated", description="always KernelGAN's estimate")


@register()
class KernelGANZSSR(zssr.ZSSR):
    """KernelGAN (Bell-Kligler et al. 2019) estimates the image's downscaling kernel; ZSSR uses it."""

    name = "kernelgan_zssr"
    Params = KernelGANZSSRParams
    summary = "KernelGAN + ZSSR (Bell-Kligler et al. 2019): internal-GAN kernel estimate, then ZSSR with it"
