"""MANIQA: official layout and parameter count, the forward pass against an independent
transcription of the official one, loading through the weights manager (including the torch-hub
hash prefix of ``MANIQA_PIPAL-ae6d356b.pth``), both protocols, determinism, and the errors a user
sees.

The ViT-B/8 network is big (136 M parameters): one random-initialised checkpoint is written per
session, inputs are small and the protocols' crop count is reduced where only the plumbing is
tested. The catalogue entry for ``pipal`` keeps its official URL and component; only its file name
is replaced by one carrying the test file's own sha256 prefix, so that the real path — search
folders, hub-prefix check, ``torch.load(weights_only=True)``, strict key match — runs unchanged.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from restorebench import metrics
from restorebench.metrics import maniqa, weights
from restorebench.metrics.component import ParameterError
from restorebench.metrics.errors import WeightsUnavailableError
from restorebench.metrics.weights import sha256_file

MANIFEST_PATH = maniqa.__file__.replace("maniqa.py", "data/maniqa_manifest.json")
OFFICIAL_PARAMETERS = 135_747_530  # trainable parameters of IIGROUP/MANIQA's MANIQA(embed_dim=768, …) on timm 0.5.5 vit_base_patch8_224 (manifest "about")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def isolated(weights_dir):
    maniqa.load_network.cache_clear()
    yield weights_dir
    maniqa.load_network.cache_clear()


@pytest.fixture(scope="module")
def random_net():
    """A random MANIQA in the PIPAL configuration (Swin scale 0.13), eval mode."""
    torch.manual_seed(0)
    net = maniqa.build("pipal")
    with torch.no_grad():
        net.fc_score[3].bias.fill_(0.5)  # scores of order 1, not ~0
    return net.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, random_net):
    """The random MANIQA saved as the official training script saves it (DataParallel state dict)."""
    path = tmp_path_factory.mktemp("maniqa") / "random.pth"
    torch.save({f"module.{k}": v for k, v in random_net.state_dict().items()}, path)
    return path


def test_layout_and_parameter_count_are_the_official_ones():
    import json

    manifest = json.loads(open(MANIFEST_PATH).read())
    with torch.device("meta"):
        net = maniqa.build("koniq10k")
    state = net.state_dict()
    assert list(state) == list(manifest["state_dict"])
    assert all(list(state[k].shape) == shape for k, shape in manifest["state_dict"].items())
    assert sum(p.numel() for p in net.parameters()) == OFFICIAL_PARAMETERS == manifest["parameters"]


def test_pipal_checkpoint_through_the_hub_prefix_and_both_protocols(checkpoint, isolated, monkeypatch):
    wf = weights.CATALOGUE["maniqa-pipal"]
    assert wf.hub_prefix == "ae6d356b"
    own = f"MANIQA_PIPAL-{sha256_file(checkpoint)[:8]}.pth"
    monkeypatch.setitem(weights.CATALOGUE, wf.key, dataclasses.replace(wf, filename=own))
    (isolated / own).symlink_to(checkpoint)
    assert weights.status(wf.key)["status"] == "present"

    image = np.random.default_rng(0).integers(0, 256, (40, 52, 3), dtype=np.uint8)
    study = metrics.get("maniqa", checkpoint="pipal")
    assert study.options == {"checkpoint": "pipal", "protocol": "study"} and study.weight_keys() == ("maniqa-pipal",)
    score = study(image)
    assert math.isfinite(score) and score >= 0
    assert study(image) == score  # deterministic (eval mode, no autograd)

    monkeypatch.setattr(maniqa, "N_CROPS", 1)  # the plumbing of the crops protocol, cheaply
    crops = metrics.get("maniqa", checkpoint="pipal", protocol="crops")
    value = crops(image)
    assert math.isfinite(value) and value >= 0
    assert crops.code_version != study.code_version


def test_a_file_with_the_wrong_hash_is_refused(isolated):
    (isolated / "MANIQA_PIPAL-ae6d356b.pth").write_bytes(b"not the PIPAL checkpoint")
    with pytest.raises(WeightsUnavailableError, match="expected ae6d356b"):
        metrics.get("maniqa", checkpoint="pipal")(np.zeros((32, 32, 3), np.uint8))
    assert weights.status("maniqa-pipal")["status"] == "hash mismatch"


def test_missing_weights_name_the_file_and_url():
    with pytest.raises(WeightsUnavailableError) as info:
        metrics.get("maniqa")(np.zeros((32, 32, 3), np.uint8))
    message = str(info.value)
    assert "ckpt_koniq10k.pt" in message
    assert "https://github.com/IIGROUP/MANIQA/releases/download/Koniq10k/ckpt_koniq10k.pt" in message


def test_options_are_validated():
    with pytest.raises(ValueError, match="checkpoint"):
        metrics.get("maniqa", checkpoint="live")
    with pytest.raises(ValueError, match="protocol"):
        metrics.get("maniqa", protocol="five")
    with pytest.raises(ParameterError, match="'crops' is not a parameter of metric 'maniqa'"):
        metrics.get("maniqa", crops=3)


def test_protocol_inputs():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (300, 260, 3), dtype=np.uint8)
    study = maniqa.study_input(image)
    assert study.shape == (1, 3, 224, 224) and study.dtype == np.float32
    assert -1.0 <= study.min() and study.max() <= 1.0
    crops = maniqa.crop_inputs(image)
    assert crops.shape == (20, 3, 224, 224)
    draws = np.random.RandomState(20)  # the official sampler: top then left, numpy seed 20
    top, left = draws.randint(0, 300 - 224), draws.randint(0, 260 - 224)
    expected = (image[top:top + 224, left:left + 224].astype(np.float32) / 255 - 0.5) / 0.5
    np.testing.assert_allclose(crops[0], expected.transpose(2, 0, 1), atol=1e-6)
    small = maniqa.crop_inputs(rng.integers(0, 256, (100, 150, 3), dtype=np.uint8))  # enlarged to 225 first
    assert small.shape == (20, 3, 224, 224)


# --- an independent transcription of the official forward pass ------------------------------------
# IIGROUP/MANIQA models/maniqa.py and models/swin.py with the backbone of its vendored timm 0.5
# (vision_transformer.py), written as plain functions of the state dict: hooks on the ViT blocks
# 6–9 without the class token, two transposed-attention blocks, 1×1 conv, scaled Swin stage,
# again at half the channels, and the per-sample Σ score·weight / Σ weight.

def _linear(sd, name, x):
    return F.linear(x, sd[f"{name}.weight"], sd[f"{name}.bias"])


def _layer_norm(sd, name, x, eps):
    return F.layer_norm(x, x.shape[-1:], sd[f"{name}.weight"], sd[f"{name}.bias"], eps)


def official_vit_block_outputs(sd, x):
    """Outputs of the 12 timm-0.5 ``Block``s (pre-norm attention and MLP, LayerNorm eps 1e-6)."""
    x = F.conv2d(x, sd["vit.patch_embed.proj.weight"], sd["vit.patch_embed.proj.bias"], stride=8)
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat((sd["vit.cls_token"].expand(x.shape[0], -1, -1), x), dim=1) + sd["vit.pos_embed"]
    outputs = []
    for i in range(12):
        p = f"vit.blocks.{i}"
        b, n, c = x.shape
        h = _layer_norm(sd, f"{p}.norm1", x, 1e-6)
        qkv = _linear(sd, f"{p}.attn.qkv", h).reshape(b, n, 3, 12, c // 12).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * (c // 12) ** -0.5).softmax(dim=-1)
        x = x + _linear(sd, f"{p}.attn.proj", (attn @ v).transpose(1, 2).reshape(b, n, c))
        h = _layer_norm(sd, f"{p}.norm2", x, 1e-6)
        x = x + _linear(sd, f"{p}.mlp.fc2", F.gelu(_linear(sd, f"{p}.mlp.fc1", h)))
        outputs.append(x)
    return outputs


def official_tablock(sd, name, x):
    b, c, n = x.shape
    q, k, v = (_linear(sd, f"{name}.c_{t}", x) for t in "qkv")
    attn = (q @ k.transpose(-2, -1) * n ** -0.5).softmax(dim=-1)
    return (attn @ v).transpose(1, 2).reshape(b, c, n) + x


def official_window_partition(x, ws):
    b, h, w, c = x.shape
    return x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, ws, ws, c)


def official_window_reverse(windows, ws, h, w):
    b = int(windows.shape[0] / (h * w / ws / ws))
    x = windows.view(b, h // ws, w // ws, ws, ws, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(b, h, w, -1)


def official_relative_index(ws):
    coords = torch.stack(torch.meshgrid([torch.arange(ws), torch.arange(ws)], indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += ws - 1
    rel[:, :, 1] += ws - 1
    rel[:, :, 0] *= 2 * ws - 1
    return rel.sum(-1)


def official_shift_mask(h, w, ws, shift):
    img = torch.zeros((1, h, w, 1))
    cnt = 0
    for hs in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
        for wsl in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
            img[:, hs, wsl, :] = cnt
            cnt += 1
    windows = official_window_partition(img, ws).view(-1, ws * ws)
    mask = windows.unsqueeze(1) - windows.unsqueeze(2)
    return mask.masked_fill(mask != 0, float(-100.0)).masked_fill(mask == 0, float(0.0))


def official_swin_block(sd, name, x, res, heads, ws, shift):
    h, w = res
    b, n, c = x.shape
    shortcut = x
    x = _layer_norm(sd, f"{name}.norm1", x, 1e-5).view(b, h, w, c)
    if shift:
        x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
    windows = official_window_partition(x, ws).view(-1, ws * ws, c)
    bw, nw_tokens, _ = windows.shape
    qkv = _linear(sd, f"{name}.attn.qkv", windows).reshape(bw, nw_tokens, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0] * (c // heads) ** -0.5, qkv[1], qkv[2]
    attn = q @ k.transpose(-2, -1)
    table = sd[f"{name}.attn.relative_position_bias_table"]
    bias = table[official_relative_index(ws).view(-1)].view(ws * ws, ws * ws, -1).permute(2, 0, 1).contiguous()
    attn = attn + bias.unsqueeze(0)
    if shift:
        mask = official_shift_mask(h, w, ws, shift)
        nw = mask.shape[0]
        attn = (attn.view(bw // nw, nw, heads, nw_tokens, nw_tokens) + mask.unsqueeze(1).unsqueeze(0)).view(-1, heads, nw_tokens, nw_tokens)
    attn = attn.softmax(dim=-1)
    y = _linear(sd, f"{name}.attn.proj", (attn @ v).transpose(1, 2).reshape(bw, nw_tokens, c))
    y = official_window_reverse(y.view(-1, ws, ws, c), ws, h, w)
    if shift:
        y = torch.roll(y, shifts=(shift, shift), dims=(1, 2))
    x = shortcut + y.view(b, h * w, c)
    return x + _linear(sd, f"{name}.mlp.fc2", F.gelu(_linear(sd, f"{name}.mlp.fc1", _layer_norm(sd, f"{name}.norm2", x, 1e-5))))


def official_swin(sd, name, x, scale, res=(28, 28), heads=4, ws=4):
    b, c, h, w = x.shape
    x = x.flatten(2).transpose(1, 2)  # 'b c h w -> b (h w) c'
    for layer in range(2):
        shortcut = x
        for block in range(2):
            x = official_swin_block(sd, f"{name}.layers.{layer}.blocks.{block}", x, res, heads, ws, 0 if block % 2 == 0 else ws // 2)
        grid = x.transpose(1, 2).reshape(b, c, h, w)
        conv = F.conv2d(grid, sd[f"{name}.layers.{layer}.conv.weight"], sd[f"{name}.layers.{layer}.conv.bias"], padding=1)
        x = scale * F.relu(conv).flatten(2).transpose(1, 2) + shortcut
    return x.transpose(1, 2).reshape(b, c, h, w)


def official_maniqa(sd, x, scale):
    outputs = official_vit_block_outputs(sd, x)
    f = torch.cat([outputs[i][:, 1:] for i in (6, 7, 8, 9)], dim=2).transpose(1, 2)  # b c (h w)
    for i in range(2):
        f = official_tablock(sd, f"tablock1.{i}", f)
    f = F.conv2d(f.reshape(f.shape[0], -1, 28, 28), sd["conv1.weight"], sd["conv1.bias"])
    f = official_swin(sd, "swintransformer1", f, scale).flatten(2)
    for i in range(2):
        f = official_tablock(sd, f"tablock2.{i}", f)
    f = F.conv2d(f.reshape(f.shape[0], -1, 28, 28), sd["conv2.weight"], sd["conv2.bias"])
    f = official_swin(sd, "swintransformer2", f, scale).flatten(2).transpose(1, 2)  # b (h w) c
    scores, patch_scores = [], []
    for i in range(f.shape[0]):
        s = F.relu(_linear(sd, "fc_score.3", F.relu(_linear(sd, "fc_score.0", f[i]))))
        w = torch.sigmoid(_linear(sd, "fc_weight.3", F.relu(_linear(sd, "fc_weight.0", f[i]))))
        scores.append(torch.sum(s * w) / torch.sum(w))
        patch_scores.append(s[:, 0])
    return torch.stack(scores), torch.stack(patch_scores)


def test_forward_equals_a_transcription_of_the_official_one(random_net):
    """One 224×224 image (a ViT-B/8 pass costs seconds on one thread): the project's network and
    the transcription, same weights, same input, same score to 1e-5."""
    from skimage import data

    x = torch.from_numpy(maniqa.study_input(data.astronaut()))
    with torch.no_grad():
        ours = random_net(x)
        official, patch_scores = official_maniqa(random_net.state_dict(), x, scale=0.13)
    # The score averages 784 patch scores that differ, so it is no constant of the head's biases.
    assert float(patch_scores.std()) > 1e-3
    torch.testing.assert_close(ours, official, rtol=0, atol=1e-5)
