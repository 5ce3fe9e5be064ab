"""Registration of an output to its reference by phase correlation."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import shift as nd_shift
from skimage import data

from restorebench.metrics.errors import SizeMismatchError
from restorebench.metrics.registration import Registration, apply_shift, estimate_shift, register_to


def shifted(image: np.ndarray, dy: float, dx: float) -> np.ndarray:
    moved = nd_shift(image.astype(np.float64), (dy, dx, 0), order=3, mode="nearest")
    return np.clip(np.floor(moved + 0.5), 0, 255).astype(np.uint8)


def interior_psnr(a: np.ndarray, b: np.ndarray, margin: int = 16) -> float:
    d = a[margin:-margin, margin:-margin].astype(np.float64) - b[margin:-margin, margin:-margin].astype(np.float64)
    return float(10 * np.log10(255.0**2 / np.mean(d * d)))


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return data.astronaut()[::2, ::2]  # 256×256


def test_integer_shift_is_found_and_undone_exactly(reference):
    moved = np.roll(reference, (5, -7), axis=(0, 1))
    result = register_to(moved, reference)
    assert isinstance(result, Registration)
    assert result.shift == pytest.approx((-5.0, 7.0), abs=1e-9)
    assert np.array_equal(result.image[16:-16, 16:-16], reference[16:-16, 16:-16])


def test_subpixel_shift_is_estimated_and_aligned(reference):
    moved = shifted(reference, 3.4, -5.7)
    aligned, shift = register_to(moved, reference)
    assert shift == pytest.approx((-3.4, 5.7), abs=0.15)
    before, after = interior_psnr(moved, reference), interior_psnr(aligned, reference)
    assert before < 20.0
    assert after > 30.0


def test_none_method_returns_the_image_unchanged(reference):
    moved = np.roll(reference, 3, axis=0)
    result = register_to(moved, reference, method="none")
    assert result.shift == (0.0, 0.0) and np.array_equal(result.image, moved)


def test_estimate_and_apply_are_inverse_on_a_blurred_copy(reference):
    from scipy.ndimage import gaussian_filter

    blurred = np.clip(gaussian_filter(reference.astype(np.float64), (2, 2, 0)) + 0.5, 0, 255).astype(np.uint8)
    moved = shifted(blurred, -2.0, 4.0)
    dy, dx = estimate_shift(moved, reference)
    assert (dy, dx) == pytest.approx((2.0, -4.0), abs=0.15)
    assert apply_shift(moved, (0.0, 0.0)).tobytes() == moved.tobytes()


def test_size_mismatch_and_unknown_method_are_errors(reference):
    with pytest.raises(SizeMismatchError):
        register_to(reference[:100], reference)
    with pytest.raises(ValueError, match="phase"):
        register_to(reference, reference, method="ecc")  # type: ignore[arg-type]
