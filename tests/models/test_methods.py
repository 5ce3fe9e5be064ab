import numpy as np
import pytest
from PIL import Image

from restorebench import metrics
from restorebench import models
from restorebench.metrics.errors import UnknownNameError
from restorebench.models import RestoreContext


def test_unknown_method_suggests_the_closest_name():
    with pytest.raises(UnknownNameError, match="unknown method 'lanczoz'. Did you mean 'lanczos'"):
        models.get("lanczoz")


def test_code_version_depends_on_params():
    a = models.get("wiener", balance=0.01).code_version
    b = models.get("wiener", balance=0.02).code_version
    assert a != b and a == models.get("wiener", balance=0.01).code_version


def test_identity_replicates_pixels_for_sr():
    image = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    method = models.get("identity")
    method.prepare(RestoreContext(task="sr", scale=3))
    out = method.restore(image)
    assert out.shape == (6, 6, 3) and np.array_equal(out[::3, ::3], image)
    method.prepare(RestoreContext(task="deblur"))
    assert np.array_equal(method.restore(image), image)


@pytest.mark.parametrize("name", ["bicubic", "lanczos"])
def test_interpolation_beats_pixel_replication_on_builtin_sr(builtin_root, name):
    set_dir = builtin_root / "lr_sets" / "natural" / "portraits-x2-iso"
    lr = np.asarray(Image.open(set_dir / "001.png"))
    hr = np.asarray(Image.open(set_dir / "HR" / "001.png"))
    psnr = metrics.get("psnr")
    scores = {}
    for method_name in ("identity", name):
        method = models.get(method_name)
        method.prepare(RestoreContext(task="sr", scale=2))
        out = method.restore(lr)
        assert out.shape == hr.shape and out.dtype == np.uint8
        scores[method_name] = psnr(out, hr)
    assert scores[name] > scores["identity"] + 0.2


@pytest.mark.parametrize("name", ["wiener", "richardson_lucy"])
@pytest.mark.parametrize("blur", ["M", "F"])
def test_deconvolution_with_the_true_kernel_improves_psnr(builtin_root, name, blur):
    folder = {"M": "motion_blurred", "F": "defocused_blurred"}[blur]
    sharp = np.asarray(Image.open(builtin_root / "blur_triplets" / "sharp" / "2_BUILTIN_S.png"))
    blurred = np.asarray(Image.open(builtin_root / "blur_triplets" / folder / f"2_BUILTIN_{blur}.png"))
    psf = np.load(builtin_root / "blur_triplets" / folder / f"2_BUILTIN_{blur}.psf.npy")
    method = models.get(name)
    method.prepare(RestoreContext(task="deblur", psf=psf))
    restored = method.restore(blurred)
    psnr = metrics.get("psnr")
    assert restored.shape == blurred.shape and restored.dtype == np.uint8
    assert psnr(restored, sharp) > psnr(blurred, sharp) + 0.3


def test_deconvolution_falls_back_to_a_gaussian_guess():
    image = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    method = models.get("wiener", sigma=1.0)
    method.prepare(RestoreContext(task="deblur", psf=None))
    assert method.psf().shape == (7, 7)
    assert method.restore(image).shape == image.shape


def test_restore_before_prepare_is_a_clear_error():
    with pytest.raises(RuntimeError, match="call prepare"):
        models.get("bicubic").restore(np.zeros((4, 4, 3), np.uint8))
