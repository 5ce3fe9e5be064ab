"""BlindSR: official layouts and parameter counts, the two checkpoint dictionaries loaded through
the weights manager, the kernel search and restoration (portrait images included; also against a
transcription of the official test procedure), and the errors a user sees.

The manifest (models/blindsr/manifest.json) was written from the official ``src/model.py``;
random-initialised networks saved in the official containers (``{'step',
'generator_state_dict' | 'discriminator_state_dict', 'optimizer_state_dict'}``) stand in for the
published files.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

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


# --- the method against a transcription of the official test procedure ----------------------------
# sunreef/BlindSR src/model.py, src/dense_block, src/image_utils.py, src/degradation.py and
# Manager.launch_test as plain functions of the official state dicts: landscape orientation, PIL
# bicubic ×2, overlapping patches, the σ/θ grid scored by the critic's summed |error|, Adam on σ, θ
# (L1 of the critic's error minus 1e-4·Σ|σ|), the generator on every patch, ramp-blended. The grid
# and step counts are parameters here (the official file fixes 6, 4, 50 and patch 200).

def official_reduce(img, scale=2):
    b, c, h, w = img.shape
    out = torch.zeros(b, c * scale * scale, h // scale, w // scale)
    for x in range(scale):
        for y in range(scale):
            for ch in range(c):
                out[:, ch + c * (y + scale * x), :, :] = img[:, ch, x::scale, y::scale]
    return out


def official_reconstruct(features, scale=2):
    b, cs, h, w = features.shape
    c = cs // scale**2
    out = torch.zeros(b, c, h * scale, w * scale)
    for x in range(scale):
        for y in range(scale):
            for ch in range(c):
                out[:, ch, x::scale, y::scale] = features[:, ch + c * (y + scale * x), :, :]
    return out


def official_dense_block(sd, name, x):
    for i in range(5):
        y = F.relu(F.conv2d(x, sd[f"{name}.conv_layers.{i}.0.weight"], sd[f"{name}.conv_layers.{i}.0.bias"]))
        y = F.conv2d(y, sd[f"{name}.conv_layers.{i}.2.weight"], sd[f"{name}.conv_layers.{i}.2.bias"], padding=1)
        x = F.relu(torch.cat([x, y], 1))
    return F.relu(F.conv2d(x, sd[f"{name}.final_conv_layer.0.weight"], sd[f"{name}.final_conv_layer.0.bias"]))


def official_trunk(sd, x):
    x = F.relu(F.conv2d(x, sd["initial_convolution.0.weight"], sd["initial_convolution.0.bias"], padding=1))
    for i in range(4):
        x = x + official_dense_block(sd, f"dense_blocks.{i}", x)
    return x


def official_generator(sd, lowres, bicubic, kernel_features):
    _, _, h, w = lowres.shape
    kernel_map = F.linear(kernel_features, sd["kernel_linear_mapping.weight"], sd["kernel_linear_mapping.bias"])[:, :, None, None].repeat(1, 1, h, w)
    features = official_trunk(sd, torch.cat([lowres, official_reduce(bicubic), kernel_map], 1))
    out = F.conv2d(features, sd["final_convolution.0.weight"], sd["final_convolution.0.bias"], padding=1)
    return bicubic + official_reconstruct(out), kernel_map, features


def official_critic(sd, lowres, features, kernel_map):
    x = official_trunk(sd, torch.cat([lowres, features, kernel_map], 1))
    return official_reconstruct(F.conv2d(x, sd["final_convolution.0.weight"], sd["final_convolution.0.bias"], padding=1))


def official_kernel_features(sigma, theta):
    r = torch.linspace(-7, 7, 15)
    horizontal, vertical = r[None].repeat((15, 1)), r[:, None].repeat((1, 15))
    cos_2, sin_2 = theta.cos() ** 2, theta.sin() ** 2
    sx_2, sy_2 = 2.0 * (sigma[0] ** 2), 2.0 * (sigma[1] ** 2)
    a = cos_2 / sx_2 + sin_2 / sy_2
    b = theta.sin() * theta.cos() * (1.0 / sy_2 - 1.0 / sx_2)
    c = sin_2 / sx_2 + cos_2 / sy_2
    kernel = (-(a * (horizontal**2) + 2.0 * b * horizontal * vertical + c * (vertical**2))).exp()
    return torch.reshape(kernel / kernel.sum(), (225,))[None]


def official_starts(length, patch, overlap):
    step = patch - overlap
    n = length // step + (1 if (length // step) * step < length else 0)
    return [min(i * step, length - patch) for i in range(n)]


def official_patchify(x, patch, overlap):
    _, _, h, w = x.shape
    return torch.cat([x[:, :, r:r + patch, c:c + patch] for r in official_starts(h, patch, overlap) for c in official_starts(w, patch, overlap)], 0)


def official_recompose(patches, height, width, overlap):
    _, channels, patch, _ = patches.shape
    profile = torch.cat([torch.linspace(0.1, 1.0, overlap), torch.ones(patch - 2 * overlap), torch.linspace(1.0, 0.1, overlap)], 0)
    blend = profile[None].repeat(patch, 1) * profile[:, None].repeat(1, patch)
    weights = torch.zeros(1, channels, height, width)
    out = torch.zeros(1, channels, height, width)
    i = 0
    for r in official_starts(height, patch, overlap):
        for c in official_starts(width, patch, overlap):
            weights[0, :, r:r + patch, c:c + patch] += blend[None]
            out[0, :, r:r + patch, c:c + patch] += patches[i] * blend
            i += 1
    return out / weights


def official_blindsr(gen, crit, image, *, patch_size, sigma_steps, theta_steps, optim_steps):
    from PIL import Image
    from torchvision import transforms

    img = Image.fromarray(image)
    flipped = img.height > img.width
    if flipped:
        img = img.transpose(Image.Transpose.TRANSPOSE)
    bicubic = transforms.Resize(2 * img.size[1], interpolation=transforms.InterpolationMode.BICUBIC)(img)
    lowres, bicubic = transforms.ToTensor()(img)[None], transforms.ToTensor()(bicubic)[None]
    _, _, height, width = lowres.shape
    overlap = patch_size // 4
    lr_patches = official_patchify(lowres, patch_size, overlap)
    bq_patches = official_patchify(bicubic, 2 * patch_size, 2 * overlap)
    best_sigma, best_theta, best_loss = [1.0, 1.0], 0.0, float("inf")
    with torch.no_grad():
        for sx in range(sigma_steps):
            for sy in range(sigma_steps):
                for t in range(theta_steps):
                    sigma = [0.001 + (4.0 / sigma_steps) * sx, 0.001 + (4.0 / sigma_steps) * sy]
                    theta = t * math.pi / (2.0 * theta_steps)
                    features = official_kernel_features(torch.tensor(sigma), torch.tensor([theta]))
                    loss = 0.0
                    for p in range(lr_patches.shape[0]):
                        _, kernel_map, maps = official_generator(gen, lr_patches[p:p + 1], bq_patches[p:p + 1], features)
                        loss += official_critic(crit, lr_patches[p:p + 1], maps, kernel_map).abs().sum().item()
                    if loss < best_loss:
                        best_loss, best_sigma, best_theta = loss, sigma, theta
    sigma_p, theta_p = torch.nn.Parameter(torch.tensor(best_sigma)), torch.nn.Parameter(torch.tensor(best_theta))
    optimizer = torch.optim.Adam([sigma_p, theta_p], lr=0.01)
    for _ in range(optim_steps):
        for p in range(lr_patches.shape[0]):
            optimizer.zero_grad()
            _, kernel_map, maps = official_generator(gen, lr_patches[p:p + 1], bq_patches[p:p + 1], official_kernel_features(sigma_p, theta_p))
            error = official_critic(crit, lr_patches[p:p + 1], maps, kernel_map)
            loss = torch.nn.L1Loss()(error, torch.zeros_like(error)) - 0.0001 * sigma_p.abs().sum()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        features = official_kernel_features(sigma_p, theta_p)
        patches = torch.cat([official_generator(gen, lr_patches[p:p + 1], bq_patches[p:p + 1], features)[0] for p in range(lr_patches.shape[0])], 0)
        out = official_recompose(patches, 2 * height, 2 * width, 2 * overlap)
    if flipped:
        out = out.permute(0, 1, 3, 2)
    image_out = out[0].permute(1, 2, 0).clamp(0.0, 1.0).numpy()
    # imageio.imwrite of a float image in [0, 1]: ×255 + 0.499999999, truncated to uint8
    uint8 = (image_out.astype(np.float64) * 255 + 0.499999999).astype(np.uint8)
    return uint8, [float(v) for v in sigma_p.detach()], float(theta_p.detach()), [best_sigma, best_theta]


def test_method_equals_a_transcription_of_the_official_test_procedure(isolated):
    save_official(isolated)
    gen = torch.load(isolated / "blindsr" / "generator.pth", weights_only=True)["generator_state_dict"]
    crit = torch.load(isolated / "blindsr" / "discriminator.pth", weights_only=True)["discriminator_state_dict"]
    image = np.random.default_rng(4).integers(0, 256, (22, 18, 3), dtype=np.uint8)  # portrait: transposed inside
    search = dict(sigma_steps=2, theta_steps=2, optim_steps=2)
    official, sigma, theta, start = official_blindsr(gen, crit, image, patch_size=16, **search)
    method = models.get("blindsr", patch_size=16, **search)
    method.prepare(models.RestoreContext(task="sr", scale=2, device="cpu"))
    out = method.restore(image)
    assert method.estimate["grid_start"] == start
    assert method.estimate["sigma"] == pytest.approx(sigma, rel=1e-5) and method.estimate["theta"] == pytest.approx(theta, abs=1e-6)
    assert theta != start[1] or sigma != start[0]  # Adam moved the kernel
    assert out.shape == (44, 36, 3) and np.array_equal(out, official)
