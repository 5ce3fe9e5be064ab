"""DAN: official layouts and parameter counts, the forward pass against an independent
transcription of the official one, checkpoint loading through the weights manager, tiled
inference, and the errors a user sees.

The manifest (models/dan/manifest.json) was written from the official definitions
(greatlog/DAN dan_arch.py + the test option files); random-initialised networks saved in the
official format (a flat state dict, here with DataParallel's ``module.`` prefix) stand in for
the published checkpoints.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

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


def _estimates(net, run):
    """The Estimator outputs each loop passes on (what becomes the Restorer's next condition)."""
    seen = []
    original = net.code

    def recording(estimate):
        seen.append(estimate.detach().clone())
        return original(estimate)

    net.code = recording
    try:
        with torch.no_grad():
            output = run()
    finally:
        net.code = original
    return output, seen


def test_tiling_keeps_the_global_kernel_estimate_and_the_output_size():
    torch.manual_seed(0)
    net = DAN(CONFIGS["v1-x2-setting1"]).eval()
    lr = torch.rand(1, 3, 14, 11)
    whole, whole_estimates = _estimates(net, lambda: net(lr))
    with torch.no_grad():
        one_tile = net.super_resolve(lr, tile=64, overlap=8)
    assert torch.equal(whole, one_tile)
    # tiles of 8 px whose windows reach over the whole image: every core sees the context it has in
    # one pass, so the per-tile feature maps averaged over the cores give the whole image's
    # estimate at every loop (the last loop's estimate is unused by both)
    tiled, tiled_estimates = _estimates(net, lambda: net.super_resolve(lr, tile=8, overlap=16))
    assert len(tiled_estimates) == net.config.loop - 1 and tiled.shape == whole.shape == (1, 3, 28, 22)
    for a, b in zip(tiled_estimates, whole_estimates):
        assert torch.allclose(a, b, atol=1e-6), (a - b).abs().max()
    assert torch.allclose(tiled, whole, atol=1e-5)
    # with little overlap the windows lack context: the estimate is an average of local ones and
    # differs (what the overlap parameter buys)
    _, narrow = _estimates(net, lambda: net.super_resolve(lr, tile=8, overlap=1))
    assert not torch.allclose(narrow[0], whole_estimates[0], atol=1e-6)


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


# --- the forward pass against a transcription of the official one ----------------------------------
# greatlog/DAN codes/config/DANv{1,2}/models/modules/dan_arch.py as plain functions of the official
# state dict (its key names): DANv1's CRB layers with channel attention and a globally pooled
# 10-number estimate; DANv2's dual-path blocks, whose group re-adds the list its blocks have just
# overwritten (so each group returns twice its blocks' output), and a softmax kernel projected on
# the PCA basis. The loop runs ``loop`` times from the Dirac kernel's code; the last SR is the output.


def _conv(sd, name, x, stride=1):
    weight = sd[f"{name}.weight"]
    return F.conv2d(x, weight, sd[f"{name}.bias"], stride=stride, padding=weight.shape[-1] // 2)


def _upscale(sd, prefix, f, scale):
    if scale == 4:
        f = F.pixel_shuffle(_conv(sd, f"{prefix}.0", f), 2)
        f = F.pixel_shuffle(_conv(sd, f"{prefix}.2", f), 2)
        return _conv(sd, f"{prefix}.4", f)
    return _conv(sd, f"{prefix}.2", F.pixel_shuffle(_conv(sd, f"{prefix}.0", f), scale))


def _crb(sd, name, f1, f2):
    y = F.leaky_relu(_conv(sd, f"{name}.body.0", torch.cat([f1, f2], 1)), 0.2)
    y = _conv(sd, f"{name}.body.2", y)
    attention = torch.sigmoid(_conv(sd, f"{name}.body.3.body.2", F.leaky_relu(_conv(sd, f"{name}.body.3.body.0", y.mean(dim=(2, 3), keepdim=True)), 0.2)))
    return y * attention + f1


def _dpcb(sd, name, pair):
    g1 = _conv(sd, f"{name}.body1.2", F.leaky_relu(_conv(sd, f"{name}.body1.0", pair[0]), 0.2))
    g2 = _conv(sd, f"{name}.body2.2", F.leaky_relu(_conv(sd, f"{name}.body2.0", pair[1]), 0.2))
    pair[0] = pair[0] + g1 * g2  # the official block writes into the list it was given
    pair[1] = pair[1] + g2
    return pair


def _dpcg(sd, name, pair, nb):
    x = pair
    y = pair
    for b in range(nb):
        y = _dpcb(sd, f"{name}.body.{b}", y)
    y[0] = x[0] + y[0]  # x is y: the same list
    y[1] = x[1] + y[1]
    return y


def official_dan(sd, c, lr):
    b, _, h, w = lr.shape
    ker_map = sd["init_ker_map"].repeat([b, 1])
    sr = None
    for _ in range(c.loop):
        if c.version == "v1":
            f = _conv(sd, "Restorer.head", lr)
            code = ker_map.view(b, -1, 1, 1).expand(b, ker_map.shape[1], h, w)
            for i in range(c.nb):
                f = _crb(sd, f"Restorer.body.{i}", f, code)
            sr = _upscale(sd, "Restorer.upscale", _conv(sd, "Restorer.fusion", f), c.scale)
            e = _conv(sd, "Estimator.head_LR", lr)
            hr = _conv(sd, "Estimator.head_HR", sr, stride=c.scale)
            for i in range(5):
                e = _crb(sd, f"Estimator.body.{i}", e, hr)
            ker_map = _conv(sd, "Estimator.out", e).mean(dim=(2, 3))
        else:
            pair = [_conv(sd, "Restorer.head1", lr), _conv(sd, "Restorer.head2", ker_map.view(b, -1, 1, 1))]
            for g in range(c.ng):
                pair = _dpcg(sd, f"Restorer.body.{g}", pair, c.nb)
            sr = _upscale(sd, "Restorer.upscale", _conv(sd, "Restorer.fusion", pair[0]), c.scale)
            pair = [_conv(sd, "Estimator.head_LR.0", lr), _conv(sd, "Estimator.head_HR.0", sr, stride=c.scale)]
            e = _dpcg(sd, "Estimator.body", pair, 5)[0]
            e = _conv(sd, "Estimator.tail.0", e).mean(dim=(2, 3), keepdim=True)
            kernel = torch.softmax(_conv(sd, "Estimator.tail.2", e), dim=1).view(b, -1)
            ker_map = kernel.view(b, 1, -1).matmul(sd["encoder"])[:, 0]
    return sr


@pytest.mark.parametrize("variant", ["v1-x4-setting1", "v2-x2-setting2", "v2-x4-setting2"])
def test_forward_equals_a_transcription_of_the_official_one(tmp_path, variant):
    net = save_official(tmp_path, variant, seed=1)
    lr = torch.rand(2, 3, 12, 10, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours = net(lr)
        official = official_dan(net.state_dict(), CONFIGS[variant], lr)
    assert ours.shape == official.shape == (2, 3, 12 * CONFIGS[variant].scale, 10 * CONFIGS[variant].scale)
    size = float(official.abs().max())
    assert float((official[0] - official[1]).abs().max()) > 0.1 * size  # the inputs lead to different outputs
    torch.testing.assert_close(ours, official, rtol=0, atol=1e-5 * size)
