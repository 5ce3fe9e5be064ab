"""NIMA, both variants: official checkpoint layouts, loading through the real weights path,
the forward pass against independent transcriptions of the official code, the study's train-mode
quirk, determinism, batching, and the message when a file is missing.

No official weights are used (nor downloaded): random-initialised networks are saved in the
official layouts — IQA-PyTorch's ``{"params": state_dict}`` and ML-Aesthetics-NIMA's bare
DenseNet-121 state dict. For ``pyiqa`` the catalogue entry keeps its official URL and component;
only its file name is replaced by one carrying the test file's own sha256 prefix, so that the
real resolution path — search folders, hub-prefix hash check, ``torch.load(weights_only=True)``,
strict key match — runs unchanged. ``dense121_all.pt`` has no published hash: its own name is used.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from restorebench import metrics
from restorebench.metrics import nima, weights
from restorebench.metrics.errors import WeightsUnavailableError

MANIFEST = Path(nima.__file__).parent / "data" / "nima_manifest.json"
KEY = nima.WEIGHT_FILES["inception_resnet_v2"].key


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def isolated_weights(weights_dir):
    """Search only a temporary folder (never the user's real weights)."""
    nima._load.cache_clear()
    nima._load_study.cache_clear()
    yield weights_dir
    nima._load.cache_clear()
    nima._load_study.cache_clear()


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory) -> bytes:
    """A random-initialised NIMA (Inception-ResNet-v2) saved as IQA-PyTorch saves it."""
    torch.manual_seed(0)
    net = nima.build_network("inception_resnet_v2")
    with torch.no_grad():  # a classifier with some spread, so that scores differ between images
        net.classifier[2].weight.normal_(0.0, 0.05)
    path = tmp_path_factory.mktemp("ckpt") / "nima.pth"
    torch.save({"params": net.state_dict()}, path)
    return path.read_bytes()


@pytest.fixture
def installed(checkpoint_bytes, isolated_weights, monkeypatch) -> Path:
    """The test checkpoint in the search folder under a hub-style name with its own hash prefix."""
    import hashlib

    prefix = hashlib.sha256(checkpoint_bytes).hexdigest()[:8]
    official = weights.CATALOGUE[KEY]
    entry = dataclasses.replace(official, filename=f"NIMA_InceptionV2_ava-{prefix}.pth")
    monkeypatch.setitem(weights.CATALOGUE, KEY, entry)
    path = isolated_weights / entry.filename
    path.write_bytes(checkpoint_bytes)
    return path


@pytest.fixture(scope="module")
def images():
    from skimage import data

    rng = np.random.default_rng(1)
    return [data.astronaut(), data.chelsea(), rng.integers(0, 256, (120, 200, 3), dtype=np.uint8)]


def test_catalogue_names_the_official_files_and_release():
    for backbone, filename in (("inception_resnet_v2", "NIMA_InceptionV2_ava-b0c77c00.pth"), ("vgg16", "NIMA_VGG16_ava-dc4e8265.pth")):
        wf = weights.CATALOGUE[nima.WEIGHT_FILES[backbone].key]
        assert wf.filename == filename
        assert wf.url == f"https://github.com/chaofengc/IQA-PyTorch/releases/download/v0.1-weights/{filename}"
        assert wf.hub_prefix == filename.rsplit("-", 1)[1].split(".")[0]


@pytest.mark.parametrize("backbone", ["inception_resnet_v2", "vgg16"])
def test_architecture_matches_the_official_checkpoint_manifest(backbone):
    manifest = json.loads(MANIFEST.read_text())["backbones"][backbone]
    net = nima.build_network(backbone)
    ours = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert list(ours) == list(manifest["keys"])
    assert ours == manifest["keys"]
    assert nima.input_size(net) == manifest["input_size"]
    assert list(nima.normalisation(net)[0]) == manifest["mean"]
    head = "classifier.2.weight"
    assert ours[head] == [10, 1536 if backbone == "inception_resnet_v2" else 512]


def test_missing_file_names_file_source_and_destination(isolated_weights, images):
    with pytest.raises(WeightsUnavailableError) as info:
        metrics.get("nima")(images[0])
    message = str(info.value)
    assert "NIMA_InceptionV2_ava-b0c77c00.pth" in message
    assert "https://github.com/chaofengc/IQA-PyTorch/releases/download/v0.1-weights/NIMA_InceptionV2_ava-b0c77c00.pth" in message
    assert str(isolated_weights) in message
    assert info.value.filename == "NIMA_InceptionV2_ava-b0c77c00.pth"


def test_file_under_the_official_name_with_other_content_is_rejected(checkpoint_bytes, isolated_weights, images):
    (isolated_weights / "NIMA_InceptionV2_ava-b0c77c00.pth").write_bytes(checkpoint_bytes)
    with pytest.raises(WeightsUnavailableError, match="not the official one"):
        metrics.get("nima")(images[0])


def test_scores_through_the_real_loading_path(installed, images):
    metric = metrics.get("nima")
    first = [metric(im) for im in images]
    batched = metric.score_many(images)
    assert metric(images[0]) == first[0]  # deterministic
    assert np.allclose(batched, first, rtol=0, atol=1e-5)  # batch of 3 = one by one
    assert all(1.0 <= s <= 10.0 for s in first)
    assert len({round(s, 6) for s in first}) == 3  # not a constant
    detail = metric.score(images[0])
    assert detail.mean == pytest.approx(first[0], abs=1e-12)
    assert sum(detail.distribution) == pytest.approx(1.0, abs=1e-6)
    assert 0.0 < detail.std < 4.5


def test_model_runs_in_eval_mode(installed):
    net = nima.load_network("inception_resnet_v2", device="cpu")
    assert not any(m.training for m in net.modules())


def test_wrong_layout_is_reported_as_not_official(isolated_weights, monkeypatch, images):
    import hashlib

    path = isolated_weights / "bad.pth"
    torch.save({"params": {"classifier.2.weight": torch.zeros(10, 1536)}}, path)
    prefix = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    entry = dataclasses.replace(weights.CATALOGUE[KEY], filename=f"NIMA_InceptionV2_ava-{prefix}.pth")
    monkeypatch.setitem(weights.CATALOGUE, KEY, entry)
    path.rename(isolated_weights / entry.filename)
    with pytest.raises(WeightsUnavailableError, match="layout"):
        metrics.get("nima")(images[0])


def test_moments_of_known_distributions():
    one_hot = np.zeros((1, 10))
    one_hot[0, 6] = 1.0
    mean, std = nima.moments(one_hot)
    assert (mean[0], std[0]) == (7.0, 0.0)
    mean, std = nima.moments(np.full((1, 10), 0.1))
    assert mean[0] == pytest.approx(5.5) and std[0] == pytest.approx(np.sqrt(8.25))


def test_checkpoint_params_unwraps_params_and_dataparallel_prefix():
    t = torch.zeros(1)
    assert list(nima.checkpoint_params({"params": {"module.base_model.x": t}})) == ["base_model.x"]
    assert list(nima.checkpoint_params({"base_model.x": t})) == ["base_model.x"]


def test_unknown_backbone_is_rejected():
    with pytest.raises(ValueError, match="vgg16"):
        metrics.get("nima", backbone="resnet50")


def test_import_does_not_load_torch_or_timm():
    code = "import restorebench.metrics.nima, sys; print([m for m in ('torch', 'timm', 'torchvision') if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# --- pyiqa: the forward pass against a transcription of IQA-PyTorch's NIMA ---------------------------

def pyiqa_transcription(state: dict, image: np.ndarray) -> float:
    """IQA-PyTorch's ``NIMA.forward`` (pyiqa/archs/nima_arch.py) on the documented test input:
    shorter side → 299 (bilinear, antialiased), centre crop, ``(x − 0.5)/0.5``, the last timm
    feature map, global mean, ``Linear``, softmax, ``Σ i·p_i``."""
    import timm
    from torchvision.transforms import functional as TF

    backbone = timm.create_model("inception_resnet_v2", pretrained=False, features_only=True)
    backbone.load_state_dict({k[len("base_model."):]: v for k, v in state.items() if k.startswith("base_model.")})
    backbone.eval()
    x = torch.from_numpy(image.astype(np.float32) / 255).permute(2, 0, 1)[None]
    x = TF.center_crop(TF.resize(x, 299, interpolation=TF.InterpolationMode.BILINEAR, antialias=True), 299)
    x = (x - 0.5) / 0.5
    with torch.no_grad():
        pooled = backbone(x)[-1].mean(dim=(2, 3))
        dist = torch.softmax(pooled @ state["classifier.2.weight"].T + state["classifier.2.bias"], dim=-1)
    return float((dist[0].double() * torch.arange(1, 11, dtype=torch.float64)).sum())


def test_pyiqa_forward_equals_a_transcription_of_the_official_one(installed, checkpoint_bytes, images):
    import io

    state = torch.load(io.BytesIO(checkpoint_bytes), weights_only=True)["params"]
    image = images[1]  # 451×300: resized and cropped
    assert metrics.get("nima")(image) == pytest.approx(pyiqa_transcription(state, image), abs=1e-5)


# --- study: ML-Aesthetics-NIMA's DenseNet-121, as the SinGAN study ran it ---------------------------

@pytest.fixture(scope="module")
def study_state() -> dict:
    """A random-initialised study network's state dict, as ML-Aesthetics-NIMA saved its weights."""
    torch.manual_seed(3)
    net = nima.build_study_network()
    with torch.no_grad():  # spread in the head and in the running statistics, so modes differ
        net.classifier[0].weight.normal_(0.0, 0.5)
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    return net.state_dict()


@pytest.fixture
def study_installed(study_state, isolated_weights) -> Path:
    path = isolated_weights / "dense121_all.pt"
    torch.save(study_state, path)
    return path


def main_py_transcription(state: dict, image: np.ndarray, *, eval_mode: bool = False) -> float:
    """``rate()`` of ML-Aesthetics-NIMA's main.py: densenet121 with a Linear + Softmax classifier,
    ``load_state_dict``, ``Resize(224)``, ``CenterCrop(224)``, ``ToTensor()`` on the PIL image,
    the network called under ``no_grad`` without ``.eval()`` (``eval_mode`` adds it)."""
    from PIL import Image
    from torch import nn
    from torchvision import models, transforms

    model_ft = models.densenet121(weights=None)
    model_ft.classifier = nn.Sequential(nn.Linear(model_ft.classifier.in_features, 10), nn.Softmax(1))
    model_ft.load_state_dict(state)
    if eval_mode:
        model_ft.eval()
    transform = transforms.Compose([transforms.Resize(224), transforms.CenterCrop(224), transforms.ToTensor()])
    img = transform(Image.fromarray(image))
    with torch.no_grad():
        scores = model_ft(img.view(1, 3, 224, 224))
        return float(torch.matmul(scores, torch.arange(10, dtype=torch.float) + 1))


@pytest.fixture(scope="module")
def study_images():
    from skimage import data

    return [data.chelsea(), data.astronaut()[:300, :257], np.random.default_rng(4).integers(0, 256, (225, 301, 3), dtype=np.uint8)]


def test_study_layout_matches_the_manifest():
    manifest = json.loads(MANIFEST.read_text())["study"]
    net = nima.build_study_network()
    assert {k: list(v.shape) for k, v in net.state_dict().items()} == manifest["keys"]
    assert list(net.state_dict()) == list(manifest["keys"])
    assert manifest["keys"]["classifier.0.weight"] == [10, 1024] and manifest["filename"] == "dense121_all.pt"
    assert weights.CATALOGUE["nima-study-densenet121"].url == manifest["url"]


def test_study_variant_equals_main_py_in_train_mode(study_installed, study_state, study_images):
    metric = metrics.get("nima", variant="study")
    assert metric.options == {"variant": "study", "network_mode": "train"}
    ours = [metric(im) for im in study_images]
    expected = [main_py_transcription(study_state, im) for im in study_images]
    assert ours == pytest.approx(expected, abs=1e-5)
    assert len({round(v, 5) for v in ours}) == 3  # the images are told apart
    # Train-mode BatchNorm normalises by the batch: scored together the images must not mix.
    assert metric.score_many(study_images) == pytest.approx(ours, abs=1e-6)


def test_study_eval_mode_is_the_trained_model_and_differs_from_train_mode(study_installed, study_state, study_images):
    train, evaluation = metrics.get("nima", variant="study"), metrics.get("nima", variant="study", network_mode="eval")
    eval_net = nima.load_study_network(mode="eval", device="cpu")
    assert not any(m.training for m in eval_net.modules())
    assert all(m.training for m in nima.load_study_network(mode="train", device="cpu").modules())
    buffers = {k: v.clone() for k, v in eval_net.state_dict().items()}
    train(study_images[0])  # a train-mode pass updates its own network's BatchNorm buffers only
    assert all(torch.equal(buffers[k], v) for k, v in eval_net.state_dict().items())
    ours = evaluation.score_many(study_images)
    assert ours == pytest.approx([main_py_transcription(study_state, im, eval_mode=True) for im in study_images], abs=1e-5)
    assert abs(ours[0] - train(study_images[0])) > 1e-3
    assert train.code_version != evaluation.code_version


def test_study_input_is_mains_preprocessing():
    from PIL import Image
    from torchvision import transforms

    image = np.random.default_rng(5).integers(0, 256, (301, 225, 3), dtype=np.uint8)  # portrait, odd margin
    expected = transforms.Compose([transforms.Resize(224), transforms.CenterCrop(224), transforms.ToTensor()])(Image.fromarray(image))
    assert torch.equal(nima.study_input(image)[0], expected)


def test_study_missing_or_foreign_file(isolated_weights, checkpoint_bytes, study_images):
    with pytest.raises(WeightsUnavailableError) as info:
        metrics.get("nima", variant="study")(study_images[0])
    assert "dense121_all.pt" in str(info.value) and nima.STUDY_WEIGHTS.url in str(info.value)
    (isolated_weights / "dense121_all.pt").write_bytes(checkpoint_bytes)  # IQA-PyTorch's layout
    with pytest.raises(WeightsUnavailableError, match="layout of ML-Aesthetics-NIMA"):
        metrics.get("nima", variant="study")(study_images[0])


def test_variant_options_are_validated():
    with pytest.raises(ValueError, match="expected 'pyiqa' or 'study'"):
        metrics.get("nima", variant="ava")
    with pytest.raises(ValueError, match="eval mode only"):
        metrics.get("nima", network_mode="train")
    with pytest.raises(ValueError, match="DenseNet-121"):
        metrics.get("nima", variant="study", backbone="vgg16")
    with pytest.raises(ValueError, match="network_mode"):
        metrics.get("nima", variant="study", network_mode="test")
    assert metrics.get("nima").options == {"variant": "pyiqa", "backbone": "inception_resnet_v2"}
