"""APA training (StyleGAN2-ADA's loop with adaptive pseudo augmentation) and sampling.

Jiang, Dai, Wu, Loy: "Deceive D: Adaptive Pseudo Augmentation for GAN Training with Limited
Data", NeurIPS 2021; official code EndlessSora/DeceiveD (``train.py``, ``training/loss.py``,
``training/training_loop.py``), built on NVlabs/stylegan2-ada-pytorch.

Configurations (``train.py --cfg``; ``gpus`` enters through the batch split and ``auto``):

=========  ==============================================================================
auto       batch ``max(min(gpus·min(4096/res, 32), 64), gpus)``, mbstd ``min(batch/gpus, 4)``,
           channel_base 32768 (res ≥ 512) else 16384, lr 0.002 (res ≥ 1024) else 0.0025,
           γ = 0.0002·res²/batch, EMA ``batch·10/32`` kimg with ramp-up 0.05, 2 mapping layers
stylegan2  batch 32, mbstd 4, channel_base 32768, lr 0.002, γ 10, EMA 10 kimg, 8 mapping layers
paper256   batch 64, mbstd 8, channel_base 16384, lr 0.0025, γ 1, EMA 20 kimg, 8 mapping layers
paper512   batch 64, mbstd 8, channel_base 32768, lr 0.0025, γ 0.5, EMA 20 kimg, 8 mapping layers
paper1024  batch 32, mbstd 4, channel_base 32768, lr 0.002, γ 2, EMA 10 kimg, 8 mapping layers
=========  ==============================================================================

Every configuration: 25,000 kimg, channel_max 512, conv_clamp 256, Adam betas (0, 0.99), lazy
regularisation (R1 every 16 D steps, path length every 4 G steps; their optimisers use
``lr·k/(k+1)`` and ``β^(k/(k+1))``), style mixing probability 0.9, path-length weight 2 with
half batches and decay 0.01. A batch is processed in rounds of ``batch / gpus`` images
(gradients summed), as one GPU of the official run sees it.

Losses (``StyleGAN2Loss``), ``f(t) = softplus(t)``:
``L_G = f(−D(G(z)))``; ``L_D = f(D(G(z))) + f(−D(x̃))`` with R1 ``γ/2·‖∇_x̃ D(x̃)‖²``;
path length ``(‖J_wᵀ y‖ − a)²`` with ``y`` ~ N(0, I)/√(HW) and ``a`` the running mean.

APA: the "real" batch ``x̃`` is ``x`` with each image replaced, with probability ``p``, by an
image the generator made in the latest G step (detached). ``p`` follows the overfitting heuristic
``λ_r = E[sign(D(x̃))]`` over the last 4 iterations:
``p ← max(0, p + sign(λ_r − target) · batch·4 / (500·1000))`` (target 0.6). With
``with_dataaug`` (the study's setting) ADA's ``bgc`` pipeline, with the same ``p``, augments every
image D sees (reals, pseudo-reals and fakes); the R1 gradient is taken through it.

Generator EMA: ``β = 0.5^(batch / (ema_kimg·1000))`` (``ema_kimg`` capped at ``0.05·kimg_done``
during the ramp-up of ``auto``); buffers copied.

Randomness: data order (the official ``InfiniteSampler``: a shuffled order with random swaps in a
window of half the set), latents and all draws inside the networks, augmentations and losses
come from one CPU ``torch.Generator`` (the latter through torch's global generators, re-seeded
from it before every iteration); its state is saved in each snapshot.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from restorebench.models.apa.augment import BGC, AugmentPipe
from restorebench.models.apa.networks import Discriminator, Generator
from restorebench.models.setlevel import TrainingRun, draw_seed, resize_square, seeded_global

SNAPSHOT_FORMAT = "restorebench-apa-1"
CONFIGS = ("auto", "stylegan2", "paper256", "paper512", "paper1024")
_SPECS = {  # official cfg_specs (mb, mbstd, fmaps, lrate, gamma, ema, ramp, map); 'auto' is computed
    "stylegan2": (32, 4, 1.0, 0.002, 10.0, 10.0, None, 8),
    "paper256": (64, 8, 0.5, 0.0025, 1.0, 20.0, None, 8),
    "paper512": (64, 8, 1.0, 0.0025, 0.5, 20.0, None, 8),
    "paper1024": (32, 4, 1.0, 0.002, 2.0, 10.0, None, 8),
}


@dataclass(frozen=True)
class APASettings:
    """A resolved APA training configuration (everything besides the images and the seed).

    Attributes:
        resolution: image size (a power of two); images are resized to it with Lanczos, as
            ``dataset_tool.py --width --height`` does.
        cfg: the official base configuration the numbers came from.
        gpus: GPUs of the official run (batch split into ``batch / gpus`` rounds).
        kimg: training length in thousands of real images shown.
        batch, mbstd: batch size and minibatch-std group size.
        channel_base, channel_max, mapping_layers, z_dim, w_dim: network size.
        lr, gamma, ema_kimg, ema_rampup: optimiser, R1 weight and generator EMA.
        aug: ``apa`` (adaptive p), ``fixed`` (constant ``p``) or ``noaug``.
        p: initial (or fixed) probability; target: APA's target for ``λ_r``.
        with_dataaug: also apply ADA's ``bgc`` pipeline with the same ``p``.
        mirror: add x-flipped copies of the images to the set (``--mirror=1``).
    """

    resolution: int = 1024
    cfg: str = "stylegan2"
    gpus: int = 4
    kimg: float = 25_000
    batch: int = 32
    mbstd: int = 4
    channel_base: int = 32768
    channel_max: int = 512
    mapping_layers: int = 8
    z_dim: int = 512
    w_dim: int = 512
    conv_clamp: float | None = 256
    lr: float = 0.002
    gamma: float = 10.0
    ema_kimg: float = 10.0
    ema_rampup: float | None = None
    aug: str = "apa"
    p: float = 0.0
    target: float = 0.6
    apa_interval: int = 4
    apa_kimg: float = 500
    with_dataaug: bool = True
    mirror: bool = True
    style_mixing: float = 0.9
    pl_weight: float = 2.0
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    g_reg_interval: int = 4
    d_reg_interval: int = 16

    def __post_init__(self) -> None:
        problems = []
        if self.resolution < 4 or self.resolution & (self.resolution - 1):
            problems.append(f"resolution must be a power of two ≥ 4, got {self.resolution}")
        if self.gpus < 1 or self.batch % self.gpus:
            problems.append(f"batch ({self.batch}) must be a multiple of gpus ({self.gpus})")
        elif (self.batch // self.gpus) % min(self.mbstd, self.batch // self.gpus):
            problems.append(f"the per-GPU batch ({self.batch // self.gpus}) must be a multiple of the minibatch-std group ({self.mbstd})")
        elif self.pl_weight and (self.batch // self.gpus) // self.pl_batch_shrink < 1:
            problems.append("the per-GPU batch is too small for the path-length batch (batch / gpus / pl_batch_shrink ≥ 1)")
        if self.aug not in ("apa", "fixed", "noaug"):
            problems.append(f"aug must be 'apa', 'fixed' or 'noaug', got {self.aug!r}")
        if self.aug == "noaug" and self.with_dataaug:
            problems.append("with_dataaug cannot be used with aug='noaug' (the official train.py refuses it)")
        if self.kimg <= 0:
            problems.append("kimg must be > 0")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def batch_gpu(self) -> int:
        return self.batch // self.gpus

    @property
    def iterations(self) -> int:
        """Batches until ``kimg`` thousand images have been shown (the official stop rule)."""
        return math.ceil(self.kimg * 1000 / self.batch)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def configure(cfg: str, resolution: int, *, gpus: int = 1, **overrides: Any) -> APASettings:
    """The settings ``train.py --cfg=<cfg> --gpus=<gpus>`` gives for a set at ``resolution``."""
    if cfg not in CONFIGS:
        raise ValueError(f"cfg must be one of {CONFIGS}, got {cfg!r}")
    if cfg == "auto":
        mb = max(min(gpus * min(4096 // resolution, 32), 64), gpus)
        spec = (mb, min(mb // gpus, 4), 1.0 if resolution >= 512 else 0.5, 0.002 if resolution >= 1024 else 0.0025,
                0.0002 * resolution ** 2 / mb, mb * 10 / 32, 0.05, 2)
    else:
        spec = _SPECS[cfg]
    mb, mbstd, fmaps, lr, gamma, ema, ramp, mapping = spec
    base = APASettings(resolution=resolution, cfg=cfg, gpus=gpus, batch=mb, mbstd=mbstd, channel_base=int(fmaps * 32768),
                       mapping_layers=mapping, lr=lr, gamma=gamma, ema_kimg=ema, ema_rampup=ramp)
    return replace(base, **overrides)


PAPER = configure("stylegan2", 1024, gpus=4)
"""The study's command (DeceiveD issue #4): ``train.py --gpus=4 --mirror=1 --cfg=stylegan2
--aug=apa --with-dataaug=true`` on the LR sets resized to 1024×1024 (as the APA authors advised
there), default length 25,000 kimg."""

FAST = configure("auto", 256, gpus=1, batch=4, mbstd=4, channel_base=1024, channel_max=64, z_dim=128, w_dim=128,
                 kimg=0.4, with_dataaug=False)
"""CPU profile: the ``auto`` configuration at 256 px with 1/16 of the channels and 128-d latents,
batch 4, 0.4 kimg (100 iterations), APA alone (``--with-dataaug=false``, the APA default: ADA's
pipeline triples the cost of an iteration on a CPU); timing in ``site/docs/apa.md``."""

PROFILES = {"paper": PAPER, "fast": FAST}


# -- data ------------------------------------------------------------------------------------------

class InfiniteSampler:
    """The official ``misc.InfiniteSampler``: a shuffled order, walked cyclically, each step
    swapping the current item with one up to ``window`` (half the set) positions back."""

    def __init__(self, n: int, generator: torch.Generator, state: dict[str, Any] | None = None):
        self.generator = generator
        if state is not None:
            self.order, self.idx = state["order"].clone(), int(state["idx"])
        else:
            self.order, self.idx = torch.randperm(n, generator=generator), 0
        self.window = int(np.rint(n * 0.5))

    def take(self, count: int) -> torch.Tensor:
        out = []
        n = self.order.numel()
        for _ in range(count):
            i = self.idx % n
            out.append(int(self.order[i]))
            if self.window >= 2:
                j = (i - int(torch.randint(0, self.window, (1,), generator=self.generator))) % n
                self.order[[i, j]] = self.order[[j, i]]
            self.idx += 1
        return torch.tensor(out)

    def state(self) -> dict[str, Any]:
        return {"order": self.order.clone(), "idx": self.idx}


# -- networks --------------------------------------------------------------------------------------

def build_generator(settings: APASettings) -> Generator:
    return Generator(settings.z_dim, settings.w_dim, settings.resolution, mapping_layers=settings.mapping_layers,
                     channel_base=settings.channel_base, channel_max=settings.channel_max, conv_clamp=settings.conv_clamp)


def build_discriminator(settings: APASettings) -> Discriminator:
    return Discriminator(settings.resolution, channel_base=settings.channel_base, channel_max=settings.channel_max,
                         conv_clamp=settings.conv_clamp, mbstd_group_size=settings.mbstd)


# -- the loss --------------------------------------------------------------------------------------

class Loss:
    """``StyleGAN2Loss`` with APA (DeceiveD ``training/loss.py``)."""

    def __init__(self, g: Generator, d: Discriminator, augment: AugmentPipe | None, settings: APASettings, device):
        self.g, self.d, self.augment, self.s, self.device = g, d, augment, settings, device
        self.pl_mean = torch.zeros([], device=device)
        self.pseudo_data: torch.Tensor | None = None
        self.signs_sum, self.signs_count = 0.0, 0
        self.stats: dict[str, float] = {}

    def run_g(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ws = self.g.mapping(z)
        if self.s.style_mixing > 0:
            cutoff = torch.empty([], dtype=torch.int64, device=ws.device).random_(1, ws.shape[1])
            cutoff = torch.where(torch.rand([], device=ws.device) < self.s.style_mixing, cutoff, torch.full_like(cutoff, ws.shape[1]))
            ws[:, cutoff:] = self.g.mapping(torch.randn_like(z), skip_w_avg_update=True)[:, cutoff:]
        return self.g.synthesis(ws), ws

    def run_d(self, img: torch.Tensor) -> torch.Tensor:
        if self.s.with_dataaug and self.augment is not None:
            img = self.augment(img)
        return self.d(img)

    def pseudo_augment(self, real: torch.Tensor) -> torch.Tensor:
        """APA: each real image replaced by a recent fake with probability ``p``."""
        flag = (torch.rand([real.shape[0], 1, 1, 1], device=self.device) < self.augment.p).to(real.dtype)
        if not bool(flag.any()):
            return real
        return self.pseudo_data * flag + real * (1 - flag)

    def accumulate(self, phase: str, real: torch.Tensor, z: torch.Tensor, gain: float) -> None:
        do_gmain, do_dmain = phase == "Gmain", phase == "Dmain"
        do_gpl = phase == "Greg" and self.s.pl_weight != 0
        do_dr1 = phase == "Dreg" and self.s.gamma != 0
        if do_gmain:
            img, _ = self.run_g(z)
            self.pseudo_data = img.detach()
            logits = self.run_d(img)
            loss = F.softplus(-logits)
            self.stats["g"] = loss.detach().mean().item()
            loss.mean().mul(gain).backward()
        if do_gpl:
            n = z.shape[0] // self.s.pl_batch_shrink
            img, ws = self.run_g(z[:n])
            pl_noise = torch.randn_like(img) / np.sqrt(img.shape[2] * img.shape[3])
            grads, = torch.autograd.grad(outputs=[(img * pl_noise).sum()], inputs=[ws], create_graph=True, only_inputs=True)
            lengths = grads.square().sum(2).mean(1).sqrt()
            pl_mean = self.pl_mean.lerp(lengths.mean(), self.s.pl_decay)
            self.pl_mean.copy_(pl_mean.detach())
            penalty = (lengths - pl_mean).square()
            self.stats["pl"] = penalty.detach().mean().item()
            (img[:, 0, 0, 0] * 0 + penalty * self.s.pl_weight).mean().mul(gain).backward()
        loss_dgen = 0
        if do_dmain:
            img, _ = self.run_g(z)
            logits = self.run_d(img)
            loss_dgen = F.softplus(logits)
            loss_dgen.mean().mul(gain).backward()
        if do_dmain or do_dr1:
            real_tmp = self.pseudo_augment(real) if self.augment is not None else real
            real_tmp = real_tmp.detach().requires_grad_(do_dr1)
            logits = self.run_d(real_tmp)
            self.signs_sum += float(logits.detach().sign().sum())
            self.signs_count += logits.numel()
            loss_dreal = 0
            if do_dmain:
                loss_dreal = F.softplus(-logits)
                self.stats["d"] = (loss_dgen + loss_dreal).detach().mean().item()
            loss_r1 = 0
            if do_dr1:
                grads, = torch.autograd.grad(outputs=[logits.sum()], inputs=[real_tmp], create_graph=True, only_inputs=True)
                penalty = grads.square().sum([1, 2, 3])
                self.stats["r1"] = penalty.detach().mean().item()
                loss_r1 = penalty * (self.s.gamma / 2)
            (logits * 0 + loss_dreal + loss_r1).mean().mul(gain).backward()

    def take_signs(self) -> float | None:
        """Mean of ``sign(D(x̃))`` reported since the last call (the APA/ADA statistic)."""
        if not self.signs_count:
            return None
        value = self.signs_sum / self.signs_count
        self.signs_sum, self.signs_count = 0.0, 0
        return value


# -- training --------------------------------------------------------------------------------------

@dataclass
class Phase:
    name: str
    module: torch.nn.Module
    opt: torch.optim.Optimizer
    interval: int


class Trainer:
    """Networks, optimisers, augmentation and random state of one APA training."""

    def __init__(self, images: list[np.ndarray], settings: APASettings, *, seed: int, device: torch.device):
        s = self.settings = settings
        self.device = device
        data = np.stack([resize_square(image, s.resolution, resample="lanczos") for image in images])
        if s.mirror:
            data = np.concatenate([data, data[:, :, ::-1]])
        self.data = torch.from_numpy(np.ascontiguousarray(data)).permute(0, 3, 1, 2).contiguous()  # uint8, CPU
        self.generator = torch.Generator().manual_seed(seed)
        with seeded_global(draw_seed(self.generator), torch.device("cpu")):
            g, d = build_generator(s), build_discriminator(s)
        self.g = g.to(device).train().requires_grad_(False)
        self.d = d.to(device).train().requires_grad_(False)
        self.g_ema = build_generator(s).to(device).eval().requires_grad_(False)
        self.g_ema.load_state_dict(self.g.state_dict())
        self.augment = None
        if s.aug == "apa" or (s.aug == "fixed" and s.p > 0):  # the official condition for building the pipeline
            self.augment = AugmentPipe(**BGC).to(device).train().requires_grad_(False)
            self.augment.p.fill_(s.p)
        self.loss = Loss(self.g, self.d, self.augment, s, device)
        self.phases: list[Phase] = []
        for name, module, interval in (("G", self.g, s.g_reg_interval), ("D", self.d, s.d_reg_interval)):
            ratio = interval / (interval + 1)
            opt = torch.optim.Adam(module.parameters(), lr=s.lr * ratio, betas=(0.0, 0.99 ** ratio), eps=1e-8)
            self.phases += [Phase(name + "main", module, opt, 1), Phase(name + "reg", module, opt, interval)]
        self.sampler = InfiniteSampler(len(self.data), self.generator)
        self.cur_nimg = 0
        self.batch_idx = 0
        self.last_signs: float | None = None

    @property
    def p(self) -> float:
        return float(self.augment.p) if self.augment is not None else 0.0

    def real_batch(self) -> torch.Tensor:
        idx = self.sampler.take(self.settings.batch)
        return self.data[idx].to(self.device, torch.float32) / 127.5 - 1

    def step(self) -> dict[str, float]:
        s = self.settings
        real = self.real_batch().split(s.batch_gpu)
        with seeded_global(draw_seed(self.generator), self.device):
            all_z = torch.randn([len(self.phases) * s.batch, s.z_dim], device=self.device)
            for phase, phase_z in zip(self.phases, all_z.split(s.batch)):
                if self.batch_idx % phase.interval:
                    continue
                phase.opt.zero_grad(set_to_none=True)
                phase.module.requires_grad_(True)
                for real_round, z_round in zip(real, phase_z.split(s.batch_gpu)):
                    self.loss.accumulate(phase.name, real_round, z_round, gain=phase.interval)
                phase.module.requires_grad_(False)
                for param in phase.module.parameters():
                    if param.grad is not None:
                        torch.nan_to_num(param.grad, nan=0, posinf=1e5, neginf=-1e5, out=param.grad)
                phase.opt.step()
        self.update_ema()
        self.cur_nimg += s.batch
        self.batch_idx += 1
        if s.aug == "apa" and self.batch_idx % s.apa_interval == 0:
            signs = self.loss.take_signs()
            if signs is not None:
                self.adjust_p(signs)
        losses = dict(self.loss.stats)
        losses["p"] = self.p
        if self.last_signs is not None:
            losses["rt"] = self.last_signs
        return losses

    def adjust_p(self, signs: float) -> None:
        """The APA heuristic: move ``p`` by ``batch · interval / (apa_kimg · 1000)`` towards more
        deception when ``λ_r = E[sign(D(x̃))]`` exceeds the target, less otherwise (never below 0)."""
        s = self.settings
        self.last_signs = signs
        adjust = np.sign(signs - s.target) * (s.batch * s.apa_interval) / (s.apa_kimg * 1000)
        self.augment.p.copy_((self.augment.p + adjust).clamp(min=0))

    @torch.no_grad()
    def update_ema(self) -> None:
        s = self.settings
        ema_nimg = s.ema_kimg * 1000
        if s.ema_rampup is not None:
            ema_nimg = min(ema_nimg, self.cur_nimg * s.ema_rampup)
        beta = 0.5 ** (s.batch / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.g_ema.parameters(), self.g.parameters()):
            p_ema.copy_(p.lerp(p_ema, beta))
        for b_ema, b in zip(self.g_ema.buffers(), self.g.buffers()):
            b_ema.copy_(b)

    def state(self) -> dict[str, Any]:
        """A resumable snapshot: the official networks' state dicts under ``G``, ``D``, ``G_ema``
        plus optimisers, APA state, path-length mean, data order and random state."""
        return {
            "G": self.g.state_dict(), "D": self.d.state_dict(), "G_ema": self.g_ema.state_dict(),
            "opt_G": self.phases[0].opt.state_dict(), "opt_D": self.phases[2].opt.state_dict(),
            "augment_p": torch.tensor(self.p), "pl_mean": self.loss.pl_mean.detach().cpu().clone(),
            "signs": torch.tensor([self.loss.signs_sum, float(self.loss.signs_count)], dtype=torch.float64),
            "last_signs": torch.tensor(float("nan") if self.last_signs is None else self.last_signs, dtype=torch.float64),
            "cur_nimg": self.cur_nimg, "batch_idx": self.batch_idx, "iteration": self.batch_idx,
            "sampler": self.sampler.state(), "rng": self.generator.get_state(),
            "settings": json.dumps(self.settings.as_dict(), sort_keys=True), "format": SNAPSHOT_FORMAT,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.g.load_state_dict(state["G"])
        self.d.load_state_dict(state["D"])
        self.g_ema.load_state_dict(state["G_ema"])
        self.phases[0].opt.load_state_dict(state["opt_G"])
        self.phases[2].opt.load_state_dict(state["opt_D"])
        if self.augment is not None:
            self.augment.p.fill_(float(state["augment_p"]))
        self.loss.pl_mean.copy_(state["pl_mean"])
        self.loss.signs_sum, self.loss.signs_count = float(state["signs"][0]), int(state["signs"][1])
        last = float(state["last_signs"])
        self.last_signs = None if math.isnan(last) else last
        self.cur_nimg, self.batch_idx = int(state["cur_nimg"]), int(state["batch_idx"])
        self.sampler = InfiniteSampler(len(self.data), self.generator, state["sampler"])
        self.generator.set_state(state["rng"])

    def final_state(self) -> dict[str, Any]:
        """``G``, ``D``, ``G_ema`` state dicts: the layout of an exported official snapshot."""
        return {"G": self.g.state_dict(), "D": self.d.state_dict(), "G_ema": self.g_ema.state_dict(),
                "augment_p": torch.tensor(self.p), "kimg": self.cur_nimg / 1000,
                "settings": json.dumps(self.settings.as_dict(), sort_keys=True), "format": SNAPSHOT_FORMAT}


def train(images: list[np.ndarray], settings: APASettings, run: TrainingRun) -> dict[str, Any]:
    trainer = Trainer(images, settings, seed=run.seed, device=run.device)
    if run.resume is not None:
        trainer.load_state(run.resume)
    total = settings.iterations
    while trainer.batch_idx < total:
        losses = trainer.step()
        if run.due(trainer.batch_idx, total):
            run.snapshot(trainer.state())
        run.report(trainer.batch_idx, losses)
    return trainer.final_state()


# -- sampling --------------------------------------------------------------------------------------

FIRST_SEED = 1000
"""``generate.py --seeds=1000-1099``: the study's APA files are ``seed1000.png`` … ``seed1099.png``."""


def latent(seed: int, z_dim: int) -> torch.Tensor:
    """``generate.py``'s latent for ``seed``: ``np.random.RandomState(seed).randn(1, z_dim)``."""
    return torch.from_numpy(np.random.RandomState(seed).randn(1, z_dim))


class SamplingModel:
    """``G_ema`` in evaluation mode with the constant noise maps, as ``generate.py`` runs it."""

    def __init__(self, g: Generator, *, truncation_psi: float, samples_per_set: int, device: torch.device):
        self.g = g.to(device).eval().requires_grad_(False)
        self.truncation_psi, self.samples_per_set, self.device = truncation_psi, samples_per_set, device

    def generate_seed(self, seed: int) -> np.ndarray:
        """The image ``generate.py`` writes as ``seed{seed:04d}.png``: ``(x·127.5 + 128)``
        clamped to [0, 255] and truncated to uint8."""
        with torch.no_grad():
            img = self.g(latent(seed, self.g.z_dim).to(self.device), truncation_psi=self.truncation_psi, noise_mode="const")
        img = (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
        return img[0].cpu().numpy()

    def sample(self, index: int, seed: int) -> np.ndarray:
        return self.generate_seed(FIRST_SEED + seed * self.samples_per_set + index)
