"""The ×8 builtin LR sets: sizes every technique and metric can use, the degradation they declare,
and the ×2/×4 builtin data left byte for byte as it was."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from restorebench.bench.datasets import cache_root, lr_sets
from restorebench.bench.datasets.builtin import X8_SETS, _blur, _blur_sampled, ensure_builtin, tree_digest
from restorebench.bench.spec import DatasetSpec, SpecError, load_spec

# tree_digest of `builtin-v1-seed0` (pixels and kernel values, not file bytes: PNG bytes differ
# between CPUs), as generated before the ×8 sets were added: the ×8 collection must not change
# it. (Before 2026-12-02 the digest was over file bytes: 4d6c6e98…, ec3f2748… on the CI's machine.)
BUILTIN_V1_SEED0 = "783b21954d4bd0914eb2bf5b67c1477097e77ce628844b9c8fc25b94627a3382"
# The ×8 collection's own digest (version 1): a change to its generator must bump X8_VERSION.
BUILTIN_X8_V1_SEED0 = "9bde798588c9165a4242fbaf7c4d2a327c938d7a55e1b0fd781d1a30292bff8e"


@pytest.fixture(scope="module")
def x8_root():
    return ensure_builtin(cache_root() / "data", seed=0, collection="builtin-x8")


def test_the_x2_x4_builtin_data_is_unchanged(builtin_root):
    assert builtin_root.name == "builtin-v1-seed0"
    assert tree_digest(builtin_root) == BUILTIN_V1_SEED0
    assert not any(p.name.endswith("-x8") or "-x8-" in p.name for p in (builtin_root / "lr_sets").glob("*/*"))


def test_x8_collection_is_its_own_versioned_folder(x8_root):
    assert x8_root.name == "builtin-x8-v1-seed0"
    assert json.loads((x8_root / "MANIFEST.json").read_text())["sha256"] == tree_digest(x8_root) == BUILTIN_X8_V1_SEED0


def test_x8_sets_have_64_pixel_inputs_and_512_pixel_ground_truth(x8_root):
    items = lr_sets.load(x8_root / "lr_sets", DatasetSpec(name="x8", kind="lr_sets", source="builtin-x8"))
    assert len(items) == 5 * 5
    assert {i.domain for i in items} == {"natural", "astronomy", "medical", "documents", "textures"}
    assert {i.scale for i in items} == {8}
    for item in items:
        assert Image.open(item.input_path).size == (64, 64)
        assert Image.open(item.reference_path).size == (512, 512)
    # the images of a set differ (several photos per set, crops of enlarged photos)
    for group in {i.group for i in items}:
        inputs = [np.asarray(Image.open(i.input_path)) for i in items if i.group == group]
        assert len({a.tobytes() for a in inputs}) == len(inputs)


def test_x8_inputs_follow_the_declared_degradation(x8_root):
    """LR = round((k ⊛ HR)[3::8, 3::8] + n): checked on the noise-free sets with the full-image blur
    the ×2/×4 sets use (the ×8 generator computes only the sampled pixels)."""
    for lr_set in (s for s in X8_SETS if s.noise == 0):
        folder = x8_root / "lr_sets" / lr_set.domain / lr_set.name
        kernel = np.load(folder / "kernel.psf.npy")
        assert kernel.shape[0] >= 41 and abs(kernel.sum() - 1) < 1e-9
        for name in ("001.png", "004.png"):
            hr = np.asarray(Image.open(folder / "HR" / name))
            lr = np.asarray(Image.open(folder / name))
            expected = np.clip(np.floor(_blur(hr, kernel)[3::8, 3::8] + 0.5), 0, 255)
            assert np.array_equal(lr, expected)


def test_sampled_blur_equals_the_full_blur_sampled():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (40, 48, 3)).astype(np.uint8)
    kernel = rng.random((9, 7))  # asymmetric: a correlation in place of the convolution would fail
    kernel /= kernel.sum()
    for scale, offset in ((8, 3), (2, 0), (3, 1)):
        assert np.allclose(_blur_sampled(image, kernel, scale, offset), _blur(image, kernel)[offset::scale, offset::scale], atol=1e-9)


def test_builtin_x8_is_lr_sets_only(write_spec):
    path = write_spec("name: t\ndatasets:\n  - {name: d, kind: blur_triplets, source: builtin-x8}\nmethods: [{name: identity}]\nmetrics: [psnr]\n")
    with pytest.raises(SpecError, match=r"spec.yaml:3: datasets\[0\]: 'source: builtin-x8' holds LR sets only"):
        load_spec(path)
