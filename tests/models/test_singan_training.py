"""Our SinGAN training loop computes what the official loop computes.

The reference is ``singan_official.py`` beside this file: the official ``train`` /
``train_single_scale`` / ``draw_concat`` and networks transcribed line by line (per-step
backward passes, native BatchNorm everywhere, the generator steps through the graph of the last
critic fake with PyTorch ≤ 1.4's in-place Adam, the snapshot forward pass, ``MultiStepLR``
stepped at the end of the iteration). It trains a 4-scale pyramid in float64 from a seeded
global generator. Each scale of ours then starts where the official one started — the same
frozen coarser scales, the same warm-start weights, a ``torch.Generator`` in the state the
global one had — and must end with the same weights, running statistics, reconstruction noise
and noise amplitude. (Scale by scale, because chaining scales is not reproducible to rounding by
any two implementations: the conv biases in front of BatchNorm have a zero gradient up to
rounding, Adam turns that rounding into steps of up to ~1e-7, and in the frozen generators' eval mode
these shift outputs enough to move the official quantisation to uint8 levels by one
level now and then.) Few iterations reach the schedule's corners because the milestone and the
snapshot period are set small (3 and 2 instead of 1600 and 500) in both.
"""
from __future__ import annotations

import pytest
import torch

import singan_official as official  # tests/models/singan_official.py

from restorebench.models.singan.geometry import pyramid_geometry
from restorebench.models.singan.networks import Generator, initialise
from restorebench.models.singan.pyramid import Pyramid
from restorebench.models.singan.settings import PAPER, TrainingSettings
from restorebench.models.singan.training import _WarmStart, reals_pyramid, train_scale

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# iterations 0 … 3: the snapshot pass after 0, 2 and 3 (the last); the decayed rate at 3 only
SETTINGS = TrainingSettings(max_size=40, min_size=20, nfc=8, min_nfc=8, iterations=4, lr_milestone=3, rec_pass_every=2)
SEED = 7


@pytest.fixture
def float64():
    with official.default_dtype(torch.float64):
        yield


def training_image():
    from skimage import data

    from restorebench.metrics.matlab import imresize

    return imresize(data.astronaut()[100:400, 100:400], output_shape=(30, 36))


def geometry_of(image, settings: TrainingSettings = SETTINGS):
    return pyramid_geometry(image.shape[:2], min_size=settings.min_size, max_size=settings.max_size, scale_factor=settings.scale_factor)


def official_run(image, settings: TrainingSettings, seed: int = SEED):
    geometry = geometry_of(image, settings)
    reals = reals_pyramid(image, geometry, device=torch.device("cpu"))
    opt = official.options_from(settings, scale_factor=geometry.scale_factor)
    Gs, Zs, NoiseAmp, record = [], [], [], []
    torch.manual_seed(seed)
    official.train(opt, reals, Gs, Zs, NoiseAmp, record)
    return geometry, reals, Gs, Zs, [float(a) for a in NoiseAmp], record


def our_scale(settings, geometry, reals, Gs, Zs, amps, record, scale):
    """Our ``train_scale`` at ``scale``, started where the official run started it."""
    pyramid = Pyramid(settings=settings, geometry=geometry, reals=reals)
    for n in range(scale):
        pyramid.add_scale(Gs[n], Zs[n], amps[n])
    rng = torch.Generator()
    rng.set_state(record[scale]["rng_state"])
    start = record[scale]["warm"]
    warm = None if start is None else _WarmStart(start[0], start[1], settings.widths(scale - 1))
    return train_scale(pyramid, generator=rng, warm=warm)


@pytest.fixture(scope="module")
def reference():
    with official.default_dtype(torch.float64):
        image = training_image()
        return image, official_run(image, SETTINGS)


@pytest.mark.parametrize("scale", [0, 1, 2, 3])
def test_each_scale_trains_as_the_official_loop(float64, reference, scale):
    _, (geometry, reals, Gs, Zs, amps, record) = reference
    assert len(Gs) == 4 and reals[0].dtype == torch.float64
    netG, netD, z_opt, noise_amp = our_scale(SETTINGS, geometry, reals, Gs, Zs, amps, record, scale)

    official.assert_same_state(netG.state_dict(), Gs[scale].state_dict())
    # the critic's parameters (not its running statistics: they never influence an output, as
    # the critic always runs in training mode)
    official.assert_same_state(dict(netD.named_parameters()), dict(record[scale]["critic"].named_parameters()), critic=True)
    assert torch.equal(z_opt, Zs[scale])
    assert noise_amp == pytest.approx(amps[scale], rel=1e-12)
    # the comparison has teeth: training moved the weights, and the warm start is exercised
    initial = Generator(*SETTINGS.widths(scale)).double()
    rng = torch.Generator()
    rng.set_state(record[scale]["rng_state"])
    initialise(initial, rng)
    assert float((netG.head.conv.weight - initial.head.conv.weight).detach().abs().max()) > 1e-4
    assert (record[scale]["warm"] is None) == (scale == 0)
    # per iteration 3 critic fakes and 3 reconstructions, 3 snapshot passes, carried over by the
    # warm start from scale to scale
    assert int(netG.head.norm.num_batches_tracked) == 27 * (scale + 1)


@pytest.mark.parametrize("change", [{"lr_milestone": 2}, {"rec_pass_every": 3}, {"iterations": 3}])
def test_an_early_decay_or_a_missing_snapshot_pass_is_caught(float64, reference, change):
    _, (geometry, reals, Gs, Zs, amps, record) = reference
    changed = TrainingSettings(**{**SETTINGS.as_dict(), **change})
    netG, _, _, _ = our_scale(changed, geometry, reals, Gs, Zs, amps, record, 1)
    with pytest.raises(AssertionError):
        official.assert_same_state(netG.state_dict(), Gs[1].state_dict())


def test_learning_rate_follows_multisteplr_stepped_after_each_iteration():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=PAPER.lr)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[1600], gamma=PAPER.gamma)
    for iteration in range(PAPER.iterations):
        assert PAPER.lr * PAPER.lr_factor(iteration) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-12), iteration
        optimizer.step()
        scheduler.step()
