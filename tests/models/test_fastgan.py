"""FastGAN: official layouts and parameter counts, what a few training steps must do, sampling,
the set cache, resuming a killed training, checkpoints and bad input.

The manifest (models/fastgan/manifest.json) was written from the official definitions
(odegeasslbc/FastGAN-pytorch models.py). Trainings here use the official 256-px topology at a
tiny width so that each takes seconds.
"""
from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pytest

import torch

from restorebench.metrics.errors import InvalidImageError, RestoreBenchError, WeightsUnavailableError
from restorebench.models import fastgan, setlevel
from restorebench.models.fastgan import FastGAN
from restorebench.models.fastgan.augment import diff_augment
from restorebench.models.fastgan.network import Discriminator, Generator
from restorebench.models.fastgan.training import FAST, Sampler, Trainer
from restorebench.models.weights import layout_problems, parameter_count, read_manifest

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MANIFEST = read_manifest(fastgan.MANIFEST)["variants"]
OFFICIAL = {256: (29_127_846, 11_526_160), 512: (29_174_392, 11_526_496), 1024: (29_176_512, 11_528_192)}
TINY = dict(ngf=2, ndf=4, decoder_width=4, batch=2)
CPU = torch.device("cpu")


def tiny_set(n: int = 3, size: int = 48, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, size, dtype=np.float64)
    return [np.clip(base[None, :, None] * rng.uniform(0.3, 1.0, 3) + rng.normal(0, 20, (size, size, 3)), 0, 255).astype(np.uint8)
            for _ in range(n)]


def tiny_method(**kwargs) -> FastGAN:
    return FastGAN(profile="fast", **TINY, samples_per_set=4, sample_batch=2, **kwargs)


@pytest.mark.parametrize("res", [256, 512, 1024])
def test_layout_and_parameter_counts_are_the_official_ones(res):
    with torch.device("meta"):
        g, d = Generator(ngf=64, nz=256, im_size=res), Discriminator(ndf=64, im_size=res)
    for net, name in ((g, "generator"), (d, "discriminator")):
        expected = MANIFEST[f"{name}-{res}"]
        assert list(net.state_dict()) == list(expected["state_dict"])  # same keys, same order
        assert layout_problems(net.state_dict(), expected["state_dict"]) == []
        assert parameter_count(net) == expected["parameters"]
    assert (parameter_count(g), parameter_count(d)) == OFFICIAL[res]
    rows = {(r["variant"], r["network"]): r["parameters"] for r in FastGAN.networks()}
    assert rows == {(f"{res} px", part): count for res, pair in OFFICIAL.items() for part, count in zip(("generator", "discriminator"), pair)}


def test_discriminator_steps_on_a_fixed_generator_separate_real_from_fake():
    """What "expected direction" means for a GAN: with the generator held fixed, discriminator
    updates minimise the discriminator's loss, so the mean logit of real images rises above that of
    the (fixed) fakes, and its reconstruction of the real images improves."""
    trainer = Trainer(tiny_set(), replace(FAST, **TINY), seed=0, device=CPU)
    with torch.no_grad():
        fakes = [f.detach() for f in trainer.generate(2)]
    real = trainer.real_batch()
    first = trainer.d_step(real, fakes)
    for _ in range(6):
        last = trainer.d_step(real, fakes)
    gap_before = first["logit_real"] - first["logit_fake"]
    gap_after = last["logit_real"] - last["logit_fake"]
    assert gap_after > gap_before + 0.5
    assert last["d_real"] + last["d_fake"] < first["d_real"] + first["d_fake"]
    assert last["rec"] < first["rec"]


def test_generator_step_raises_the_discriminators_score_of_its_images():
    """The generator step is gradient ascent on D's mean logit of its images: measured on the
    same latents and the same discriminator state, the score rises."""
    trainer = Trainer(tiny_set(), replace(FAST, **TINY), seed=1, device=CPU)
    d_state = {k: v.clone() for k, v in trainer.d.state_dict().items()}
    draws = trainer.generator.get_state()
    scores = []
    for _ in range(4):
        trainer.generator.set_state(draws)  # the same latents and noise every time
        fakes = trainer.generate(2)
        trainer.d.load_state_dict(d_state)
        with torch.no_grad():
            scores.append(float(trainer.d([f.detach() for f in fakes]).mean()))
        trainer.d.load_state_dict(d_state)
        trainer.g_step(fakes)
    assert scores[-1] > scores[0]


def test_diff_augment_translation_and_cutout_are_the_official_transforms():
    x = torch.arange(2 * 3 * 16 * 16, dtype=torch.float32).view(2, 3, 16, 16) + 1
    g = torch.Generator().manual_seed(5)
    shifted = diff_augment(x, "translation", g)
    g = torch.Generator().manual_seed(5)
    ty, tx = (torch.randint(-2, 3, (2, 1, 1), generator=g) for _ in range(2))
    for b in range(2):
        dy, dx = int(ty[b]), int(tx[b])
        for i in range(16):
            for j in range(16):
                si, sj = i + dy, j + dx  # output pixel (i, j) shows input (i + dy, j + dx), or 0 outside
                inside = 0 <= si < 16 and 0 <= sj < 16
                assert torch.equal(shifted[b, :, i, j], x[b, :, si, sj] if inside else torch.zeros(3))
    cut = diff_augment(x, "cutout", torch.Generator().manual_seed(1))
    zeros = (cut == 0).all(dim=1)
    for b in range(2):
        rows, cols = zeros[b].nonzero(as_tuple=True)
        assert 0 < len(rows) <= 64  # a square of half the side (8×8), clipped at the border
        assert rows.max() - rows.min() < 8 and cols.max() - cols.min() < 8
    colour = diff_augment(x, "color", torch.Generator().manual_seed(2))
    assert colour.shape == x.shape and not torch.equal(colour, x)


def test_sampling_is_deterministic_and_independent_of_order(tmp_path):
    method = tiny_method(iterations=2)
    method.prepare_set(tiny_set(), cache_dir=tmp_path, seed=0)
    third = method.sample(3, seed=0)
    assert third.shape == (256, 256, 3) and third.dtype == np.uint8
    others = [method.sample(k, seed=0) for k in (0, 1, 2)]
    assert np.array_equal(method.sample(3, seed=0), third)  # drawn after others: same image
    assert not np.array_equal(others[0], others[1])
    assert not np.array_equal(method.sample(3, seed=1), third)


def test_second_prepare_reuses_the_cache_without_training(tmp_path):
    images = tiny_set()
    first = tiny_method(iterations=2)
    info = first.prepare_set(images, cache_dir=tmp_path, seed=0)
    assert info.source == "trained" and (info.folder / setlevel.MODEL_FILE).is_file()
    before = dict(setlevel.COUNTS)
    second = tiny_method(iterations=2)
    again = second.prepare_set(images, cache_dir=tmp_path, seed=0, progress=lambda p: pytest.fail("trained again"))
    assert again.source == "loaded" and again.key == info.key
    assert setlevel.COUNTS["trained"] == before["trained"] and setlevel.COUNTS["loaded"] == before["loaded"] + 1
    assert np.array_equal(first.sample(1, seed=0), second.sample(1, seed=0))
    other_seed = tiny_method(iterations=2).cache_key(setlevel.check_set(images, method="fastgan"), seed=1)
    assert other_seed != info.key


class Killed(Exception):
    pass


def test_killed_training_resumes_from_its_snapshot_and_ends_as_an_uninterrupted_one(tmp_path):
    images = tiny_set()
    reports = []

    def kill_at_3(p):
        reports.append(p)
        if p.iteration == 3:
            raise Killed

    killed = tiny_method(iterations=5)
    with pytest.raises(Killed):
        killed.prepare_set(images, cache_dir=tmp_path / "a", seed=0, progress=kill_at_3)
    assert [p.iteration for p in reports] == [1, 2, 3] and reports[-1].eta is not None
    assert set(reports[-1].losses) >= {"d_real", "d_fake", "rec", "g"}
    resumed_reports = []
    resumed = tiny_method(iterations=5)
    info = resumed.prepare_set(images, cache_dir=tmp_path / "a", seed=0, progress=resumed_reports.append)
    assert info.source == "resumed" and info.resumed_from == 3
    assert [p.iteration for p in resumed_reports] == [4, 5] and resumed_reports[0].resumed_from == 3
    assert not (info.folder / setlevel.SNAPSHOT_FILE).exists()
    straight = tiny_method(iterations=5)
    straight.prepare_set(images, cache_dir=tmp_path / "b", seed=0)
    assert np.array_equal(resumed.sample(0, seed=0), straight.sample(0, seed=0))
    a = torch.load(info.folder / setlevel.MODEL_FILE, weights_only=True)["g"]
    b = torch.load(straight.prepared.folder / setlevel.MODEL_FILE, weights_only=True)["g"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_official_checkpoint_samples_without_training(tmp_path):
    """An ``all_<iter>.pth`` as the official train.py writes it (DataParallel prefix, g_ema list)."""
    trainer = Trainer(tiny_set(), replace(FAST, **TINY), seed=0, device=CPU)
    trainer.step()
    state = trainer.state()
    official = {"g": {f"module.{k}": v for k, v in state["g"].items()}, "d": {f"module.{k}": v for k, v in state["d"].items()},
                "g_ema": state["g_ema"], "opt_g": state["opt_g"], "opt_d": state["opt_d"]}
    path = tmp_path / "all_50000.pth"
    torch.save(official, path)
    method = FastGAN(checkpoint=str(path), sample_batch=2)
    assert method.prepare_set([], seed=0).source == "checkpoint"
    image = method.sample(0, seed=0)
    final = tmp_path / "50000.pth"  # <iter>.pth: 'g' already holds the EMA parameters
    torch.save(trainer.final_state(), final)
    same = FastGAN(checkpoint=str(final), sample_batch=2)
    same.prepare_set([], seed=0)
    assert np.array_equal(same.sample(0, seed=0), image)


def test_checkpoints_that_need_code_are_refused(tmp_path):
    path = tmp_path / "network.pth"
    with open(path, "wb") as handle:
        pickle.dump({"g": Killed()}, handle)
    method = FastGAN(checkpoint=str(path))
    with pytest.raises(RestoreBenchError, match="needs code to be unpickled"):
        method.prepare_set([], seed=0)
    bad = tmp_path / "other.pth"
    torch.save({"generator": {}}, bad)
    with pytest.raises(RestoreBenchError, match="not a FastGAN checkpoint"):
        FastGAN(checkpoint=str(bad)).prepare_set([], seed=0)


def test_lpips_loads_the_catalogue_files_and_a_missing_file_is_named(weights_dir, monkeypatch):
    from torchvision.models.vgg import cfgs, make_layers

    from restorebench.metrics import weights
    from restorebench.models.fastgan.perceptual import load_lpips

    with pytest.raises(WeightsUnavailableError, match="vgg16-397923af.pth"):
        Trainer(tiny_set(), replace(FAST, **TINY, reconstruction="lpips"), seed=0, device=CPU)
    torch.manual_seed(0)
    features = make_layers(cfgs["D"]).state_dict()  # torchvision's vgg16 keys 'features.*' (classifier left out)
    torch.save({f"features.{k}": v for k, v in features.items()}, weights_dir / "vgg16-397923af.pth")
    (weights_dir / "lpips" / "v0.1").mkdir(parents=True)
    lin = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 128, 256, 512, 512))}
    torch.save(lin, weights_dir / "lpips" / "v0.1" / "vgg.pth")
    with pytest.raises(WeightsUnavailableError, match="not the official one"):
        load_lpips(CPU)  # random stand-ins fail the official hashes
    (weights_dir / "vgg16-397923af.pth").rename(weights_dir / "vgg16.pth")
    monkeypatch.setitem(weights.CATALOGUE, fastgan.VGG_KEY, replace(weights.CATALOGUE[fastgan.VGG_KEY], filename="vgg16.pth"))
    monkeypatch.setitem(weights.CATALOGUE, fastgan.LIN_KEY, replace(weights.CATALOGUE[fastgan.LIN_KEY], sha256=None, size=None))
    net = load_lpips(CPU)
    x, y = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    assert net(x, x).abs().max() < 1e-6
    assert (net(x, y) > 0).all() and net(x, y).shape == (2, 1, 1, 1)
    trainer = Trainer(tiny_set(), replace(FAST, **TINY, reconstruction="lpips"), seed=0, device=CPU)
    assert np.isfinite(trainer.step()["rec"])


def test_set_smaller_than_the_batch_cycles_through_the_set():
    sampler = Sampler(3, torch.Generator().manual_seed(0))
    batch = sampler.take(4)
    assert sorted(set(batch.tolist())) == [0, 1, 2]  # one epoch, then the next begins
    trainer = Trainer(tiny_set(n=1), replace(FAST, **TINY), seed=0, device=CPU)
    losses = trainer.step()
    assert np.isfinite(list(losses.values())).all()


def test_mixed_sizes_are_resized_and_grayscale_is_converted():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40, 60, 3), dtype=np.uint8), rng.integers(0, 256, (300, 280), dtype=np.uint8)]
    converted = setlevel.check_set(images, method="fastgan")
    assert converted[1].shape == (300, 280, 3) and np.array_equal(converted[1][..., 0], converted[1][..., 2])
    trainer = Trainer(converted, replace(FAST, **TINY), seed=0, device=CPU)
    assert tuple(trainer.data.shape) == (2, 3, 256, 256)
    with pytest.raises(setlevel.SetInputError, match="no images"):
        tiny_method(iterations=1).prepare_set([], seed=0)
    with pytest.raises(InvalidImageError, match="image 1 of the set"):
        tiny_method(iterations=1).prepare_set([images[0], np.zeros((8, 8, 3), np.float32)], seed=0)


def test_parameters_are_validated():
    with pytest.raises(RestoreBenchError, match="ngf must be"):
        FastGAN(resolution=1024, ngf=4)
    with pytest.raises(RestoreBenchError, match="'profil' is not a parameter of method 'fastgan'"):
        FastGAN(profil="fast")
    with pytest.raises(RestoreBenchError, match="policy"):
        FastGAN(policy="color,zoom")
    paper = FastGAN(profile="paper")
    assert paper.settings.resolution == 1024 and paper.settings.iterations == 50_000 and paper.settings.batch == 8
    assert paper.weight_keys() == (fastgan.VGG_KEY, fastgan.LIN_KEY) and FastGAN(profile="fast").weight_keys() == ()


def test_registered_as_a_set_level_method():
    from restorebench import models

    cls = models.method_class("fastgan")
    assert cls.set_level and cls.shared_preparation == "set" and cls.tasks == {"sr"} and "fastgan" in models.available()
    method = cls()
    # the training is shared by every sample of a set: the sample count does not change its key
    assert method.preparation_key(training_sha256="x", seed=0) == cls(samples_per_set=7).preparation_key(training_sha256="x", seed=0)
    assert method.preparation_key(training_sha256="x", seed=0) != method.preparation_key(training_sha256="y", seed=0)

