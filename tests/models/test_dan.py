"""DAN: official layouts and parameter counts, checkpoint loading through the weights manager,
tiled inference, and the errors a user sees.

The manifest (models/dan/manifest.json) was written from the official definitions
(greatlog/DAN dan_arch.py + the test option files); random-initialised networks saved in the
official format (a flat state dict, here with DataParallel's ``module.`` prefix) stand in for
the published checkpoints.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from restorebench import models
from restorebench.metrics import weights
from restorebench.metrics.errors import RestoreBenchError, WeightsUnavailableError
from restorebench.models import dan
from restorebench.models.dan.network import CONFIGS, DAN, DPCB, DPCG
from restorebench.models.weights import layout_problems, parameter_count, read_manifest

MANIFEST = read_manifest(dan.MANIFEST)["variants"]
OFFICIAL_COUNTS = {"v1-x4-setting1": 4_329_511, "v1-x2-setting1": 4_181_799, "v2-x4-setting1": 4_707_708}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def isolated(weights_dir):
    dan._network.cache_clear()
    yield weights_dir
    dan._network.cache_clear()


def build_meta(variant: str) -> DAN:
    with torch.device("meta"):
        return DAN(CONFIGS[variant])


@pytest.mark.parametrize("variant", sorted(CONFIGS))
def test_layout_matches_the_official_manifest(variant):
    net = build_meta(variant)
    state = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert list(state) == list(MANIFEST[variant]["state_dict"])  # same keys, same order
    assert layout_problems(net.state_dict(), MANIFEST[variant]["state_dict"]) == []
    assert parameter_count(net) == MANIFEST[variant]["parameters"]


def test_parameter_counts_equal_the_official_ones():
    for variant, count in OFFICIAL_COUNTS.items():
        assert parameter_count(build_meta(variant)) == count
    rows = {r["variant"]: r for r in models.method_class("dan").networks()}
    assert len(rows) == 10
    assert rows["v1-x4-setting1"] == {"variant": "v1-x4-setting1", "network": "DANv1", "parameters": 4_329_511,
                                      "weights_key": "danv1-x4-setting1"}
    assert rows["v1-x2-setting1"]["parameters"] == 4_181_799
    assert rows["v2-x4-setting1"]["parameters"] == 4_707_708
    assert all(r["weights_key"] in weights.CATALOGUE for r in rows.values())


def save_official(folder, variant: str, seed: int = 0) -> DAN:
    """A random DAN saved as the official training code saves it (flat state dict)."""
    torch.manual_seed(seed)
    net = DAN(CONFIGS[variant])
    c = CONFIGS[variant]
    with torch.no_grad():
        net.encoder.normal_(0, 0.1)
        net.init_ker_map.copy_(net.init_kernel.view(1, 1, -1).matmul(net.encoder)[:, 0])
        for p in net.parameters():
            p.mul_(0.5)
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    torch.save(state, folder / f"dan{c.version}_x{c.scale}_setting{c.setting}.pth")
    return net.eval()


@pytest.mark.parametrize("variant", ["v1-x4-setting1", "v2-x2-setting2"])
def test_checkpoint_loads_through_the_weights_manager_and_restores(isolated, variant):
    reference = save_official(isolated, variant)
    c = CONFIGS[variant]
    method = models.get("dan", version=c.version, setting=c.setting)
    method.prepare(models.RestoreContext(task="sr", scale=c.scale, device="cpu"))
    image = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    out = method.restore(image)
    assert out.shape == (12 * c.scale, 10 * c.scale, 3) and out.dtype == np.uint8
    with torch.no_grad():
        expected = reference(torch.from_numpy(image.transpose(2, 0, 1).astype(np.float32) / 255)[None])
    expected = np.round(expected.clamp(0, 1)[0].numpy().transpose(1, 2, 0) * 255).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)
    assert np.array_equal(method.restore(image), out)  # deterministic
    assert method.weights_key == dan.weights_key(c.version, c.scale, c.setting)


def test_tiling_keeps_the_global_kernel_estimate_and_the_output_size():
    torch.manual_seed(0)
    net = DAN(CONFIGS["v1-x2-setting1"]).eval()
    lr = torch.rand(1, 3, 14, 11)
    with torch.no_grad():
        whole = net(lr)
        one_tile = net.super_resolve(lr, tile=64, overlap=8)
        tiled = net.super_resolve(lr, tile=8, overlap=3)
    assert torch.equal(whole, one_tile)
    assert tiled.shape == whole.shape == (1, 3, 28, 22)
    assert torch.isfinite(tiled).all()


def test_dpcg_returns_twice_its_blocks_output():
    """The official group adds its input to its output after its blocks overwrote that input."""
    torch.manual_seed(0)
    group = DPCG(8, 8, 3, 1, 2)
    f1, f2 = torch.rand(1, 8, 5, 5), torch.rand(1, 8, 1, 1)
    g1, g2 = f1, f2
    for block in group.body:
        assert isinstance(block, DPCB)
        g1, g2 = block(g1, g2)
    out1, out2 = group(f1, f2)
    assert torch.allclose(out1, 2 * g1) and torch.allclose(out2, 2 * g2)


def test_missing_weights_name_the_file_and_url():
    method = models.get("dan", version="v2", setting=2)
    method.prepare(models.RestoreContext(task="sr", scale=4, device="cpu"))
    with pytest.raises(WeightsUnavailableError) as info:
        method.restore(np.zeros((8, 8, 3), np.uint8))
    message = str(info.value)
    assert "danv2_x4_setting2.pth" in message and dan.URL in message
    assert info.value.filename == "danv2_x4_setting2.pth" and info.value.url == dan.URL


def test_scales_without_a_checkpoint_are_refused():
    method = models.get("dan", setting=2)
    with pytest.raises(RestoreBenchError, match="no official DANv1 checkpoint for ×3"):
        method.prepare(models.RestoreContext(task="sr", scale=3))
    with pytest.raises(Exception):
        models.get("dan", version="v3")


def test_a_checkpoint_of_another_variant_is_rejected_clearly(isolated):
    save_official(isolated, "v1-x2-setting1")
    (isolated / "danv1_x2_setting1.pth").rename(isolated / "danv1_x4_setting1.pth")
    method = models.get("dan")
    method.prepare(models.RestoreContext(task="sr", scale=4, device="cpu"))
    with pytest.raises(RestoreBenchError, match="official layout"):
        method.restore(np.zeros((8, 8, 3), np.uint8))
