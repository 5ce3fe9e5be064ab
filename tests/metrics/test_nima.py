"""NIMA: official checkpoint layout, loading through the real weights path, determinism,
batching, and the message when the file is missing.

No official weights are used (nor downloaded): a random-initialised network is saved in
IQA-PyTorch's layout (``{"params": state_dict}``). The catalogue entry keeps its official URL
and component; only its file name is replaced by one carrying the test file's own sha256
prefix, so that the real resolution path — search folders, hub-prefix hash check,
``torch.load(weights_only=True)``, strict key match — runs unchanged.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from restorebench import metrics  # noqa: E402
from restorebench.metrics import nima, weights  # noqa: E402
from restorebench.metrics.errors import WeightsUnavailableError  # noqa: E402

MANIFEST = Path(nima.__file__).parent / "data" / "nima_manifest.json"
KEY = nima.WEIGHT_FILES["inception_resnet_v2"].key


@pytest.fixture(autouse=True)
def isolated_weights(weights_dir):
    """Search only a temporary folder (never the user's real weights)."""
    nima._load.cache_clear()
    yield weights_dir
    nima._load.cache_clear()


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
    code = "import metrics.nima, sys; print('torch' in sys.modules or 'timm' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
