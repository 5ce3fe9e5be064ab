"""MANIQA: official layout and parameter count, loading through the weights manager (including
the torch-hub hash prefix of ``MANIQA_PIPAL-ae6d356b.pth``), both protocols, determinism, and the
errors a user sees.

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

from restorebench.metrics.component import ParameterError

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from restorebench import metrics  # noqa: E402
from restorebench.metrics import maniqa, weights  # noqa: E402
from restorebench.metrics.errors import WeightsUnavailableError  # noqa: E402
from restorebench.metrics.weights import sha256_file  # noqa: E402

MANIFEST_PATH = maniqa.__file__.replace("maniqa.py", "data/maniqa_manifest.json")
OFFICIAL_PARAMETERS = 135_747_530


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def isolated(weights_dir):
    maniqa.load_network.cache_clear()
    yield weights_dir
    maniqa.load_network.cache_clear()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A random MANIQA saved as the official training script saves it (DataParallel state dict)."""
    torch.manual_seed(0)
    net = maniqa.build("pipal")
    with torch.no_grad():
        net.fc_score[3].bias.fill_(0.5)  # scores of order 1, not ~0
    path = tmp_path_factory.mktemp("maniqa") / "random.pth"
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, path)
    del net
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
