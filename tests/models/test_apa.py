"""APA (StyleGAN2-ADA + adaptive pseudo augmentation): official layouts and parameter counts, the
reference ops against an independent transcription, the augmentation pipeline, APA's pseudo
augmentation and p heuristic, what a few training steps must do, sampling as generate.py does
it, the set cache, resuming a killed training, exported checkpoints and bad input.

The manifest (models/apa/manifest.json) was written from the official definitions
(EndlessSora/DeceiveD training/networks.py). Trainings here use a 32-px network with a few
channels so that each takes seconds.
"""
from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pytest
import scipy.signal as scipy_signal
import torch

from restorebench.metrics.errors import InvalidImageError, RestoreBenchError, WeightsUnavailableError
from restorebench.models import apa, setlevel
from restorebench.models.apa import APA
from restorebench.models.apa.augment import AugmentPipe
from restorebench.models.apa.ops import setup_filter, upfirdn2d, upsample2d
from restorebench.models.apa.training import FAST, InfiniteSampler, SamplingModel, Trainer, configure, latent
from restorebench.models.apa.training import build_discriminator, build_generator
from restorebench.models.weights import layout_problems, parameter_count, read_manifest

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MANIFEST = read_manifest(apa.MANIFEST)["variants"]
CPU = torch.device("cpu")
TINY = dict(resolution=32, channel_base=256, channel_max=16, z_dim=16, w_dim=16, batch=4, mbstd=4, gpus=1)
TINY_SETTINGS = replace(FAST, **TINY)


def tiny_set(n: int = 3, size: int = 24, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, size)
    return [np.clip(ramp[:, None, None] * rng.uniform(0.3, 1, 3) + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
            for _ in range(n)]


def tiny_method(**kwargs) -> APA:
    method = APA(profile="fast", samples_per_set=4, **kwargs)
    method.settings = replace(method.settings, **TINY)
    return method


@pytest.mark.parametrize("variant,cfg,res,gpus", [("stylegan2-1024", "stylegan2", 1024, 4), ("auto-256", "auto", 256, 1),
                                                  ("paper256", "paper256", 256, 1)])
def test_layout_and_parameter_counts_are_the_official_ones(variant, cfg, res, gpus):
    settings = configure(cfg, res, gpus=gpus)
    with torch.device("meta"):
        g, d = build_generator(settings), build_discriminator(settings)
    for net, part in ((g, "generator"), (d, "discriminator")):
        expected = MANIFEST[f"{part}-{variant}"]
        assert list(net.state_dict()) == list(expected["state_dict"])
        assert layout_problems(net.state_dict(), expected["state_dict"]) == []
        assert parameter_count(net) == expected["parameters"]
    official = {"stylegan2-1024": 30_370_060, "auto-256": 23_191_522, "paper256": 24_767_458}
    assert parameter_count(g) == official[variant]
    rows = {r["variant"]: r["parameters"] for r in APA.networks() if r["network"] == "generator"}
    assert rows == {"stylegan2 1024 px": 30_370_060, "auto 256 px": 23_191_522, "paper256 256 px": 24_767_458}


def test_configurations_are_the_official_ones():
    study = configure("stylegan2", 1024, gpus=4)
    assert (study.batch, study.batch_gpu, study.mbstd, study.gamma, study.lr, study.ema_kimg, study.mapping_layers) == (32, 8, 4, 10, 0.002, 10, 8)
    assert study.iterations == 781_250  # 25,000 kimg / 32
    auto = configure("auto", 256, gpus=1)
    assert (auto.batch, auto.mbstd, auto.channel_base, auto.lr, auto.ema_kimg, auto.ema_rampup) == (16, 4, 16384, 0.0025, 5.0, 0.05)
    assert auto.gamma == pytest.approx(0.0002 * 256 ** 2 / 16)
    paper = APA(profile="paper").settings
    assert paper == study and paper.with_dataaug and paper.mirror and paper.aug == "apa" and paper.target == 0.6
    small = APA(profile="fast", resolution=64).settings  # the profile at another size
    assert (small.resolution, small.channel_base, small.with_dataaug) == (64, 1024, False)
    assert small.gamma == pytest.approx(0.0002 * 64 ** 2 / 32)  # auto's γ for 64 px (its batch there: 32)
    assert APA(profile="fast", cfg="paper256").settings == configure("paper256", 256, gpus=1)


def test_upfirdn2d_equals_an_independent_transcription():
    """Zero insertion, zero padding (or cropping), true 2-D convolution, decimation."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 1, 7, 9))
    f = rng.normal(size=(4, 4))
    for up, down, pad in ((2, 1, (2, 1, 2, 1)), (1, 2, (1, 1, 1, 1)), (1, 1, (-1, 2, 0, 3))):
        ours = upfirdn2d(torch.tensor(x, dtype=torch.float64), torch.tensor(f, dtype=torch.float32), up=up, down=down, padding=pad)
        z = np.zeros((7 * up, 9 * up))
        z[::up, ::up] = x[0, 0]
        px0, px1, py0, py1 = pad
        z = np.pad(z, ((max(py0, 0), max(py1, 0)), (max(px0, 0), max(px1, 0))))
        z = z[max(-py0, 0): z.shape[0] - max(-py1, 0), max(-px0, 0): z.shape[1] - max(-px1, 0)]
        expected = scipy_signal.convolve2d(z, f.astype(np.float32).astype(np.float64), mode="valid")[::down, ::down]
        np.testing.assert_allclose(ours[0, 0].numpy(), expected, rtol=1e-6, atol=1e-6)
    flat = upsample2d(torch.ones(1, 1, 8, 8), setup_filter([1, 3, 3, 1]))
    assert flat.shape == (1, 1, 16, 16) and torch.allclose(flat[..., 2:-2, 2:-2], torch.ones(1))  # DC kept


def smooth_images(n: int = 8, size: int = 32) -> torch.Tensor:
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    return torch.tensor(np.stack([gaussian_filter(rng.normal(size=(3, size, size)), (0, 2, 2), mode="wrap") for _ in range(n)]),
                        dtype=torch.float32)


def test_augment_pipe_transforms_do_what_they_say():
    """x-flip with p = 1 mirrors about half of the images (exactly up to the band limit of the
    pipeline's wavelet resampling, hence smooth test images); brightness adds one offset per
    image; p = 0 leaves every image as it is."""
    x = smooth_images()
    flip = AugmentPipe(xflip=1)
    flip.p.fill_(1.0)
    torch.manual_seed(0)
    out = flip(x)
    scale = float(x.abs().max())
    flipped = [float((o - xi.flip(2)).abs().max()) < 0.06 * scale for o, xi in zip(out, x)]
    kept = [float((o - xi).abs().max()) < 1e-4 for o, xi in zip(out, x)]
    assert all(f != k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)
    bright = AugmentPipe(brightness=1)
    bright.p.fill_(1.0)
    shift = bright(x) - x
    assert torch.allclose(shift, shift.mean(dim=[1, 2, 3], keepdim=True).expand_as(shift), atol=1e-5)
    assert float(shift.abs().max()) > 0.01
    every = AugmentPipe(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1, brightness=1, contrast=1,
                        lumaflip=1, hue=1, saturation=1)
    every.p.fill_(0.0)
    white = torch.randn(4, 3, 16, 16)
    assert torch.allclose(every(white), white, atol=1e-4)


def test_pseudo_augmentation_replaces_reals_with_probability_p():
    trainer = Trainer(tiny_set(), replace(TINY_SETTINGS, aug="apa"), seed=0, device=CPU)
    real, fake = torch.zeros(64, 3, 4, 4), torch.ones(64, 3, 4, 4)
    trainer.loss.pseudo_data = fake
    for p, expected in ((0.0, 0.0), (1.0, 1.0), (0.5, 0.5)):
        trainer.augment.p.fill_(p)
        torch.manual_seed(0)
        mixed = trainer.loss.pseudo_augment(real)
        share = float(mixed.mean())
        assert share == pytest.approx(expected, abs=0.15)
        assert set(mixed.flatten(1).mean(1).tolist()) <= {0.0, 1.0}  # whole images, never blends


def test_p_follows_the_overfitting_heuristic():
    trainer = Trainer(tiny_set(), TINY_SETTINGS, seed=0, device=CPU)
    step = 4 * 4 / (500 * 1000)  # batch · interval / (apa_kimg · 1000)
    trainer.adjust_p(0.9)
    assert trainer.p == pytest.approx(step)
    trainer.adjust_p(0.9)
    assert trainer.p == pytest.approx(2 * step)
    trainer.adjust_p(0.1)
    trainer.adjust_p(0.1)
    trainer.adjust_p(0.1)
    assert trainer.p == 0.0


def test_discriminator_steps_on_a_fixed_generator_separate_real_from_fake():
    """For a GAN, "losses in the expected direction": with G fixed, D's updates lower its
    logistic loss, so its logits for the real images rise above those for the fakes."""
    trainer = Trainer(tiny_set(), replace(TINY_SETTINGS, aug="noaug", with_dataaug=False), seed=0, device=CPU)
    real = trainer.real_batch()
    z = torch.randn(4, 16, generator=torch.Generator().manual_seed(0))
    dmain = trainer.phases[2]

    def gap() -> float:
        with torch.no_grad():
            fake, _ = trainer.loss.run_g(z)
            return float(trainer.d(real).mean() - trainer.d(fake).mean())

    torch.manual_seed(0)
    before, losses = gap(), []
    for _ in range(8):
        dmain.opt.zero_grad(set_to_none=True)
        trainer.d.requires_grad_(True)
        torch.manual_seed(1)
        trainer.loss.accumulate("Dmain", real, z, gain=1)
        trainer.d.requires_grad_(False)
        dmain.opt.step()
        losses.append(trainer.loss.stats["d"])
    torch.manual_seed(0)
    assert gap() > before + 0.1
    assert losses[-1] < losses[0]


def test_sampling_is_generate_py_and_deterministic(tmp_path):
    method = tiny_method(kimg=0.008)  # 2 iterations
    method.prepare_set(tiny_set(), cache_dir=tmp_path, seed=0)
    model = method._model
    assert np.array_equal(method.sample(3, seed=0), model.generate_seed(1003))  # seed1003.png of the study's naming
    assert np.array_equal(method.sample(0, seed=1), model.generate_seed(1004))  # next case seed: next block of seeds
    with torch.no_grad():
        img = model.g(latent(1003, 16).float(), truncation_psi=1, noise_mode="const")
    expected = (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8)[0].numpy()
    assert np.array_equal(method.sample(3, seed=0), expected)
    assert method.sample(3, seed=0).shape == (32, 32, 3) and not np.array_equal(method.sample(2, seed=0), expected)


def test_second_prepare_reuses_the_cache_without_training(tmp_path):
    images = tiny_set()
    first = tiny_method(kimg=0.008)
    info = first.prepare_set(images, cache_dir=tmp_path, seed=0)
    trained = setlevel.COUNTS["trained"]
    second = tiny_method(kimg=0.008)
    again = second.prepare_set(images, cache_dir=tmp_path, seed=0, progress=lambda p: pytest.fail("trained again"))
    assert (info.source, again.source, again.key) == ("trained", "loaded", info.key)
    assert setlevel.COUNTS["trained"] == trained
    assert np.array_equal(first.sample(1, seed=0), second.sample(1, seed=0))


class Killed(Exception):
    pass


def test_killed_training_resumes_from_its_snapshot_and_ends_as_an_uninterrupted_one(tmp_path):
    images = tiny_set()

    def kill_at_3(p):
        if p.iteration == 3:
            raise Killed

    with pytest.raises(Killed):
        tiny_method(kimg=0.02).prepare_set(images, cache_dir=tmp_path / "a", seed=0, progress=kill_at_3)  # 5 iterations
    reports = []
    resumed = tiny_method(kimg=0.02)
    info = resumed.prepare_set(images, cache_dir=tmp_path / "a", seed=0, progress=reports.append)
    assert (info.source, info.resumed_from) == ("resumed", 3)
    assert [p.iteration for p in reports] == [4, 5] and {"g", "d", "p"} <= set(reports[-1].losses)
    straight = tiny_method(kimg=0.02)
    straight.prepare_set(images, cache_dir=tmp_path / "b", seed=0)
    a = torch.load(info.folder / setlevel.MODEL_FILE, weights_only=True)
    b = torch.load(straight.prepared.folder / setlevel.MODEL_FILE, weights_only=True)
    for net in ("G", "D", "G_ema"):
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net])
    assert float(a["augment_p"]) == float(b["augment_p"])


def test_exported_snapshot_samples_without_training_and_pickles_are_refused(tmp_path, weights_dir):
    trainer = Trainer(tiny_set(), TINY_SETTINGS, seed=0, device=CPU)
    trainer.step()
    exported = {"G": trainer.g.state_dict(), "D": trainer.d.state_dict(), "G_ema": trainer.g_ema.state_dict()}
    path = tmp_path / "network-snapshot-000000.pt"
    torch.save(exported, path)
    method = APA(checkpoint=str(path), samples_per_set=4)
    assert method.prepare_set([], seed=0).source == "checkpoint"
    reference = SamplingModel(trainer.g_ema, truncation_psi=1, samples_per_set=4, device=CPU)
    assert np.array_equal(method.sample(2, seed=0), reference.sample(2, 0))
    bare = tmp_path / "g_ema.pt"
    torch.save(trainer.g_ema.state_dict(), bare)  # a bare generator state dict is accepted too
    assert np.array_equal(_sample(bare, 0), reference.sample(0, 0))
    pkl = tmp_path / "network-snapshot-000400.pkl"
    with open(pkl, "wb") as handle:
        pickle.dump({"G_ema": Killed()}, handle)
    with pytest.raises(RestoreBenchError, match="needs code to be unpickled.*legacy.load_network_pkl"):
        APA(checkpoint=str(pkl)).prepare_set([], seed=0)
    with pytest.raises(WeightsUnavailableError, match="afhqcat5k256x256-apa.pt"):
        APA(checkpoint="apa-afhqcat5k256x256").prepare_set([], seed=0)
    wrong = tmp_path / "wrong.pt"
    torch.save({"generator": {}}, wrong)
    with pytest.raises(RestoreBenchError, match="not an exported APA"):
        APA(checkpoint=str(wrong)).prepare_set([], seed=0)


def _sample(path, index):
    method = APA(checkpoint=str(path))
    method.prepare_set([], seed=0)
    return method.sample(index, seed=0)


def test_small_sets_mixed_sizes_and_grayscale():
    sampler = InfiniteSampler(2, torch.Generator().manual_seed(0))
    assert sorted(set(sampler.take(4).tolist())) == [0, 1]  # a set smaller than the batch is cycled through
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (20, 30, 3), dtype=np.uint8), rng.integers(0, 256, (50, 40), dtype=np.uint8)]
    trainer = Trainer(setlevel.check_set(images, method="apa"), TINY_SETTINGS, seed=0, device=CPU)
    assert tuple(trainer.data.shape) == (4, 3, 32, 32)  # resized (Lanczos), mirrored copies added
    assert torch.equal(trainer.data[2], trainer.data[0].flip(2))
    assert np.isfinite(list(trainer.step().values())).all()
    single = Trainer(tiny_set(n=1), TINY_SETTINGS, seed=0, device=CPU)  # 1 image (2 with its mirror), batch 4
    assert np.isfinite(list(single.step().values())).all()
    with pytest.raises(InvalidImageError, match="image 0 of the set"):
        tiny_method().prepare_set([np.zeros((8, 8, 3), np.float64)], seed=0)


def test_parameters_are_validated():
    with pytest.raises(RestoreBenchError, match="multiple of the minibatch-std group"):
        APA(batch=6)
    with pytest.raises(RestoreBenchError, match="power of two"):
        APA(resolution=100)
    with pytest.raises(RestoreBenchError, match="with_dataaug cannot"):
        APA(aug="noaug", with_dataaug=True)
    assert APA(checkpoint="apa-ffhq5k256x256").weight_keys() == ("apa-ffhq5k256x256",)
    assert APA().weight_keys() == () and "apa-ffhq5k1024x1024" in APA.weights


def test_registered_as_a_set_level_method():
    from restorebench import models

    cls = models.method_class("apa")
    assert cls.set_level and cls.shared_preparation == "set" and cls.tasks == {"sr"} and "apa" in models.available()
    method = cls()
    # the training is shared by every sample of a set: the sample count does not change its key
    assert method.preparation_key(training_sha256="x", seed=0) == cls(samples_per_set=7).preparation_key(training_sha256="x", seed=0)
    assert method.preparation_key(training_sha256="x", seed=0) != method.preparation_key(training_sha256="y", seed=0)

