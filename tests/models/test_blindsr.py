"""BlindSR: official layouts and parameter counts, the two checkpoint dictionaries loaded through
the weights manager, the kernel search and restoration (portrait images included), and the
errors a user sees.

The manifest (models/blindsr/manifest.json) was written from the official ``src/model.py``;
random-initialised networks saved in the official containers (``{'step',
'generator_state_dict' | 'discriminator_state_dict', 'optimizer_state_dict'}``) stand in for the
published files.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from restorebench import models
from restorebench.metrics.errors import RestoreBenchError, WeightsUnavailableError
from restorebench.models import blindsr
from restorebench.models.blindsr import network as N
from restorebench.models.weights import CheckpointLayoutError, layout_problems, parameter_count, read_manifest

MANIFEST = read_manifest(blindsr.MANIFEST)["networks"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def isolated(weights_dir):
    blindsr._networks.cache_clear()
    yield weights_dir
    blindsr._networks.cache_clear()


@pytest.mark.parametrize("name, cls, count", [("generator", N.Generator, 538_058), ("discriminator", N.Discriminator, 564_620)])
def test_layouts_and_parameter_counts_are_the_official_ones(name, cls, count):
    net = cls()
    assert list(net.state_dict()) == list(MANIFEST[name]["state_dict"])
    assert layout_problems(net.state_dict(), MANIFEST[name]["state_dict"]) == []
    assert parameter_count(net) == count == MANIFEST[name]["parameters"]
    rows = {r["weights_key"]: r["parameters"] for r in models.method_class("blindsr").networks()}
    assert rows == {"blindsr-generator": 538_058, "blindsr-discriminator": 564_620}


def test_space_to_depth_channel_order_is_the_official_one():
    img = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).view(2, 3, 4, 6)
    reduced = N.space_to_depth(img, 2)
    for x in range(2):
        for y in range(2):
            for c in range(3):  # official reduce_image: channel c + C·(y + s·x) ← img[:, c, x::s, y::s]
                assert torch.equal(reduced[:, c + 3 * (y + 2 * x)], img[:, c, x::2, y::2])
    assert torch.equal(N.depth_to_space(reduced, 2), img)


def test_kernel_is_a_normalised_rotated_gaussian():
    k = N.gaussian_kernel(torch.tensor([2.0, 0.5]), torch.tensor(0.0))
    assert k.shape == (15, 15) and abs(float(k.sum()) - 1) < 1e-6
    assert float(k[7].sum()) > float(k[:, 7].sum())  # wide along x (columns) when θ = 0
    turned = N.gaussian_kernel(torch.tensor([2.0, 0.5]), torch.tensor(np.pi / 2))
    assert torch.allclose(turned, k.t(), atol=1e-6)


def test_patches_recompose_to_the_image():
    x = torch.rand(1, 3, 30, 41)
    patches = N.patchify(x, 16, 4)
    assert torch.allclose(N.recompose(patches, 30, 41, 4), x, atol=1e-6)


def save_official(folder) -> None:
    torch.manual_seed(0)
    target = folder / "blindsr"
    target.mkdir()
    for part, cls in (("generator", N.Generator), ("discriminator", N.Discriminator)):
        state = cls().state_dict()
        torch.save({"step": 1000, f"{part}_state_dict": state, "optimizer_state_dict": {"state": {}, "param_groups": []}},
                   target / f"{part}.pth")


def test_checkpoints_load_and_restore(isolated):
    save_official(isolated)
    method = models.get("blindsr", sigma_steps=2, theta_steps=1, optim_steps=1, patch_size=16)
    method.prepare(models.RestoreContext(task="sr", scale=2, device="cpu"))
    image = np.random.default_rng(0).integers(0, 256, (22, 18, 3), dtype=np.uint8)  # portrait: transposed inside
    out = method.restore(image)
    assert out.shape == (44, 36, 3) and out.dtype == np.uint8
    assert set(method.estimate) == {"sigma", "theta", "grid_start"}
    assert np.array_equal(method.restore(image), out)  # deterministic


def test_missing_weights_and_bad_files(isolated):
    method = models.get("blindsr", profile="fast")
    method.prepare(models.RestoreContext(task="sr", scale=2, device="cpu"))
    with pytest.raises(WeightsUnavailableError) as info:
        method.restore(np.zeros((16, 16, 3), np.uint8))
    assert "blindsr/generator.pth" in str(info.value) and blindsr.RAW in str(info.value)
    with pytest.raises(RestoreBenchError, match="×2 only"):
        models.get("blindsr").prepare(models.RestoreContext(task="sr", scale=4))
    save_official(isolated)
    torch.save(N.Generator().state_dict(), isolated / "blindsr" / "generator.pth")  # bare state dict
    with pytest.raises(CheckpointLayoutError, match="generator_state_dict"):
        method.restore(np.zeros((16, 16, 3), np.uint8))
