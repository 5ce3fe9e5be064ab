"""The official SinGAN training loop, transcribed line by line: the reference our loop is checked
against (``tests/models/test_singan_training.py``, float64) and timed against
(``tests/perf/singan_speed.py``, float32).

Source: ``tamarott/SinGAN``, newest revision — ``SinGAN/training.py`` (``train``,
``train_single_scale``, ``draw_concat``, ``init_models``), ``SinGAN/models.py`` (``ConvBlock``,
``weights_init``, ``WDiscriminator``, ``GeneratorConcatSkip2CleanAdd``), ``SinGAN/functions.py``
(``generate_noise``, ``upsampling``, ``calc_gradient_penalty``) and ``SinGAN/imresize.py``
(``imresize``). Statements keep the official order and names; only what cannot run here, or
what the official left to its environment, is different:

- **Adam as PyTorch ≤ 1.4 implemented it** (the versions the code was written for): parameters
  are updated through ``p.data``, which autograd does not see. The official generator steps
  back-propagate ``−mean D(fake)`` three times through the graph of the *same* ``fake`` (built
  before the first generator update, with ``retain_graph=True``); PyTorch ≥ 1.5 refuses the
  second backward (tamarott/SinGAN issues 103, 108, 110, 137), PyTorch ≤ 1.4 ran it with the
  saved activations of the old forward pass and the *current* weights. This optimiser
  reproduces that.
- **No files**: the snapshots (``plt.imsave``, ``torch.save``) are not written, but the
  training-mode forward pass ``netG(Z_opt.detach(), z_prev)`` that the snapshot code runs is
  kept — it moves the generator's BatchNorm running statistics.
- **Random numbers** come from the global torch generator, as in the official code; the caller
  seeds it (``torch.manual_seed``). A ``torch.Generator`` seeded alike gives the same stream.
- **imresize**: the official steps (``torch2uint8`` truncation, Shocher's MATLAB-compatible
  bicubic on the uint8 levels in float64, ``np2torch``) with :func:`metrics.matlab.imresize`
  (the same MATLAB semantics) and the project's level convention: a guard of 1e-3 of a level
  before the truncation (``models.singan.imaging.LEVEL_GUARD``; the official float32 round trip
  turns some exact levels into the level below, an artefact the project does not reproduce).
  The result keeps the run's dtype instead of the official ``FloatTensor``.
- ``dtype`` is a parameter (float64 for the equivalence test, float32 for timing); the
  scheduler milestone (official: 1600) and the snapshot period (official: 500) are parameters
  so that a test can reach them within a few iterations.
- ``opt`` is the :class:`Options` dataclass; the real image pyramid is passed in (the loop, not
  the pyramid construction, is what this module is for); modes other than ``train`` are left out.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

from restorebench.metrics.matlab import imresize as matlab_imresize

LEVEL_GUARD = 1e-3


@dataclass
class Options:
    """The ``opt`` fields the training loop reads (``config.py`` defaults)."""

    niter: int = 2000
    nfc: int = 32
    min_nfc: int = 32
    nc_im: int = 3
    nc_z: int = 3
    ker_size: int = 3
    padd_size: int = 0
    num_layer: int = 5
    stride: int = 1
    lr_g: float = 0.0005
    lr_d: float = 0.0005
    beta1: float = 0.5
    gamma: float = 0.1
    lambda_grad: float = 0.1
    alpha: float = 10.0
    Dsteps: int = 3
    Gsteps: int = 3
    noise_amp: float = 0.1
    scale_factor: float = 0.75
    mode: str = "train"
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    milestones: tuple[int, ...] = (1600,)  # hard-coded in the official MultiStepLR
    snapshot_every: int = 500  # hard-coded in the official ``epoch % 500 == 0``

    def __post_init__(self) -> None:  # functions.post_config
        self.noise_amp_init = self.noise_amp
        self.nfc_init = self.nfc
        self.min_nfc_init = self.min_nfc
        self.scale_factor_init = self.scale_factor


# -- SinGAN/models.py ------------------------------------------------------------------------------

class ConvBlock(nn.Sequential):
    def __init__(self, in_channel, out_channel, ker_size, padd, stride):
        super(ConvBlock, self).__init__()
        self.add_module("conv", nn.Conv2d(in_channel, out_channel, kernel_size=ker_size, stride=stride, padding=padd)),
        self.add_module("norm", nn.BatchNorm2d(out_channel)),
        self.add_module("LeakyRelu", nn.LeakyReLU(0.2, inplace=True))


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv2d") != -1:
        m.weight.data.normal_(0.0, 0.02)
    elif classname.find("Norm") != -1:
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


class WDiscriminator(nn.Module):
    def __init__(self, opt):
        super(WDiscriminator, self).__init__()
        N = int(opt.nfc)
        self.head = ConvBlock(opt.nc_im, N, opt.ker_size, opt.padd_size, 1)
        self.body = nn.Sequential()
        for i in range(opt.num_layer - 2):
            N = int(opt.nfc / pow(2, (i + 1)))
            block = ConvBlock(max(2 * N, opt.min_nfc), max(N, opt.min_nfc), opt.ker_size, opt.padd_size, 1)
            self.body.add_module("block%d" % (i + 1), block)
        self.tail = nn.Conv2d(max(N, opt.min_nfc), 1, kernel_size=opt.ker_size, stride=1, padding=opt.padd_size)

    def forward(self, x):
        x = self.head(x)
        x = self.body(x)
        x = self.tail(x)
        return x


class GeneratorConcatSkip2CleanAdd(nn.Module):
    def __init__(self, opt):
        super(GeneratorConcatSkip2CleanAdd, self).__init__()
        N = opt.nfc
        self.head = ConvBlock(opt.nc_im, N, opt.ker_size, opt.padd_size, 1)
        self.body = nn.Sequential()
        for i in range(opt.num_layer - 2):
            N = int(opt.nfc / pow(2, (i + 1)))
            block = ConvBlock(max(2 * N, opt.min_nfc), max(N, opt.min_nfc), opt.ker_size, opt.padd_size, 1)
            self.body.add_module("block%d" % (i + 1), block)
        self.tail = nn.Sequential(
            nn.Conv2d(max(N, opt.min_nfc), opt.nc_im, kernel_size=opt.ker_size, stride=1, padding=opt.padd_size),
            nn.Tanh(),
        )

    def forward(self, x, y):
        x = self.head(x)
        x = self.body(x)
        x = self.tail(x)
        ind = int((y.shape[2] - x.shape[2]) / 2)
        y = y[:, :, ind:(y.shape[2] - ind), ind:(y.shape[3] - ind)]
        return x + y


# -- SinGAN/functions.py, SinGAN/imresize.py ----------------------------------------------------------

def upsampling(im, sx, sy):
    m = nn.Upsample(size=[round(sx), round(sy)], mode="bilinear", align_corners=True)
    return m(im)


def generate_noise(size, num_samp=1, device="cuda", type="gaussian", scale=1):
    noise = torch.randn(num_samp, size[0], round(size[1] / scale), round(size[2] / scale), device=device)
    noise = upsampling(noise, size[1], size[2])
    return noise


def calc_gradient_penalty(netD, real_data, fake_data, LAMBDA, device):
    alpha = torch.rand(1, 1)
    alpha = alpha.expand(real_data.size())
    alpha = alpha.to(device)

    interpolates = alpha * real_data + ((1 - alpha) * fake_data)

    interpolates = interpolates.to(device)
    # torch.autograd.Variable(interpolates, requires_grad=True): a new leaf, detached from `fake`
    interpolates = interpolates.detach().requires_grad_(True)

    disc_interpolates = netD(interpolates)

    gradients = torch.autograd.grad(outputs=disc_interpolates, inputs=interpolates,
                                    grad_outputs=torch.ones(disc_interpolates.size()).to(device),
                                    create_graph=True, retain_graph=True, only_inputs=True)[0]
    gradient_penalty = ((gradients.norm(2, dim=1) - 1) ** 2).mean() * LAMBDA
    return gradient_penalty


def denorm(x):
    out = (x + 1) / 2
    return out.clamp(0, 1)


def norm(x):
    out = (x - 0.5) * 2
    return out.clamp(-1, 1)


def torch2uint8(x):
    x = x[0, :, :, :]
    x = x.permute((1, 2, 0))
    x = 255 * denorm(x)
    x = x.cpu().numpy()
    return np.floor(x.astype(np.float64) + LEVEL_GUARD)  # x.astype(np.uint8), see the module notes


def np2torch(x, opt):
    x = x[:, :, :, None]
    x = x.transpose((3, 2, 0, 1)) / 255
    x = torch.from_numpy(np.ascontiguousarray(x)).to(device=opt.device, dtype=torch.get_default_dtype())
    x = norm(x)
    return x


def imresize(im, scale, opt):
    im = torch2uint8(im)
    im = matlab_imresize(im, scale)
    im = np2torch(im, opt)
    return im


# -- the optimiser of PyTorch ≤ 1.4 -------------------------------------------------------------------

class Adam14(optim.Optimizer):
    """``torch.optim.Adam`` of PyTorch 1.4 (no weight decay, no AMSGrad): the update goes through
    ``p.data``, so graphs that saved ``p`` stay usable and see the new values."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad.data
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p.data)
                    state["exp_avg_sq"] = torch.zeros_like(p.data)
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                beta1, beta2 = group["betas"]
                state["step"] += 1
                bias_correction1 = 1 - beta1 ** state["step"]
                bias_correction2 = 1 - beta2 ** state["step"]
                exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = (exp_avg_sq.sqrt() / math.sqrt(bias_correction2)).add_(group["eps"])
                step_size = group["lr"] / bias_correction1
                p.data.addcdiv_(exp_avg, denom, value=-step_size)


# -- SinGAN/training.py ----------------------------------------------------------------------------

def init_models(opt):
    netG = GeneratorConcatSkip2CleanAdd(opt).to(opt.device)
    netG.apply(weights_init)
    netD = WDiscriminator(opt).to(opt.device)
    netD.apply(weights_init)
    return netD, netG


def train(opt, reals, Gs, Zs, NoiseAmp, record=None):
    """``train`` after ``creat_reals_pyramid``: every scale of ``reals``; the trained generators
    are appended to ``Gs`` (frozen, eval mode), ``Zs`` and ``NoiseAmp``.

    ``record`` (a list), if given, receives per scale the global generator's state before the
    scale's ``init_models``, the weights the scale started from (``None`` without a warm start)
    and the trained critic — what a test needs to run one scale of another implementation
    from the same starting point."""
    in_s = 0
    scale_num = 0
    nfc_prev = 0
    saved = None
    while scale_num < len(reals):
        opt.nfc = min(opt.nfc_init * pow(2, math.floor(scale_num / 4)), 128)
        opt.min_nfc = min(opt.min_nfc_init * pow(2, math.floor(scale_num / 4)), 128)
        rng_state = torch.get_rng_state()

        D_curr, G_curr = init_models(opt)
        if nfc_prev == opt.nfc:  # torch.load('%s/%d/netG.pth' % (opt.out_, scale_num - 1))
            G_curr.load_state_dict(saved[0])
            D_curr.load_state_dict(saved[1])
        warm = saved if nfc_prev == opt.nfc else None

        z_curr, in_s, G_curr = train_single_scale(D_curr, G_curr, reals, Gs, Zs, in_s, NoiseAmp, opt)
        saved = ({k: v.clone() for k, v in G_curr.state_dict().items()},  # functions.save_networks
                 {k: v.clone() for k, v in D_curr.state_dict().items()})

        G_curr = reset_grads(G_curr, False)
        G_curr.eval()
        D_curr = reset_grads(D_curr, False)
        D_curr.eval()

        Gs.append(G_curr)
        Zs.append(z_curr)
        NoiseAmp.append(opt.noise_amp)
        if record is not None:
            record.append({"rng_state": rng_state, "warm": warm, "critic": D_curr})

        scale_num += 1
        nfc_prev = opt.nfc
        del D_curr, G_curr


def reset_grads(model, require_grad):
    for p in model.parameters():
        p.requires_grad_(require_grad)
    return model


def train_single_scale(netD, netG, reals, Gs, Zs, in_s, NoiseAmp, opt, centers=None):
    real = reals[len(Gs)]
    opt.nzx = real.shape[2]
    opt.nzy = real.shape[3]
    opt.receptive_field = opt.ker_size + ((opt.ker_size - 1) * (opt.num_layer - 1)) * opt.stride
    pad_noise = int(((opt.ker_size - 1) * opt.num_layer) / 2)
    pad_image = int(((opt.ker_size - 1) * opt.num_layer) / 2)
    m_noise = nn.ZeroPad2d(int(pad_noise))
    m_image = nn.ZeroPad2d(int(pad_image))

    alpha = opt.alpha

    fixed_noise = generate_noise([opt.nc_z, opt.nzx, opt.nzy], device=opt.device)
    z_opt = torch.full(fixed_noise.shape, 0, device=opt.device, dtype=fixed_noise.dtype)
    z_opt = m_noise(z_opt)

    # setup optimizer
    optimizerD = Adam14(netD.parameters(), lr=opt.lr_d, betas=(opt.beta1, 0.999))
    optimizerG = Adam14(netG.parameters(), lr=opt.lr_g, betas=(opt.beta1, 0.999))
    schedulerD = torch.optim.lr_scheduler.MultiStepLR(optimizer=optimizerD, milestones=list(opt.milestones), gamma=opt.gamma)
    schedulerG = torch.optim.lr_scheduler.MultiStepLR(optimizer=optimizerG, milestones=list(opt.milestones), gamma=opt.gamma)

    dtype = torch.get_default_dtype()
    for epoch in range(opt.niter):
        if (Gs == []) & (opt.mode != "SR_train"):
            z_opt = generate_noise([1, opt.nzx, opt.nzy], device=opt.device)
            z_opt = m_noise(z_opt.expand(1, 3, opt.nzx, opt.nzy))
            noise_ = generate_noise([1, opt.nzx, opt.nzy], device=opt.device)
            noise_ = m_noise(noise_.expand(1, 3, opt.nzx, opt.nzy))
        else:
            noise_ = generate_noise([opt.nc_z, opt.nzx, opt.nzy], device=opt.device)
            noise_ = m_noise(noise_)

        ############################
        # (1) Update D network: maximize D(x) + D(G(z))
        ###########################
        for j in range(opt.Dsteps):
            # train with real
            netD.zero_grad()

            output = netD(real).to(opt.device)
            errD_real = -output.mean()
            errD_real.backward(retain_graph=True)

            # train with fake
            if (j == 0) & (epoch == 0):
                if (Gs == []) & (opt.mode != "SR_train"):
                    prev = torch.full([1, opt.nc_z, opt.nzx, opt.nzy], 0, device=opt.device, dtype=dtype)
                    in_s = prev
                    prev = m_image(prev)
                    z_prev = torch.full([1, opt.nc_z, opt.nzx, opt.nzy], 0, device=opt.device, dtype=dtype)
                    z_prev = m_noise(z_prev)
                    opt.noise_amp = 1
                else:
                    prev = draw_concat(Gs, Zs, reals, NoiseAmp, in_s, "rand", m_noise, m_image, opt)
                    prev = m_image(prev)
                    z_prev = draw_concat(Gs, Zs, reals, NoiseAmp, in_s, "rec", m_noise, m_image, opt)
                    criterion = nn.MSELoss()
                    RMSE = torch.sqrt(criterion(real, z_prev))
                    opt.noise_amp = opt.noise_amp_init * RMSE
                    z_prev = m_image(z_prev)
            else:
                prev = draw_concat(Gs, Zs, reals, NoiseAmp, in_s, "rand", m_noise, m_image, opt)
                prev = m_image(prev)

            if (Gs == []) & (opt.mode != "SR_train"):
                noise = noise_
            else:
                noise = opt.noise_amp * noise_ + prev

            fake = netG(noise.detach(), prev)
            output = netD(fake.detach())
            errD_fake = output.mean()
            errD_fake.backward(retain_graph=True)

            gradient_penalty = calc_gradient_penalty(netD, real, fake, opt.lambda_grad, opt.device)
            gradient_penalty.backward()

            optimizerD.step()

        ############################
        # (2) Update G network: maximize D(G(z))
        ###########################

        for j in range(opt.Gsteps):
            netG.zero_grad()
            output = netD(fake)
            errG = -output.mean()
            errG.backward(retain_graph=True)
            if alpha != 0:
                loss = nn.MSELoss()
                Z_opt = opt.noise_amp * z_opt + z_prev
                rec_loss = alpha * loss(netG(Z_opt.detach(), z_prev), real)
                rec_loss.backward(retain_graph=True)
                rec_loss = rec_loss.detach()
            else:
                Z_opt = z_opt
                rec_loss = 0

            optimizerG.step()

        if epoch % opt.snapshot_every == 0 or epoch == (opt.niter - 1):
            # plt.imsave('%s/G(z_opt).png' ...): a training-mode forward pass, its image not saved
            netG(Z_opt.detach(), z_prev).detach()

        schedulerD.step()
        schedulerG.step()

    return z_opt, in_s, netG


def draw_concat(Gs, Zs, reals, NoiseAmp, in_s, mode, m_noise, m_image, opt):
    G_z = in_s
    if len(Gs) > 0:
        if mode == "rand":
            count = 0
            pad_noise = int(((opt.ker_size - 1) * opt.num_layer) / 2)
            for G, Z_opt, real_curr, real_next, noise_amp in zip(Gs, Zs, reals, reals[1:], NoiseAmp):
                if count == 0:
                    z = generate_noise([1, Z_opt.shape[2] - 2 * pad_noise, Z_opt.shape[3] - 2 * pad_noise], device=opt.device)
                    z = z.expand(1, 3, z.shape[2], z.shape[3])
                else:
                    z = generate_noise([opt.nc_z, Z_opt.shape[2] - 2 * pad_noise, Z_opt.shape[3] - 2 * pad_noise], device=opt.device)
                z = m_noise(z)
                G_z = G_z[:, :, 0:real_curr.shape[2], 0:real_curr.shape[3]]
                G_z = m_image(G_z)
                z_in = noise_amp * z + G_z
                G_z = G(z_in.detach(), G_z)
                G_z = imresize(G_z, 1 / opt.scale_factor, opt)
                G_z = G_z[:, :, 0:real_next.shape[2], 0:real_next.shape[3]]
                count += 1
        if mode == "rec":
            count = 0
            for G, Z_opt, real_curr, real_next, noise_amp in zip(Gs, Zs, reals, reals[1:], NoiseAmp):
                G_z = G_z[:, :, 0:real_curr.shape[2], 0:real_curr.shape[3]]
                G_z = m_image(G_z)
                z_in = noise_amp * Z_opt + G_z
                G_z = G(z_in.detach(), G_z)
                G_z = imresize(G_z, 1 / opt.scale_factor, opt)
                G_z = G_z[:, :, 0:real_next.shape[2], 0:real_next.shape[3]]
                count += 1
    return G_z


# -- running it --------------------------------------------------------------------------------------

@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def options_from(settings, *, scale_factor: float, iterations: int | None = None,
                 device: torch.device = torch.device("cpu"), milestone: int | None = None) -> Options:
    """The official options matching a :class:`models.singan.settings.TrainingSettings`."""
    return Options(
        niter=settings.iterations if iterations is None else iterations,
        nfc=settings.nfc, min_nfc=settings.min_nfc, ker_size=settings.kernel_size, num_layer=settings.num_layer,
        lr_g=settings.lr, lr_d=settings.lr, beta1=settings.beta1, gamma=settings.gamma,
        lambda_grad=settings.lambda_grad, alpha=settings.alpha, Dsteps=settings.d_steps, Gsteps=settings.g_steps,
        noise_amp=settings.noise_amp, scale_factor=scale_factor, device=device,
        milestones=(settings.milestone if milestone is None else milestone,), snapshot_every=settings.rec_pass_every,
    )


def assert_same_state(ours: dict[str, torch.Tensor], reference: dict[str, torch.Tensor], *, critic: bool = False,
                      atol: float = 1e-11) -> None:
    """Two float64 state dicts equal to rounding (1e-11), except parameters whose gradient is zero
    up to rounding, which Adam divides by its ε = 1e-8 into steps that grow with the rounding of
    the gradient's sum, so with the image (seen: 1.2e-6 at the finest scale of a 96×128 image;
    bound 1e-5, still 50× below one real Adam step of 5e-4): the biases of convolutions followed
    by BatchNorm, which subtracts them again (and the running means that track them), and the
    critic's last bias (its gradient is ``mean(1) − mean(1)``; the penalty does not depend on it).
    ``atol`` is the bound for the others: at large scales a weight whose gradient nearly cancels
    gets a rounding-sized gradient that Adam's normalisation turns into a difference of up to
    ~1e-10 (seen: 6.7e-11 at the finest scale of a 96×128 image)."""
    assert list(ours) == list(reference)
    loose = ("conv.bias", "running_mean", *(("tail.bias",) if critic else ()))
    for key in ours:
        a, b = ours[key].double(), reference[key].double()
        assert torch.allclose(a, b, rtol=0, atol=1e-5 if key.endswith(loose) else atol), (key, float((a - b).abs().max()))
