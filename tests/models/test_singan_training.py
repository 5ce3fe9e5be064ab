"""Our SinGAN training loop computes the official updates.

``train_scale`` takes several shortcuts for speed (fakes without autograd graphs, one batched
draw of the coarser-scale samples, one forward for scale 0's identical fakes, the penalty's
critic pass through GroupNorm, one backward for the three critic losses, the first generator
step's adversarial gradient reused by the next ones, fused Adam). Here the official loop
(``tamarott/SinGAN``, ``train_single_scale``) is written out plainly — every critic loss
back-propagated on its own, the native BatchNorm everywhere, per-parameter Adam — and both run
two iterations in float64 from the same random state. Random numbers are drawn in our order
(the official loop draws the coarser-scale samples one critic step at a time) and the weights are
initialised in channels-last memory order.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from restorebench.models.singan.geometry import pyramid_geometry
from restorebench.models.singan.imaging import Upsampler, upsamplers
from restorebench.models.singan.networks import Discriminator, Generator, initialise
from restorebench.models.singan.pyramid import Pyramid, gaussian_noise, pad
from restorebench.models.singan.settings import TrainingSettings
from restorebench.models.singan.training import reals_pyramid, train_scale

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SETTINGS = TrainingSettings(max_size=40, min_size=20, nfc=8, min_nfc=8, iterations=2)
ITERATIONS = 2  # the second one runs at the decayed learning rate (milestone round(0.8 · 2) = 2)


@pytest.fixture
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def make_pyramid() -> Pyramid:
    from skimage import data

    from restorebench.metrics.matlab import imresize

    image = imresize(data.astronaut()[100:400, 100:400], output_shape=(30, 36))
    geometry = pyramid_geometry(image.shape[:2], min_size=SETTINGS.min_size, max_size=SETTINGS.max_size, scale_factor=SETTINGS.scale_factor)
    reals = [r.double() for r in reals_pyramid(image, geometry, device=torch.device("cpu"))]
    pyramid = Pyramid(settings=SETTINGS, geometry=geometry, reals=reals)
    pyramid._upsamplers = [
        Upsampler(rows=u.rows.double(), cols_t=u.cols_t.double())
        for u in upsamplers(geometry.shapes, geometry.scale_factor, device=torch.device("cpu"))
    ]
    return pyramid


def official_train_scale(pyramid: Pyramid, rng: torch.Generator, iterations: int):
    s = pyramid.settings
    scale, shape, p = pyramid.trained_scales, pyramid.geometry.shapes[pyramid.trained_scales], s.padding
    real = pyramid.reals[scale]
    coarsest = scale == 0
    netG = Generator(*s.widths(scale), num_layer=s.num_layer, kernel_size=s.kernel_size)
    netD = Discriminator(*s.widths(scale), num_layer=s.num_layer, kernel_size=s.kernel_size)
    for net in (netG, netD):  # channels-last like ours: normal_() fills memory in storage order
        initialise(net.to(memory_format=torch.channels_last), rng)
    optimizerD = torch.optim.Adam(netD.parameters(), lr=s.lr, betas=(s.beta1, 0.999), foreach=False)
    optimizerG = torch.optim.Adam(netG.parameters(), lr=s.lr, betas=(s.beta1, 0.999), foreach=False)
    if coarsest:
        rec_previous, noise_amp = pad(pyramid.zeros(0), p), 1.0
    else:
        rec_input = pyramid.reconstruction_input(scale)
        noise_amp = s.noise_amp * float(torch.sqrt(F.mse_loss(real, rec_input)))
        rec_previous = pad(rec_input, p)
    z_opt = torch.zeros_like(rec_previous)

    def noise():
        return gaussian_noise(shape, batch=1, coarsest=coarsest, padding=p, generator=rng, device=real.device)

    for iteration in range(iterations):
        for optimizer in (optimizerD, optimizerG):
            optimizer.param_groups[0]["lr"] = s.lr * s.lr_factor(iteration)
        if coarsest:
            z_opt = noise()
            noise_ = noise()
            previous = pad(pyramid.zeros(0, s.d_steps), p)
        else:
            noise_ = noise()
            previous = pad(pyramid.random_input(scale, batch=s.d_steps, generator=rng), p)
        for j in range(s.d_steps):
            netD.zero_grad()
            (-netD(real).mean()).backward()
            prev = previous[j : j + 1]
            fake = netG(noise_ if coarsest else noise_amp * noise_ + prev, prev)
            netD(fake.detach()).mean().backward()
            a = torch.rand((), generator=rng)
            mixed = (a * real + (1 - a) * fake.detach()).requires_grad_(True)
            (grads,) = torch.autograd.grad(netD(mixed).sum(), mixed, create_graph=True)
            (s.lambda_grad * ((grads.norm(2, dim=1) - 1) ** 2).mean()).backward()
            optimizerD.step()
        for step in range(s.g_steps):
            netG.zero_grad()
            if step == 0:
                (-netD(fake).mean()).backward()
                adversarial = [q.grad.clone() for q in netG.parameters()]
            else:
                # the official loop back-propagated the same critic output through the graph
                # of this same fake again: the gradient of the first step
                for q, g in zip(netG.parameters(), adversarial):
                    q.grad = g.clone()
            rec = netG(noise_amp * z_opt + rec_previous, rec_previous)
            (s.alpha * F.mse_loss(rec, real)).backward()
            optimizerG.step()
    return netG, netD, z_opt, noise_amp


def assert_same(ours: dict[str, torch.Tensor], official: dict[str, torch.Tensor]) -> None:
    """Equal to rounding, except the biases of convolutions followed by BatchNorm (and the
    running means that track them): BatchNorm subtracts them again, so their gradient is zero
    up to rounding, which Adam divides by its ε = 1e-8 into steps of up to ~1e-7."""
    assert list(ours) == list(official)
    for key in ours:
        loose = key.endswith(("conv.bias", "running_mean"))
        a, b = ours[key].double(), official[key].double()
        assert torch.allclose(a, b, rtol=0, atol=1e-6 if loose else 1e-12), (key, float((a - b).abs().max()))


@pytest.mark.parametrize("scale", [0, 1, 2])
def test_training_iterations_equal_the_official_loop(float64, scale):
    pyramid = make_pyramid()
    rng = torch.Generator().manual_seed(7)
    for _ in range(scale):  # the frozen coarser scales (their quality does not matter here)
        netG, _, z_opt, amp = train_scale(pyramid, generator=rng, iterations=1)
        pyramid.add_scale(netG, z_opt, amp)
    state = rng.get_state()
    ours = train_scale(pyramid, generator=rng, iterations=ITERATIONS)
    rng.set_state(state)
    official = official_train_scale(pyramid, rng, ITERATIONS)

    assert ours[0].head.conv.weight.dtype == torch.float64
    assert_same(ours[0].state_dict(), official[0].state_dict())
    # the critic's parameters (not its running statistics: they never influence an output, as
    # the critic always runs in training mode, and the penalty pass leaves them alone)
    assert_same(dict(ours[1].named_parameters()), dict(official[1].named_parameters()))
    assert torch.equal(ours[2], official[2])
    assert ours[3] == pytest.approx(official[3], rel=1e-12)
    # the comparison has teeth: the weights moved away from their initialisation
    initial = Generator(*SETTINGS.widths(scale)).to(memory_format=torch.channels_last)
    rng.set_state(state)
    initialise(initial, rng)
    assert float((ours[0].head.conv.weight - initial.head.conv.weight).detach().abs().max()) > 1e-4
