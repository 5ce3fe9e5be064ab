"""FastGAN training and sampling, following the official ``train.py`` and ``eval.py``.

One iteration (official ``train.py``):

1. a batch of ``batch`` real images (resized to the resolution, random horizontal flip, in
   [−1, 1]) and ``batch`` latents ``z`` ~ N(0, I_nz); the generator makes ``[big, small]``;
2. DiffAugment (``policy``) on the real batch and, independently, on each fake output;
3. discriminator step — real: hinge ``mean(relu(0.8 + 0.2u − D(x)))`` (``u`` ~ U[0, 1) per logit:
   randomised margins) plus the reconstruction losses of its three decoders (whole image, 128-px
   image, a random quarter) against the matching resized real images, each summed over the batch;
   fake (detached): ``mean(relu(0.8 + 0.2u + D(G(z))))``; one Adam step;
4. generator step: ``−mean(D(G(z)))`` through the same augmented fakes; one Adam step;
5. EMA of the generator's parameters: ``θ̄ ← 0.999 θ̄ + 0.001 θ`` (parameters only, not
   BatchNorm statistics).

Adam: lr 2·10⁻⁴, betas (0.5, 0.999) for both networks. The reconstruction distance is LPIPS-VGG
(:mod:`.perceptual`) officially; ``reconstruction="l1"`` replaces it by the mean absolute pixel
difference (per image, summed over the batch) for CPU profiles without the VGG16 weights.

Sampling (official ``eval.py``): the EMA generator in *training* mode — BatchNorm normalises with
the statistics of the batch being generated — on batches of latents; images are written as
``clamp((x + 1) / 2, 0, 1)`` → ``⌊255 v + 0.5⌋``. Here sample ``k`` is element ``k mod B`` of group
``⌊k / B⌋`` (``B`` = ``sample_batch``), whose latents come from a generator seeded by
``(seed, group)``, and every group starts from the saved generator state (in training mode the
official spectral norm also advances its power iteration on every batch; restarting from the
saved state makes sample ``k`` independent of which samples were drawn before it).

Randomness: every draw (data order, flips, latents, DiffAugment, margins, quarters, noise
injections) comes from one CPU ``torch.Generator`` seeded from the seed; its state is part of
each snapshot, so a resumed training continues exactly as an uninterrupted one.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from restorebench.models.fastgan.augment import POLICIES, diff_augment
from restorebench.models.fastgan.network import RESOLUTIONS, Discriminator, Generator, crop_quarter, init_weights
from restorebench.models.setlevel import TrainingRun, draw_seed, resize_square, seeded_global

SNAPSHOT_FORMAT = "restorebench-fastgan-1"


@dataclass(frozen=True)
class FastGANSettings:
    """Everything (besides images and seed) that determines a trained FastGAN.

    Attributes:
        resolution: image size the networks work at (256, 512 or 1024); every training image is
            resized to ``resolution × resolution`` (bilinear, aspect ratio not kept) as the
            official ``transforms.Resize((s, s))`` does.
        ngf, ndf: base widths of generator and discriminator (official: 64).
        decoder_width: base width of the discriminator's three decoders (official: 32).
        nz: latent size (official: 256).
        batch: images per iteration (official default: 8).
        iterations: training iterations (official default: 50,000).
        lr, beta1, beta2: Adam settings of both networks (official: 2e-4, 0.5, 0.999).
        policy: DiffAugment policy (official: ``color,translation``).
        reconstruction: ``lpips`` (official) or ``l1``.
        ema: EMA decay of the generator's parameters (official: 0.999).
    """

    resolution: int = 1024
    ngf: int = 64
    ndf: int = 64
    decoder_width: int = 32
    nz: int = 256
    batch: int = 8
    iterations: int = 50_000
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    policy: str = "color,translation"
    reconstruction: str = "lpips"
    ema: float = 0.999

    def __post_init__(self) -> None:
        problems = []
        if self.resolution not in RESOLUTIONS:
            problems.append(f"resolution must be one of {RESOLUTIONS} (the official FastGAN resolutions), got {self.resolution}")
        if self.ngf < (8 if self.resolution == 1024 else 2) or self.ndf < (8 if self.resolution == 1024 else 4):
            problems.append("ngf must be ≥ 2 (≥ 8 at 1024 px) and ndf ≥ 4 (≥ 8 at 1024 px): narrower layers have no channels")
        if min(self.batch, self.iterations, self.nz) < 1 or self.decoder_width < 4:
            problems.append("batch, iterations and nz must be ≥ 1, decoder_width ≥ 4")
        unknown = [p for p in self.policy.split(",") if p and p not in POLICIES]
        if unknown:
            problems.append(f"unknown DiffAugment policy {unknown}; choose from {POLICIES}")
        if self.reconstruction not in ("lpips", "l1"):
            problems.append(f"reconstruction must be 'lpips' or 'l1', got {self.reconstruction!r}")
        if problems:
            raise ValueError("; ".join(problems))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PAPER = FastGANSettings()
"""The official defaults at the study's resolution: 1024 px (8 × the study's 128-px LR images),
batch 8, 50,000 iterations, LPIPS reconstruction."""

FAST = FastGANSettings(resolution=256, ngf=16, ndf=16, decoder_width=8, batch=8, iterations=100, reconstruction="l1", ema=0.9)
"""CPU profile: the official 256-px topology at a quarter of the width (decoders too), the
official batch of 8, 100 iterations, L1 reconstruction, and an EMA decay of 0.9 (with the
official 0.999, the averaged generator would still be 90 % its random initialisation after 100
iterations). Timing in ``site/docs/fastgan.md``."""

PROFILES = {"paper": PAPER, "fast": FAST}


# -- networks --------------------------------------------------------------------------------------

def build_networks(settings: FastGANSettings, seed: int) -> tuple[Generator, Discriminator]:
    """Both networks, initialised as officially (``weights_init``) from ``seed``."""
    with seeded_global(seed, torch.device("cpu")):
        g = Generator(ngf=settings.ngf, nz=settings.nz, im_size=settings.resolution)
        d = Discriminator(ndf=settings.ndf, im_size=settings.resolution, decoder_width=settings.decoder_width)
        g.apply(init_weights)
        d.apply(init_weights)
    return g, d


# -- training --------------------------------------------------------------------------------------

class Sampler:
    """Endless batches of indices: a fresh random permutation of the set each epoch (the official
    ``InfiniteSampler``); a set smaller than the batch gives batches that span epochs."""

    def __init__(self, n: int, generator: torch.Generator, order: torch.Tensor | None = None, pos: int = 0):
        self.n, self.generator = n, generator
        self.order = order if order is not None else torch.randperm(n, generator=generator)
        self.pos = pos

    def take(self, count: int) -> torch.Tensor:
        out = []
        for _ in range(count):
            if self.pos >= self.n:
                self.order, self.pos = torch.randperm(self.n, generator=self.generator), 0
            out.append(int(self.order[self.pos]))
            self.pos += 1
        return torch.tensor(out)


class Trainer:
    """The networks, optimisers, EMA and random state of one FastGAN training."""

    def __init__(self, images: list[np.ndarray], settings: FastGANSettings, *, seed: int, device: torch.device,
                 lpips: torch.nn.Module | None = None):
        self.settings, self.device = settings, device
        resized = [resize_square(image, settings.resolution, resample="bilinear") for image in images]
        self.data = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).contiguous()  # uint8, CPU
        self.generator = torch.Generator().manual_seed(seed)
        g, d = build_networks(settings, draw_seed(self.generator))
        self.g, self.d = g.to(device).train(), d.to(device).train()
        self.g_ema = [p.detach().clone() for p in self.g.parameters()]
        betas = (settings.beta1, settings.beta2)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=settings.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=settings.lr, betas=betas)
        self.sampler = Sampler(len(images), self.generator)
        self.iteration = 0
        if settings.reconstruction == "lpips" and lpips is None:
            from restorebench.models.fastgan.perceptual import load_lpips

            lpips = load_lpips(device)
        self.lpips = lpips

    # one iteration, in parts (tests drive them separately) ----------------------------------------
    def real_batch(self) -> torch.Tensor:
        s = self.settings
        batch = self.data[self.sampler.take(s.batch)].to(self.device, torch.float32) / 127.5 - 1.0
        flip = (torch.rand(s.batch, generator=self.generator) < 0.5).to(self.device)
        return torch.where(flip.view(-1, 1, 1, 1), batch.flip(3), batch)

    def generate(self, count: int) -> list[torch.Tensor]:
        z = torch.randn(count, self.settings.nz, generator=self.generator).to(self.device)
        with seeded_global(draw_seed(self.generator), self.device):
            return self.g(z)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.settings.policy, self.generator)

    def margins(self, logits: torch.Tensor) -> torch.Tensor:
        return 0.8 + 0.2 * torch.rand(logits.shape, generator=self.generator).to(logits.device)

    def reconstruction_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.settings.reconstruction == "lpips":
            return self.lpips(output, target).sum()
        return (output - target).abs().mean(dim=[1, 2, 3]).sum()

    def d_step(self, real: torch.Tensor, fakes: list[torch.Tensor]) -> dict[str, float]:
        """One discriminator update on an augmented real batch and (detached) augmented fakes."""
        self.d.zero_grad(set_to_none=True)
        part = int(torch.randint(0, 4, (1,), generator=self.generator))
        logits, (whole, small, quarter) = self.d(real, part=part)
        hinge_real = F.relu(self.margins(logits) - logits).mean()
        rec = (self.reconstruction_loss(whole, F.interpolate(real, whole.shape[2]))
               + self.reconstruction_loss(small, F.interpolate(real, small.shape[2]))
               + self.reconstruction_loss(quarter, F.interpolate(crop_quarter(real, part), quarter.shape[2])))
        (hinge_real + rec).backward()
        fake_logits = self.d([f.detach() for f in fakes])
        hinge_fake = F.relu(self.margins(fake_logits) + fake_logits).mean()
        hinge_fake.backward()
        self.opt_d.step()
        return {"d_real": hinge_real.item(), "d_fake": hinge_fake.item(), "rec": rec.item(),
                "logit_real": logits.detach().mean().item(), "logit_fake": fake_logits.detach().mean().item()}

    def g_step(self, fakes: list[torch.Tensor]) -> dict[str, float]:
        self.g.zero_grad(set_to_none=True)
        loss = -self.d(fakes).mean()
        loss.backward()
        self.opt_g.step()
        with torch.no_grad():
            for avg, p in zip(self.g_ema, self.g.parameters()):
                avg.mul_(self.settings.ema).add_((1 - self.settings.ema) * p.detach())
        return {"g": loss.item()}

    def step(self) -> dict[str, float]:
        real = self.augment(self.real_batch())
        fakes = [self.augment(f) for f in self.generate(self.settings.batch)]
        losses = self.d_step(real, fakes)
        losses.update(self.g_step(fakes))
        self.iteration += 1
        return losses

    # state ---------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """A resumable snapshot: the official ``all_<iter>.pth`` keys (``g``, ``d``, ``g_ema``,
        ``opt_g``, ``opt_d``) plus the iteration, random state and data order."""
        return {
            "g": self.g.state_dict(), "d": self.d.state_dict(), "g_ema": [p.clone() for p in self.g_ema],
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "iteration": self.iteration, "rng": self.generator.get_state(),
            "sampler_order": self.sampler.order.clone(), "sampler_pos": self.sampler.pos,
            "settings": json.dumps(self.settings.as_dict(), sort_keys=True), "format": SNAPSHOT_FORMAT,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.g.load_state_dict(state["g"])
        self.d.load_state_dict(state["d"])
        self.g_ema = [t.to(self.device) for t in state["g_ema"]]
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.iteration = int(state["iteration"])
        self.generator.set_state(state["rng"])
        self.sampler = Sampler(self.sampler.n, self.generator, state["sampler_order"], int(state["sampler_pos"]))

    def final_state(self) -> dict[str, Any]:
        """The official ``<iter>.pth`` layout: ``g`` holds the EMA parameters (with the training
        generator's BatchNorm statistics), ``d`` the discriminator."""
        return {"g": ema_state_dict(self.g, self.g_ema), "d": self.d.state_dict(), "iteration": self.iteration,
                "settings": json.dumps(self.settings.as_dict(), sort_keys=True), "format": SNAPSHOT_FORMAT}


def ema_state_dict(g: Generator, ema: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """``g``'s state dict with its parameters replaced, in ``parameters()`` order, by ``ema``."""
    names = [name for name, _ in g.named_parameters()]
    if len(names) != len(ema):
        raise ValueError(f"g_ema has {len(ema)} tensors, the generator {len(names)} parameters")
    state = {k: v.detach().clone() for k, v in g.state_dict().items()}
    for name, tensor in zip(names, ema):
        state[name] = tensor.detach().clone().to(state[name].device)
    return state


def train(images: list[np.ndarray], settings: FastGANSettings, run: TrainingRun) -> dict[str, Any]:
    """Train (or resume) and return the final state (official ``<iter>.pth`` layout)."""
    trainer = Trainer(images, settings, seed=run.seed, device=run.device)
    if run.resume is not None:
        trainer.load_state(run.resume)
    while trainer.iteration < settings.iterations:
        losses = trainer.step()
        if run.due(trainer.iteration, settings.iterations):
            run.snapshot(trainer.state())
        run.report(trainer.iteration, losses)
    return trainer.final_state()


# -- sampling --------------------------------------------------------------------------------------

def group_latents(seed: int, group: int, count: int, nz: int) -> tuple[torch.Tensor, int]:
    """Latents of sampling group ``group`` and the seed of its noise injections."""
    state = np.random.SeedSequence([int(seed), int(group)]).generate_state(2, dtype=np.uint64)
    generator = torch.Generator().manual_seed(int(state[0] >> np.uint64(1)))
    return torch.randn(count, nz, generator=generator), int(state[1] >> np.uint64(1))


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """``torchvision.utils.save_image(x.add(1).mul(0.5))``: clamp to [0, 1], ``⌊255 v + 0.5⌋``."""
    v = images.add(1).mul(0.5).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
    return v.permute(0, 2, 3, 1).cpu().numpy()


class SamplingModel:
    """The EMA generator, ready to produce sample ``k`` of a set."""

    def __init__(self, g: Generator, *, sample_batch: int, output_size: int | None, device: torch.device):
        self.g = g.to(device).train()
        self.pristine = {k: v.clone() for k, v in self.g.state_dict().items()}
        self.sample_batch, self.output_size, self.device = sample_batch, output_size, device
        self._cache: tuple[tuple[int, int], np.ndarray] | None = None

    @torch.no_grad()
    def group(self, seed: int, group: int) -> np.ndarray:
        key = (seed, group)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        z, noise_seed = group_latents(seed, group, self.sample_batch, self.g.nz)
        self.g.load_state_dict(self.pristine)
        with seeded_global(noise_seed, self.device):
            images = self.g(z.to(self.device))[0]
        if self.output_size is not None and images.shape[-1] != self.output_size:
            images = F.interpolate(images, self.output_size)
        out = to_uint8(images)
        self._cache = (key, out)
        return out

    def sample(self, index: int, seed: int) -> np.ndarray:
        return np.ascontiguousarray(self.group(seed, index // self.sample_batch)[index % self.sample_batch])
