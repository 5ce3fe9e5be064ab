"""MoESR: official layouts and parameter counts, the ensemble/ISE/KEN files loaded through the
weights manager, kernel estimation + expert choice + restoration (also against a transcription of
the official code), the fine-tuning step, exact
tiling, and the errors a user sees.

The manifest (models/moesr/manifest.json) was written from the official ``codes/networks.py``;
random-initialised networks saved as ``MoESR.py`` reads them stand in for the published files:
``SR_networks_ensemble.pt`` = ``{expert_id: [state_dict, ...]}``, ``ISE.pt`` / ``KEN.pt`` = state dicts.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from restorebench import models
from restorebench.metrics import weights
from restorebench.metrics.errors import InvalidImageError, RestoreBenchError, WeightsUnavailableError
from restorebench.models import moesr
from restorebench.models.moesr import finetune as FT
from restorebench.models.moesr import network as N
from restorebench.models.weights import CheckpointLayoutError, layout_problems, parameter_count, read_manifest

MANIFEST = read_manifest(moesr.MANIFEST)["networks"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def isolated(weights_dir):
    moesr._experts.cache_clear()
    moesr._small_network.cache_clear()
    yield weights_dir
    moesr._experts.cache_clear()
    moesr._small_network.cache_clear()


@pytest.mark.parametrize("name, cls, count", [("expert", N.Expert, 372_803), ("ise", N.ISE, 1_594_241), ("ken", N.KEN, 7_003)])
def test_layouts_and_parameter_counts_are_the_official_ones(name, cls, count):
    net = cls()
    assert list(net.state_dict()) == list(MANIFEST[name]["state_dict"])
    assert layout_problems(net.state_dict(), MANIFEST[name]["state_dict"]) == []
    assert parameter_count(net) == count == MANIFEST[name]["parameters"]


def test_networks_rows():
    rows = models.method_class("moesr").networks()
    assert [(r["variant"], r["network"].split()[0], r["parameters"], r["count"]) for r in rows] == [
        ("x2", "expert", 372_803, 25), ("x2", "ISE", 1_594_241, 1), ("x2", "KEN", 7_003, 1),
        ("x4", "expert", 372_803, 50), ("x4", "ISE", 1_594_241, 1), ("x4", "KEN", 7_003, 1),
    ]
    assert all(r["weights_key"] in weights.CATALOGUE for r in rows)


def test_expert_ids_and_orientations():
    ids = N.expert_ids(2)
    assert len(ids) == len(set(ids)) == 25
    assert "U_0.85_0.85_0.00" in ids and "U_4.37_0.85_0.59" in ids and "U_1.47_0.85_0.20" in ids
    # 85 oriented kernels fold onto the 25 experts
    folded = set()
    for l1 in N.LAMBDAS[4]:
        for l2 in N.LAMBDAS[4]:
            for theta in N.THETAS:
                if l2 > l1 or (l1 == l2 and theta != N.THETAS[0]):
                    continue
                folded.add(N.expert_id(l1, l2, N.fold(0.0 if l1 == l2 else theta)[0]))
    assert folded == set(N.expert_ids(4))
    x = torch.rand(1, 3, 5, 7)
    for how in ("none", "flip_rotate", "rotate", "flip"):
        assert torch.equal(N.untransform_image(N.transform_image(x, how), how), x)


def test_rotated_weights_equal_rotated_images():
    """Serving θ by turning the expert's weights = turning the image around the expert. (For
    ``rotate`` the official estimation turns the image by −90° and the fine-tuning turns the
    weights by +90°: the same kernel orientation, as Gaussian kernels are point-symmetric.)"""
    torch.manual_seed(0)
    net = N.Expert().eval()
    x = torch.rand(1, 3, 9, 9)
    around = {
        "flip": lambda f, x: f(x.flip(3)).flip(3),
        "flip_rotate": lambda f, x: N.transform_image(f(N.transform_image(x, "flip_rotate")), "flip_rotate"),
        "rotate": lambda f, x: f(x.rot90(-1, dims=[2, 3])).rot90(1, dims=[2, 3]),
    }
    with torch.no_grad():
        for how, expected in around.items():
            turned = N.Expert().eval()
            turned.load_state_dict(net.state_dict())
            N.transform_weights(turned, how)
            assert torch.allclose(turned(x), expected(net, x), atol=1e-5), how


def test_ise_blocks_equal_the_whole_map():
    torch.manual_seed(0)
    ise = N.ISE().eval()
    sr, bicubic = torch.rand(1, 3, 131, 97), torch.rand(1, 3, 131, 97)
    with torch.no_grad():
        whole = N.ise_mean_square(ise, sr, bicubic)
        blocks = N.ise_mean_square(ise, sr, bicubic, window=70)
    assert torch.allclose(whole, blocks, rtol=1e-5)


def test_gaussian_kernel():
    k = N.gaussian_kernel(2.0, 0.5, math.pi / 3, 13, 2)
    assert k.shape == (13, 13) and abs(k.sum() - 1) < 1e-12
    iso = N.gaussian_kernel(1.0, 1.0, 0.0, 13, 2)
    assert np.allclose(iso, iso.T)  # isotropic: symmetric about the shifted centre


def save_official(folder, scale: int) -> None:
    torch.manual_seed(scale)
    target = folder / "moesr" / f"x{scale}"
    target.mkdir(parents=True)
    passes = 1 if scale == 2 else 2
    experts = {}
    for eid in N.expert_ids(scale):
        nets = [N.Expert() for _ in range(passes)]
        for net in nets:
            for p in net.parameters():
                p.data.mul_(0.2)
        experts[eid] = [net.state_dict() for net in nets]
    torch.save(experts, target / "SR_networks_ensemble.pt")
    torch.save(N.ISE().state_dict(), target / "ISE.pt")
    ken = N.KEN()
    with torch.no_grad():  # an estimate with a clear orientation, so that weights get rotated
        ken.layers[4].weight.zero_()
        ken.layers[4].bias.copy_(torch.tensor([3.2, 1.4, 9.0]))
    torch.save(ken.state_dict(), target / "KEN.pt")


def test_checkpoints_load_and_restore(isolated):
    save_official(isolated, 2)
    method = models.get("moesr", iterations=0, tile=0)
    method.prepare(models.RestoreContext(task="sr", scale=2, device="cpu"))
    image = np.random.default_rng(0).integers(0, 256, (26, 27, 3), dtype=np.uint8)  # ISE needs ≥ 49 HR pixels
    out = method.restore(image)
    assert out.shape == (52, 54, 3) and out.dtype == np.uint8
    estimate = method.estimate
    assert estimate["expert"] == "U_3.23_1.47_0.20" and estimate["transform"] == "rotate"
    assert estimate["theta"] == pytest.approx(9 * math.pi / 16)


def test_tiled_expert_passes_equal_the_whole_image():
    from restorebench.models.weights import tiled

    torch.manual_seed(0)
    nets = [N.Expert().eval(), N.Expert().eval()]

    def x4(x):
        return nets[1](nets[0](x))

    lr = torch.rand(1, 3, 30, 37)
    with torch.no_grad():
        whole = nets[0](lr)
        assert torch.allclose(tiled(nets[0], lr, scale=2, tile=12, overlap=20), whole, atol=1e-5)
        assert torch.allclose(tiled(x4, lr, scale=4, tile=12, overlap=24), x4(lr), atol=1e-5)


def test_finetuning_updates_the_expert_x2_and_x4():
    torch.manual_seed(0)
    image = np.random.default_rng(1).integers(0, 256, (64, 70, 3), dtype=np.uint8)
    for scale in (2, 4):
        nets = [N.Expert() for _ in range(1 if scale == 2 else 2)]
        before = [n.model[0].weight.clone() for n in nets]
        kernel = N.gaussian_kernel(2.0, 1.0, 0.3, N.KERNEL_SIZE[scale], scale)
        kernel_2x = N.gaussian_kernel(0.4, 0.2, 0.3, 13, 2) if scale == 4 else None
        config = FT.FinetuneConfig(iterations=2, crop=64, real=(scale == 4))
        FT.finetune(nets, image, scale, kernel, kernel_2x, config, torch.device("cpu"))
        assert all(not torch.equal(b, n.model[0].weight) for b, n in zip(before, nets))
        assert all(not p.requires_grad for n in nets for p in n.parameters())


def test_crop_sampler_is_deterministic_and_inside_the_image():
    image = np.random.default_rng(2).integers(0, 256, (90, 100, 3), dtype=np.uint8)
    a, b = FT.CropSampler(image, 2, 64, 5, real=False), FT.CropSampler(image, 2, 64, 5, real=False)
    for i in range(5):
        (big_a, small_a), (big_b, small_b) = a(i), b(i)
        assert big_a.shape == (64, 64, 3) and small_a.shape == (32, 32, 3)
        assert np.array_equal(big_a, big_b) and np.array_equal(small_a, small_b)


def test_missing_weights_and_bad_files(isolated):
    method = models.get("moesr")
    method.prepare(models.RestoreContext(task="sr", scale=4, device="cpu"))
    with pytest.raises(WeightsUnavailableError) as info:
        method.restore(np.zeros((64, 64, 3), np.uint8))
    assert "moesr/x4/SR_networks_ensemble.pt" in str(info.value) and moesr.URL in str(info.value)
    with pytest.raises(RestoreBenchError, match="×2 and ×4 only"):
        models.get("moesr").prepare(models.RestoreContext(task="sr", scale=3))
    save_official(isolated, 4)  # with its weights present, a too small input is the problem
    with pytest.raises(InvalidImageError, match="at least 64×64"):
        method.restore(np.zeros((40, 40, 3), np.uint8))
    target = isolated / "moesr" / "x2"
    target.mkdir(parents=True)
    torch.save({"U_0.85_0.85_0.00": [N.Expert().state_dict()]}, target / "SR_networks_ensemble.pt")
    with pytest.raises(CheckpointLayoutError, match="is missing"):
        moesr._experts(2)


# --- the method against a transcription of the official estimation and inference ----------------------
# memad73/MoESR codes/networks.py (SR_Net, ISE_Net, KEN_Net) and MoESR.estimate_kernel / the expert
# choice of finetune_network / eval, as plain functions of the official state dicts: every one of the
# 85 kernel shapes runs its expert on the (rotated/flipped) image, the ISE scores it against the
# bicubic upsampling, KEN turns the 85 mean squares into (λ1, λ2, θ); the nearest expert, its weights
# rotated/flipped to θ, super-resolves the image (0 fine-tuning iterations).

def official_sr_net(sd, x):
    x = F.interpolate(x, scale_factor=2, mode="bicubic")
    y = x
    for i in range(12):
        y = F.conv2d(y, sd[f"model.{2 * i}.weight"], sd[f"model.{2 * i}.bias"], padding=1)
        if i < 11:
            y = F.relu(y)
    return x + y


def official_ise(sd, x, bq):
    y = torch.cat([x, bq], 1)
    for index, stride, relu in ((0, 1, True), (2, 2, True), (4, 2, True), (6, 2, True), (8, 1, False), (9, 1, False)):
        y = F.conv2d(y, sd[f"model.{index}.weight"], sd[f"model.{index}.bias"], stride=stride)
        y = F.relu(y) if relu else y
    return y


def official_ken(sd, x):
    x = (x - x.mean(axis=1)[:, None]) / x.std(axis=1)[:, None]
    x = F.relu(F.linear(x, sd["layers.0.weight"], sd["layers.0.bias"]))
    x = F.relu(F.linear(x, sd["layers.2.weight"], sd["layers.2.bias"]))
    x = F.linear(x, sd["layers.4.weight"], sd["layers.4.bias"])
    x[:, 0:2][x[:, 0:2] < 0.01] = 0.01
    x[:, 2] *= np.pi / 16
    return x


def official_turned_weights(sd, theta):
    """weights_flip_rotate / weights_rotate / weights_flip on every conv of an expert."""
    def turn(w):
        if np.pi / 4 < theta < np.pi / 2:
            return w.flip(3).rot90(dims=[2, 3])
        if np.pi / 2 < theta < 3 * np.pi / 4:
            return w.rot90(1, dims=[2, 3])
        return w.flip(3)
    if theta < np.pi / 4:
        return sd
    return {k: (turn(v) if k.endswith("weight") else v) for k, v in sd.items()}


def official_moesr_x2(experts, ise, ken, image):
    lambdas, thetas = [0.85, 1.47, 2.27, 3.23, 4.37], [k * np.pi / 16 for k in (1, 3, 5, 7, 9, 11, 13, 15)]
    img_t = torch.FloatTensor(np.transpose(image / 255.0, (2, 0, 1))).unsqueeze(0)
    bq = F.interpolate(img_t, scale_factor=2, mode="bicubic")
    errs = []
    for l1 in lambdas:
        for l2 in lambdas:
            for theta in thetas:
                if l2 > l1:
                    continue
                if l2 == l1:
                    if theta != thetas[0]:
                        continue
                    theta = 0
                if theta < np.pi / 4:
                    model_theta, inp = theta, img_t
                elif np.pi / 4 < theta < np.pi / 2:
                    model_theta, inp = np.pi / 2 - theta, img_t.flip(3).rot90(dims=[2, 3])
                elif np.pi / 2 < theta < 3 * np.pi / 4:
                    model_theta, inp = theta - np.pi / 2, img_t.rot90(dims=[2, 3])
                else:
                    model_theta, inp = np.pi - theta, img_t.flip(3)
                out = official_sr_net(experts["U_%.2f_%.2f_%.2f" % (l1, l2, model_theta)][0], inp)
                if theta < np.pi / 4:
                    sr = out
                elif np.pi / 4 < theta < np.pi / 2:
                    sr = out.flip(3).rot90(dims=[2, 3])
                elif np.pi / 2 < theta < 3 * np.pi / 4:
                    sr = out.rot90(-1, dims=[2, 3])
                else:
                    sr = out.flip(3)
                delta = official_ise(ise, sr, bq)
                errs.append((delta * delta).mean())
    params = official_ken(ken, torch.stack(errs).unsqueeze(0)).squeeze().numpy()
    c1 = min(lambdas, key=lambda x: abs(x - params[0]))
    c2 = min(lambdas, key=lambda x: abs(x - params[1]))
    theta = min(thetas, key=lambda x: abs(x - params[2]))
    if theta < np.pi / 4:
        model_theta = theta
    elif np.pi / 4 < theta < np.pi / 2:
        model_theta = np.pi / 2 - theta
    elif np.pi / 2 < theta < 3 * np.pi / 4:
        model_theta = theta - np.pi / 2
    else:
        model_theta = np.pi - theta
    if c2 > c1:
        c1 = c2
    if c1 == c2:
        model_theta = 0
    expert = "U_%.2f_%.2f_%.2f" % (c1, c2, model_theta)
    sr = official_sr_net(official_turned_weights(experts[expert][0], theta), img_t)
    return params, expert, np.clip(np.round(np.transpose(sr[0].numpy(), (1, 2, 0)) * 255.0), 0, 255).astype(np.uint8)


def test_method_equals_a_transcription_of_the_official_estimation_and_inference(isolated):
    """Random experts, ISE and KEN (a KEN whose output depends on the 85 errors, steered to an
    oriented kernel so that weights are turned) in the official files; same image, same result."""
    torch.manual_seed(5)
    target = isolated / "moesr" / "x2"
    target.mkdir(parents=True)
    experts = {}
    for eid in N.expert_ids(2):
        net = N.Expert()
        for p in net.parameters():
            p.data.mul_(0.2)
        experts[eid] = [net.state_dict()]
    ise, ken = N.ISE().state_dict(), N.KEN()
    with torch.no_grad():
        ken.layers[4].bias.copy_(torch.tensor([2.3, 1.4, 11.0]))  # θ ≈ 11π/16 … plus what the errors add
    torch.save(experts, target / "SR_networks_ensemble.pt")
    torch.save(ise, target / "ISE.pt")
    torch.save(ken.state_dict(), target / "KEN.pt")
    image = np.random.default_rng(3).integers(0, 256, (26, 29, 3), dtype=np.uint8)

    params, expert, official = official_moesr_x2(experts, ise, ken.state_dict(), image)
    method = models.get("moesr", iterations=0, tile=0)
    method.prepare(models.RestoreContext(task="sr", scale=2, device="cpu"))
    out = method.restore(image)
    estimate = method.estimate
    assert [estimate["lambda_1"], estimate["lambda_2"], estimate["theta"]] == pytest.approx(params.tolist(), rel=1e-5)
    assert estimate["expert"] == expert and estimate["transform"] != "none"
    assert np.array_equal(out, official)
