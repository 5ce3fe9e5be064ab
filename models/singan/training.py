"""Training a SinGAN pyramid on one image, coarsest scale first: the official loop
(``tamarott/SinGAN``, newest ``SinGAN/training.py``), computed with less work.

Per scale ``n`` (``r`` the real image at that scale, ``x̃`` the upsampled output of the frozen
coarser scales, ``p`` the padding):

- generator and critic get the official initialisation, then the previous scale's trained
  weights when the width did not change;
- ``σ_n = 0.1 · RMSE(r, x̃_rec)`` with ``x̃_rec`` the reconstruction from ``Z_opt`` (σ₀ = 1);
- one *iteration* = ``d_steps`` critic updates then ``g_steps`` generator updates, with one
  noise map ``z`` per iteration and a fresh coarser-scale sample ``x̃_j`` per critic step:

  critic step j: ``L_D = −mean D(r) + mean D(G(σz + x̃_j, x̃_j)) + λ · mean_pixels(‖∇D(x̂)‖₂ − 1)²``
  with ``x̂ = a·r + (1−a)·fake``, ``a ~ U(0, 1)`` (WGAN-GP, λ = 0.1, norm over channels; the
  official ``Variable(interpolates, requires_grad=True)`` detaches ``x̂`` from the generator, so
  the penalty never reaches it);

  generator step: ``L_G = −mean D(fake_last) + α · MSE(G(σ·Z_opt + x̃_rec, x̃_rec), r)``, with
  ``fake_last`` the last critic step's fake, built before the generator steps (α = 10; at scale
  0 the input is the noise alone and ``Z_opt`` is redrawn every iteration, as the official code
  does; above, ``Z_opt = 0``). The official loop back-propagates the adversarial term of every
  generator step through the graph of that same fake, built before the first generator update.
  PyTorch ≥ 1.5 refuses the second such backward; PyTorch ≤ 1.4, for which the code was written,
  ran it with the forward pass's saved activations and the *current* weights (its Adam updated
  ``p.data``, invisible to autograd). We compute exactly that: the generator's parameters live
  in one flat buffer updated through ``.data``, and the graph of the last fake is kept for the
  ``g_steps`` backward passes;
- after iteration ``i`` with ``i % 500 == 0`` and after the last, the official snapshot code runs
  ``G(Z_opt)`` in training mode, which moves BatchNorm's running statistics (used by sampling):
  we run that pass too;
- Adam (lr 5e-4, betas (0.5, 0.999)) for both; ``MultiStepLR(milestones=[1600], γ = 0.1)``
  stepped at the end of each iteration (``TrainingSettings.lr_factor``);
- random numbers are drawn in the official order (``_draw``), so that a generator seeded as the
  official global one gives the same run.

What we do differently, without changing what an iteration computes (checked by
``tests/models/test_singan_training.py`` against a line-by-line transcription of the official
loop, in float64; speed in ``site/docs/singan.md``):

- the critic-step fakes are computed without an autograd graph (the critic sees them detached),
  except the last one, which the generator steps back-propagate through;
- at scale 0 the ``d_steps`` critic fakes are identical (same noise, no coarser image), so one
  forward pass computes them, with BatchNorm's running statistics updated as ``d_steps`` passes
  would update them;
- the ``d_steps`` coarser-scale samples of an iteration run through the frozen generators as
  one batch (eval mode: samples do not interact);
- the critic runs in its per-image form (``Discriminator.per_image``: GroupNorm with one group
  per channel, which is training-mode BatchNorm of one image): real and fake go through it as
  one batch of two, and its second derivative (the penalty) is cheaper than BatchNorm's. Its
  running statistics, which never influence an output, are not updated;
- only the gradients that are used are computed: the three critic losses in one backward pass
  to the critic's weights (not to the penalty's input), the adversarial gradient ``∂D/∂fake``
  once per iteration (the critic does not change during generator steps), no critic weight
  gradients in generator steps;
- Adam is one fused kernel over each network's flat parameter buffer; the between-scale resize
  runs on the device as two small matrix products; the generator's tensors are channels-last,
  the critic's contiguous (``GENERATOR_FORMAT``, ``CRITIC_FORMAT``).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from restorebench.models.singan.geometry import PyramidGeometry
from restorebench.models.singan.imaging import official_resize, to_signed
from restorebench.models.singan.networks import Discriminator, Generator, counted_as_passes, initialise
from restorebench.models.singan.pyramid import Pyramid, pad
from restorebench.models.singan.settings import TrainingSettings
from restorebench.models.weights import array_to_tensor

# Memory layouts, measured on CPU (site/docs/singan.md, "Training speed"): oneDNN's convolutions and PyTorch's
# BatchNorm are faster channels-last; PyTorch's GroupNorm backward (the critic's per-image path)
# is about 20× slower channels-last than contiguous on CPU.
GENERATOR_FORMAT = torch.channels_last
CRITIC_FORMAT = torch.contiguous_format


@dataclass
class ScaleReport:
    """What training one scale took."""

    scale: int
    shape: tuple[int, int]
    width: int
    iterations: int
    seconds: float
    noise_amp: float

    @property
    def seconds_per_iteration(self) -> float:
        return self.seconds / max(self.iterations, 1)


ProgressCallback = Callable[[ScaleReport], None]


def reals_pyramid(image: np.ndarray, geometry: PyramidGeometry, *, device: torch.device) -> list[torch.Tensor]:
    """The official ``creat_reals_pyramid``: the finest scale is the image resized by
    ``scale1``; scale ``n`` is the finest one resized by ``r^(N−n)`` (each resize quantises to
    uint8 levels first, as the official ``imresize`` does). Tensors of the default dtype."""
    top = official_resize(to_signed(image), geometry.scale1)
    reals = []
    for n, shape in enumerate(geometry.shapes):
        level = official_resize(top, geometry.downscale_to(n))
        if level.shape[:2] != shape:
            raise AssertionError(f"scale {n}: resized to {level.shape[:2]}, geometry says {shape}")
        reals.append(array_to_tensor(level, device).to(torch.get_default_dtype()))
    return reals


def gradient_penalty(critic: Discriminator, real: torch.Tensor, fake: torch.Tensor, *, weight: float, a: torch.Tensor) -> torch.Tensor:
    """WGAN-GP: ``λ · mean over pixels of (‖∇ₓD(x̂)‖₂ − 1)²``, norm over channels, with
    ``x̂ = a·real + (1 − a)·fake`` and one ``a ~ U(0, 1)`` for the whole image."""
    mixed = (a * real + (1.0 - a) * fake).requires_grad_(True)
    (grads,) = torch.autograd.grad(critic.per_image(mixed).sum(), mixed, create_graph=True)
    return weight * ((grads.norm(2, dim=1) - 1.0) ** 2).mean()


def _build(cls, settings: TrainingSettings, scale: int, device: torch.device, memory_format: torch.memory_format):
    nfc, min_nfc = settings.widths(scale)
    net = cls(nfc, min_nfc, num_layer=settings.num_layer, kernel_size=settings.kernel_size)
    return net.to(device=device, memory_format=memory_format)


def _fmt(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=GENERATOR_FORMAT)


def _critic_fmt(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=CRITIC_FORMAT)


class _FlatParameters:
    """A network's parameters as views of one flat buffer, and their gradients as views of a
    second one, so that Adam updates all of them in one fused call (one parallel region instead
    of one per tensor). The optimiser works on ``shadow`` — the buffer through ``.data``, whose
    in-place updates autograd does not see: as with PyTorch ≤ 1.4's Adam, a graph built before
    an update still back-propagates, with the updated weights (see ``train_scale``)."""

    def __init__(self, module: torch.nn.Module):
        owned = [(m, name, p) for m in module.modules() for name, p in m.named_parameters(recurse=False)]
        first = owned[0][2]
        values = torch.empty(sum(p.numel() for *_, p in owned), dtype=first.dtype, device=first.device)
        grad = torch.zeros_like(values)
        self.parameters: list[torch.nn.Parameter] = []
        self._grads: list[torch.Tensor] = []
        offset = 0
        for owner, name, p in owned:
            view = values[offset : offset + p.numel()].as_strided(p.shape, p.stride())
            view.copy_(p.detach())
            parameter = torch.nn.Parameter(view, requires_grad=p.requires_grad)
            setattr(owner, name, parameter)
            self.parameters.append(parameter)
            self._grads.append(grad[offset : offset + p.numel()].as_strided(p.shape, p.stride()))
            offset += p.numel()
        self.shadow = values.data
        self.shadow.grad = grad

    def set_grads(self, gradients) -> None:
        for slot, gradient in zip(self._grads, gradients):
            slot.copy_(gradient)


def _adam(flat: _FlatParameters, settings: TrainingSettings) -> torch.optim.Adam:
    """Adam(lr, betas (beta1, 0.999)) as one fused kernel over the flat buffer (the update rule of
    the official per-parameter loop)."""
    return torch.optim.Adam([flat.shadow], lr=settings.lr, betas=(settings.beta1, 0.999), fused=True)


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


@dataclass
class _WarmStart:
    generator: dict[str, torch.Tensor]
    critic: dict[str, torch.Tensor]
    widths: tuple[int, int]


@dataclass
class _Draws:
    """The random numbers of one iteration, drawn in the official order: (scale 0: ``Z_opt``),
    the iteration's noise, then per critic step the noise of every coarser scale
    (``draw_concat``) followed by the penalty's mixing weight."""

    z_opt: torch.Tensor | None
    noise: torch.Tensor
    coarser: list[torch.Tensor]
    """per coarser scale, the critic steps' noise as one batch (padded)"""
    mixing: list[torch.Tensor]


def _draw(pyramid: Pyramid, scale: int, generator: torch.Generator) -> _Draws:
    settings, device = pyramid.settings, pyramid.device
    padding = settings.padding

    def raw(n: int) -> torch.Tensor:  # the official generate_noise, unpadded
        return torch.randn((1, 1 if n == 0 else 3, *pyramid.geometry.shapes[n]), generator=generator, device=device)

    def padded(z: torch.Tensor) -> torch.Tensor:
        return pad(z.expand(-1, 3, -1, -1), padding)

    z_opt = padded(raw(0)) if scale == 0 else None
    noise = padded(raw(scale))
    steps: list[list[torch.Tensor]] = []
    mixing = []
    for _ in range(settings.d_steps):
        steps.append([raw(n) for n in range(scale)])
        mixing.append(torch.rand((1, 1), generator=generator, device=device).reshape(()))
    coarser = [padded(torch.cat([step[n] for step in steps])) for n in range(scale)]
    return _Draws(z_opt, noise, coarser, mixing)


def train_scale(
    pyramid: Pyramid,
    *,
    generator: torch.Generator,
    warm: _WarmStart | None = None,
    iterations: int | None = None,
) -> tuple[Generator, Discriminator, torch.Tensor, float]:
    """Train scale ``pyramid.trained_scales`` on top of the frozen coarser scales.

    Returns the trained generator and critic, ``Z_opt`` (padded) and the noise amplitude.
    ``iterations`` overrides the settings (used by the speed benchmark only).
    """
    settings = pyramid.settings
    scale = pyramid.trained_scales
    device = pyramid.device
    padding = settings.padding
    real = _critic_fmt(pyramid.reals[scale])
    coarsest = scale == 0

    netG = _build(Generator, settings, scale, device, GENERATOR_FORMAT)
    netD = _build(Discriminator, settings, scale, device, CRITIC_FORMAT)
    # the official code draws the initial weights before loading the previous scale's
    initialise(netG, generator)
    initialise(netD, generator)
    if warm is not None and warm.widths == settings.widths(scale):
        netG.load_state_dict(warm.generator)
        netD.load_state_dict(warm.critic)
    # the official `fixed_noise`, drawn only for its shape: drawn here too, to keep the stream
    torch.randn((1, 3, *pyramid.geometry.shapes[scale]), generator=generator, device=device)
    netG.train()
    netD.train()
    critic_flat, generator_flat = _FlatParameters(netD), _FlatParameters(netG)
    optimizerD, optimizerG = _adam(critic_flat, settings), _adam(generator_flat, settings)

    if coarsest:
        rec_previous = _fmt(pad(pyramid.zeros(0), padding))
        noise_amp = 1.0
    else:
        rec_input = pyramid.reconstruction_input(scale)
        noise_amp = settings.noise_amp * float(torch.sqrt(F.mse_loss(real, rec_input)))
        rec_previous = _fmt(pad(rec_input, padding))
    z_opt = torch.zeros_like(rec_previous)
    d_steps = settings.d_steps
    if coarsest:
        previous = _fmt(pad(pyramid.zeros(0, d_steps), padding))

    total = settings.iterations if iterations is None else iterations
    for iteration in range(total):
        lr = settings.lr * settings.lr_factor(iteration)
        _set_lr(optimizerD, lr)
        _set_lr(optimizerG, lr)
        draws = _draw(pyramid, scale, generator)
        if coarsest:
            z_opt = _fmt(draws.z_opt)
            inputs = _fmt(draws.noise.expand(d_steps, -1, -1, -1))
        else:
            coarser = draws.coarser
            previous = _fmt(pad(pyramid.random_input(scale, batch=d_steps, noise=lambda n, batch: coarser[n]), padding))
            inputs = _fmt(noise_amp * draws.noise + previous)

        last_fake, fakes = _critic_fakes(netG, inputs, previous, identical=coarsest)

        for j in range(d_steps):
            scores = netD.per_image(torch.cat([real, fakes[j]]))
            loss = (
                scores[1].mean()
                - scores[0].mean()
                + gradient_penalty(netD, real, fakes[j], weight=settings.lambda_grad, a=draws.mixing[j])
            )
            critic_flat.set_grads(torch.autograd.grad(loss, critic_flat.parameters))
            optimizerD.step()

        critic_input = _critic_fmt(last_fake.detach()).requires_grad_(True)
        (adversarial,) = torch.autograd.grad(-netD.per_image(critic_input).mean(), critic_input)
        rec_noise = noise_amp * z_opt + rec_previous if settings.alpha != 0 else z_opt
        for step in range(settings.g_steps):
            roots, seeds = [last_fake], [adversarial]
            if settings.alpha != 0:
                roots.append(settings.alpha * F.mse_loss(netG(rec_noise, rec_previous), real))
                seeds.append(None)
            gradients = torch.autograd.grad(roots, generator_flat.parameters, seeds, retain_graph=step < settings.g_steps - 1)
            generator_flat.set_grads(gradients)
            optimizerG.step()
        if settings.rec_pass_at(iteration, total):
            with torch.no_grad():
                netG(rec_noise, rec_previous)
    netD.eval()
    return netG, netD, z_opt, noise_amp


def _critic_fakes(
    netG: Generator, inputs: torch.Tensor, previous: torch.Tensor, *, identical: bool
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The fakes of an iteration's critic steps (detached, in the critic's layout), and the
    last one with its autograd graph.

    One train-mode forward per critic step, as in the official loop, so that BatchNorm's running
    statistics see the same sequence; only the last keeps a graph (the generator steps
    back-propagate through it). At scale 0 every critic step has the same input, so one
    forward serves all of them, with the running statistics updated as ``d_steps`` forwards
    would update them.
    """
    steps = inputs.shape[0]
    if identical:
        with counted_as_passes(netG, steps):
            last = netG(inputs[:1], previous[:1])
        return last, [_critic_fmt(last.detach())] * steps
    with torch.no_grad():
        early = [_critic_fmt(netG(inputs[j : j + 1], previous[j : j + 1])) for j in range(steps - 1)]
    last = netG(inputs[-1:], previous[-1:])
    return last, early + [_critic_fmt(last.detach())]


def train_pyramid(
    image: np.ndarray,
    geometry: PyramidGeometry,
    settings: TrainingSettings,
    *,
    seed: int,
    device: torch.device,
    on_scale: ProgressCallback | None = None,
) -> Pyramid:
    """Train every scale of ``image`` (uint8 RGB ``(H, W, 3)``) and return the frozen pyramid."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    pyramid = Pyramid(settings=settings, geometry=geometry, reals=reals_pyramid(image, geometry, device=device))
    warm: _WarmStart | None = None
    for scale, shape in enumerate(geometry.shapes):
        start = time.perf_counter()
        netG, netD, z_opt, noise_amp = train_scale(pyramid, generator=generator, warm=warm)
        warm = _WarmStart(netG.state_dict(), netD.state_dict(), settings.widths(scale))
        pyramid.add_scale(netG, z_opt, noise_amp)
        if on_scale is not None:
            on_scale(ScaleReport(scale, shape, settings.widths(scale)[0], settings.iterations, time.perf_counter() - start, noise_amp))
    return pyramid


def reconstruction_psnr(pyramid: Pyramid) -> float:
    """PSNR (dB, on ``[-1, 1]`` mapped to 0..255) of the finest reconstruction from ``Z_opt``
    against the finest real image: how well the pyramid learnt the image."""
    top = pyramid.trained_scales - 1
    with torch.no_grad():
        rec = pyramid.reconstruction_input(top)
        out = pyramid.generators[top](
            pyramid.noise_amps[top] * pyramid.z_opt[top] + pad(rec, pyramid.settings.padding),
            pad(rec, pyramid.settings.padding),
        )
    mse = float(F.mse_loss(out.clamp(-1, 1), pyramid.reals[top])) * (255.0 / 2.0) ** 2
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)
