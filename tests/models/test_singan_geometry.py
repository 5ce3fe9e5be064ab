"""SinGAN's pyramid, widths, schedule and resize operators against the official formulas."""
from __future__ import annotations

import math

import numpy as np
import pytest

from restorebench.models.singan.geometry import pyramid_geometry
from restorebench.models.singan.settings import FAST, PAPER, TrainingSettings, resolve_settings


def test_paper_pyramid_of_a_256_image_has_10_scales():
    # num_scales = ceil(log_0.75(25/256)) + 1 = ceil(8.09) + 1 = 10
    # scale2stop = ceil(log_0.75(250/256)) = ceil(0.08) = 1  →  stop_scale = 9
    # scale1 = 250/256; finest 250×250; r = (25/250)^(1/9) = 0.1^(1/9)
    g = pyramid_geometry((256, 256), min_size=25, max_size=250, scale_factor=0.75)
    assert g.num_scales == 10
    assert g.scale1 == 250 / 256
    assert g.scale_factor == pytest.approx(0.1 ** (1 / 9), rel=1e-15)
    assert g.scale_factor == pytest.approx(0.774264, abs=1e-6)
    # ceil(250 · r^(9−n)); 250·r⁹ is 25.000000000000014 in floating point, hence 26
    sides = [26, 33, 42, 54, 70, 90, 117, 150, 194, 250]
    assert [s[0] for s in g.shapes] == sides
    assert all(h == w for h, w in g.shapes)


def test_pyramid_of_96x128_has_7_scales():
    # num_scales = ceil(log_0.75(25/96)) + 1 = ceil(4.68) + 1 = 6; scale2stop = 0 → stop_scale 6
    # r = (25/96)^(1/6) = 0.79912; sizes ceil(96·r^k) × ceil(128·r^k)
    g = pyramid_geometry((96, 128), min_size=25, max_size=250, scale_factor=0.75)
    assert g.num_scales == 7
    assert g.scale1 == 1
    assert g.scale_factor == pytest.approx((25 / 96) ** (1 / 6), rel=1e-12)
    assert g.shapes == ((25, 34), (32, 42), (40, 53), (49, 66), (62, 82), (77, 103), (96, 128))


def test_large_photo_is_shrunk_to_max_size_and_counts_scales_from_the_original():
    # 1536×2048: num_scales = ceil(log_0.75(25/1536)) + 1 = 16, scale2stop = ceil(log_0.75(250/2048)) = 8
    g = pyramid_geometry((1536, 2048), min_size=25, max_size=250, scale_factor=0.75)
    assert g.num_scales == 9
    assert g.top_shape == (math.ceil(1536 * 250 / 2048), 250)
    assert min(g.shapes[0]) in (25, 26)


def test_too_small_image_is_a_clear_error():
    with pytest.raises(ValueError, match="short side"):
        pyramid_geometry((20, 30), min_size=25, max_size=250, scale_factor=0.75)


def test_widths_double_every_four_scales_up_to_128():
    assert [PAPER.widths(n)[0] for n in range(10)] == [32, 32, 32, 32, 64, 64, 64, 64, 128, 128]
    assert PAPER.widths(12) == (128, 128)


def test_learning_rate_drops_where_the_official_schedule_does():
    # scheduler.step() at the end of each iteration, milestone 1600 whatever the iteration count
    assert PAPER.milestone == 1600
    assert PAPER.lr_factor(1599) == 1.0
    assert PAPER.lr_factor(1600) == pytest.approx(0.1)
    assert TrainingSettings(iterations=500).milestone == 1600
    # the fast profile's milestone scales with its iteration count (a documented choice)
    assert FAST.milestone == 192
    assert resolve_settings("fast", {"iterations": 100}).milestone == 80
    with pytest.raises(ValueError, match="exactly one"):
        TrainingSettings(lr_decay_at=0.8)


def test_the_snapshot_forward_runs_every_500_iterations_and_at_the_last():
    assert [i for i in range(2000) if PAPER.rec_pass_at(i)] == [0, 500, 1000, 1500, 1999]
    assert [i for i in range(240) if FAST.rec_pass_at(i)] == [0, 239]


def test_paper_profile_holds_the_official_defaults():
    assert (PAPER.max_size, PAPER.min_size, PAPER.scale_factor, PAPER.iterations) == (250, 25, 0.75, 2000)
    assert (PAPER.nfc, PAPER.min_nfc, PAPER.num_layer, PAPER.kernel_size, PAPER.padding) == (32, 32, 5, 3, 5)
    assert (PAPER.lr, PAPER.beta1, PAPER.d_steps, PAPER.g_steps) == (5e-4, 0.5, 3, 3)
    assert (PAPER.lambda_grad, PAPER.alpha, PAPER.noise_amp, PAPER.gamma) == (0.1, 10.0, 0.1, 0.1)


def test_overrides_replace_profile_values():
    s = resolve_settings("fast", {"iterations": 7, "nfc": None})
    assert s.iterations == 7 and s.nfc == FAST.nfc
    with pytest.raises(ValueError, match="scale_factor"):
        TrainingSettings(scale_factor=1.5)


def test_reals_pyramid_and_device_upsampler_follow_the_official_resize():
    import torch
    from restorebench.models.singan.imaging import Upsampler, crop, official_resize, to_levels, to_signed
    from restorebench.models.singan.training import reals_pyramid

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    g = pyramid_geometry((96, 128), min_size=25, max_size=250, scale_factor=0.75)
    reals = reals_pyramid(image, g, device=torch.device("cpu"))
    assert [tuple(r.shape[2:]) for r in reals] == list(g.shapes)
    # the finest scale of an image below max_size is the image itself (levels survive the round trip)
    assert np.array_equal(to_levels(reals[-1][0].permute(1, 2, 0).numpy()), image.astype(np.float64))
    # upsampling on the device = quantise, MATLAB imresize by 1/r, crop
    x = reals[2][0].permute(1, 2, 0).numpy()
    up = Upsampler.build(g.shapes[2], g.shapes[3], 1 / g.scale_factor, device=torch.device("cpu"))
    expected = crop(official_resize(x, 1 / g.scale_factor), g.shapes[3])
    got = up(reals[2])[0].permute(1, 2, 0).numpy()
    assert np.abs(got - expected).max() < 1e-5
    assert np.abs(to_signed(np.array([0.0, 255.0])) - np.array([-1.0, 1.0])).max() == 0


def test_networks_have_the_official_layout():
    import torch

    from restorebench.models.singan.networks import Discriminator, Generator

    g = Generator(32, 32)
    keys = list(g.state_dict())
    assert keys[:3] == ["head.conv.weight", "head.conv.bias", "head.norm.weight"]
    assert "body.block3.conv.weight" in keys and "tail.0.weight" in keys
    assert [m.out_channels for m in g.modules() if isinstance(m, torch.nn.Conv2d)] == [32, 32, 32, 32, 3]
    d = Discriminator(64, 64)
    assert d.tail.out_channels == 1 and d.head.conv.out_channels == 64
    # residual: output = tanh(…) + centre crop of the padded previous image
    g.eval()
    previous = torch.full((1, 3, 30, 30), 0.5)
    with torch.no_grad():
        out = g(torch.randn(1, 3, 30, 30), previous)
    assert out.shape == (1, 3, 20, 20)
    assert float((out - 0.5).abs().max()) < 1.0


def test_per_image_path_of_the_critic_is_the_same_function_with_the_same_second_derivative():
    import torch
    from restorebench.models.singan.networks import Discriminator, initialise
    from restorebench.models.singan.training import gradient_penalty

    torch.manual_seed(0)
    critic = Discriminator(8, 8).double().train()
    initialise(critic, torch.Generator().manual_seed(1))
    real, fake = torch.randn(1, 3, 30, 34, dtype=torch.float64), torch.randn(1, 3, 30, 34, dtype=torch.float64)
    assert torch.allclose(critic(real), critic.per_image(real), rtol=0, atol=1e-12)
    # a batch through the per-image path = separate training-mode passes of one image each
    both = critic.per_image(torch.cat([real, fake]))
    assert torch.allclose(both, torch.cat([critic(real), critic(fake)]), rtol=0, atol=1e-12)
    assert not torch.allclose(both, critic(torch.cat([real, fake])), rtol=0, atol=1e-6)  # unlike a batch of two

    def penalty_grads(twice: bool):
        critic.zero_grad(set_to_none=True)
        mixed = (0.3 * real + 0.7 * fake).requires_grad_(True)
        out = critic.per_image(mixed) if twice else critic(mixed)
        (g,) = torch.autograd.grad(out.sum(), mixed, create_graph=True)
        (0.1 * ((g.norm(2, dim=1) - 1) ** 2).mean()).backward()
        # (the tail's bias has no gradient: ∇ₓD does not depend on it)
        return [torch.zeros(()) if p.grad is None else p.grad.clone() for p in critic.parameters()]

    ours, native = penalty_grads(True), penalty_grads(False)
    assert sum(float(g.abs().sum()) for g in ours) > 0
    for a, b in zip(ours, native):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)
    assert float(gradient_penalty(critic, real, fake, weight=0.1, a=torch.tensor(0.3, dtype=torch.float64)).detach()) > 0
