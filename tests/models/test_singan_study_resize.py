"""The SinGAN study's resizers (``resize: study`` of the blur-triplet dataset).

``inter_area`` is OpenCV's ``INTER_AREA`` re-implemented (OpenCV is not a dependency), so it is
checked against values worked out by hand from OpenCV's definition: box averages for integer
factors (with the 8-bit 2×2 path's ``(sum + 2) >> 2``), area-weighted averages for fractional
ones (a cell of 1.5 pixels takes ⅔ of one pixel and ⅓ of the next).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorebench.bench.datasets import blur_triplets
from restorebench.bench.datasets.blur_triplets import inter_area, lanczos
from restorebench.bench.spec import DatasetSpec, load_spec

ROOT = Path(__file__).resolve().parents[2]


def rgb(gray: list[list[int]]) -> np.ndarray:
    return np.repeat(np.array(gray, dtype=np.uint8)[:, :, None], 3, axis=2)


def test_integer_factor_two_is_the_8bit_box_average_with_halves_rounded_up():
    image = rgb([[0, 1, 1, 2],
                 [2, 3, 3, 4],
                 [255, 255, 0, 0],
                 [255, 254, 0, 1]])
    # block sums 6, 10, 1019, 1 → (s + 2) >> 2 = 2, 3, 255, 0 (1.5 → 2 and 2.5 → 3: halves up)
    assert inter_area(image, (2, 2))[:, :, 0].tolist() == [[2, 3], [255, 0]]


def test_integer_factor_three_is_the_box_average_rounded_to_nearest():
    block0 = [[10, 10, 10], [10, 14, 10], [10, 10, 10]]  # sum 94 → 10.44 → 10
    block1 = [[13, 13, 13], [13, 13, 13], [13, 13, 18]]  # sum 122 → 13.56 → 14
    image = rgb([a + b for a, b in zip(block0, block1)])  # 3×6 → 1×2
    assert inter_area(image, (1, 2))[:, :, 0].tolist() == [[10, 14]]


def test_fractional_factor_weights_each_pixel_by_the_area_it_covers():
    # factor 1.5: output 0 = (2·p0 + p1)/3, output 1 = (p1 + 2·p2)/3, along each axis
    row = rgb([[0, 90, 180]])
    assert inter_area(row, (1, 2))[:, :, 0].tolist() == [[30, 150]]
    image = rgb([[30, 60, 90],
                 [60, 90, 120],
                 [90, 120, 150]])
    # along x: [40, 80], [70, 110], [100, 140]; along y: [(2·40+70)/3, (2·80+110)/3] = [50, 90],
    # [(70+2·100)/3, (110+2·140)/3] = [90, 130]
    assert inter_area(image, (2, 2))[:, :, 0].tolist() == [[50, 90], [90, 130]]


def test_the_study_photos_factors_match_the_exact_area_average():
    """4608×3456 → 256×256 (the HONOR-7X photos: factors 18 and 13.5), here 36×27 → 2×2 with
    the same factors: OpenCV's float32 result is the exact area average, rounded."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(27, 36, 3), dtype=np.uint8)
    ours = inter_area(image, (2, 2)).astype(int)
    # exact: output (i, j) averages rows [13.5 i, 13.5 (i+1)) and columns [18 j, 18 (j+1))
    weights_y = np.zeros((2, 27))
    weights_y[0, :13], weights_y[0, 13] = 1, 0.5
    weights_y[1, 13], weights_y[1, 14:] = 0.5, 1
    weights_x = np.kron(np.eye(2), np.ones(18))
    exact = np.einsum("iy,yxc,jx->ijc", weights_y / 13.5, image.astype(float), weights_x / 18)
    assert np.array_equal(ours, np.rint(exact).astype(int))


def test_inter_area_refuses_what_it_does_not_implement():
    with pytest.raises(ValueError, match="shrinks only"):
        inter_area(rgb([[1, 2]]), (2, 4))
    with pytest.raises(ValueError, match="uint8"):
        inter_area(np.zeros((4, 4, 3)), (2, 2))


def test_lanczos_antialiases_like_pillows_antialias_filter():
    stripes = rgb([[0, 255] * 8] * 16)  # one-pixel columns
    out = lanczos(stripes, (8, 8))
    assert out.shape == (8, 8, 3)
    # averaged, not sampled (0 or 255): mid-grey inside, the filter's edge handling at the borders
    assert np.abs(out[:, 2:6].astype(int) - 127).max() <= 1
    assert 60 < out.min() and out.max() < 200


def _triplet_folder(root: Path, size: int = 40) -> None:
    """A smooth photo (JPEG keeps it close) three times."""
    y, x = np.mgrid[0:size, 0:size + 8]
    photo = np.stack([x * 5, y * 6, (x + y) * 3], axis=2).astype(np.uint8)
    for folder, letter in (("sharp", "S"), ("motion_blurred", "M"), ("defocused_blurred", "F")):
        (root / folder).mkdir(parents=True)
        Image.fromarray(photo).save(root / folder / f"1_PHONE_{letter}.png")


def test_study_resize_points_items_at_the_study_versions(tmp_path):
    _triplet_folder(tmp_path)
    spec = DatasetSpec(name="t", kind="blur_triplets", root=str(tmp_path), size=16, resize="study")
    items = blur_triplets.load(tmp_path, spec)
    assert len(items) == 2
    for item in items:
        assert item.size is None  # already resized
        assert item.reference_path != item.training_path  # INTER_AREA for the reference, LANCZOS for SinGAN
        for path in (item.input_path, item.reference_path, item.training_path):
            assert path.suffix == ".jpg" and Image.open(path).size == (16, 16)
    sharp = np.asarray(Image.open(tmp_path / "sharp" / "1_PHONE_S.png"))
    reference = np.asarray(Image.open(items[0].reference_path)).astype(int)
    assert np.abs(reference - inter_area(sharp, (16, 16))).mean() < 1.5  # JPEG quality 95
    training = np.asarray(Image.open(items[0].training_path)).astype(int)
    assert np.abs(training - lanczos(sharp, (16, 16))).mean() < 3  # JPEG quality 75
    # MATLAB mode leaves the files alone and resizes when a case loads them
    matlab = blur_triplets.load(tmp_path, DatasetSpec(name="t", kind="blur_triplets", root=str(tmp_path), size=16))
    assert matlab[0].size == 16 and matlab[0].input_path == tmp_path / "motion_blurred" / "1_PHONE_M.png"


def test_an_unreadable_photo_is_left_to_its_case(tmp_path):
    _triplet_folder(tmp_path)
    (tmp_path / "motion_blurred" / "1_PHONE_M.png").write_bytes(b"not an image")
    items = blur_triplets.load(tmp_path, DatasetSpec(name="t", kind="blur_triplets", root=str(tmp_path), size=16, resize="study"))
    motion = next(i for i in items if i.blur == "motion")
    assert motion.input_path.name == "1_PHONE_M.png" and motion.size == 16  # the case reports the file
    defocus = next(i for i in items if i.blur == "defocus")
    assert defocus.size is None


def test_a_photo_smaller_than_the_size_is_a_problem_of_its_items_not_a_crash(tmp_path):
    _triplet_folder(tmp_path)
    side = min(Image.open(tmp_path / "sharp" / "1_PHONE_S.png").size)
    spec = DatasetSpec(name="t", kind="blur_triplets", root=str(tmp_path), size=side + 1, resize="study")
    items = blur_triplets.load(tmp_path, spec)
    assert len(items) == 2
    for item in items:  # the plan records both as invalid_input, naming the file and the way out
        assert "1_PHONE_S.png" in item.problem and f"smaller than size {side + 1}" in item.problem
        assert "resize: matlab" in item.problem


def test_the_paper_spec_resizes_as_the_study(tmp_path):
    # the spec points at the study's photos, not on this machine: validate a copy pointing here
    text = (ROOT / "bench" / "specs" / "paper-singan.yaml").read_text()
    assert "root: ~/data/blur_dataset" in text
    copy = tmp_path / "paper-singan.yaml"
    copy.write_text(text.replace("root: ~/data/blur_dataset", f"root: {tmp_path}"))
    spec = load_spec(copy).spec
    assert [(d.size, d.resize) for d in spec.datasets] == [(256, "study")]
