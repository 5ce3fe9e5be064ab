import numpy as np
import pytest
from PIL import Image

from restorebench.metrics.errors import InvalidImageError
from restorebench.metrics.imageio import as_rgb_uint8, load_image, save_png


def test_gray_png_becomes_three_equal_channels(tmp_path):
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8)
    Image.fromarray(gray, mode="L").save(tmp_path / "g.png")
    image = load_image(tmp_path / "g.png")
    assert image.shape == (8, 8, 3) and image.dtype == np.uint8
    assert np.array_equal(image[:, :, 0], gray) and np.array_equal(image[:, :, 2], gray)


def test_rgba_png_drops_alpha(tmp_path):
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 7
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png")
    assert image.shape == (4, 5, 3)
    assert image[0, 0].tolist() == [200, 0, 0]


def test_16bit_png_is_scaled_exactly(tmp_path):
    # round(v / 257): exact at both ends, halfway values on either side of .5 (129/257 = 0.502,
    # 385/257 = 1.498, 65407/257 = 254.502) — truncating or scaling by 256 would differ
    values = np.array([[0, 257, 65535, 32896, 128, 129, 385, 386, 65406, 65407]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "d.png")
    image = load_image(tmp_path / "d.png")
    assert image[0, :, 0].tolist() == [0, 1, 255, 128, 0, 1, 1, 2, 254, 255]


def test_palette_image_is_converted(tmp_path):
    Image.new("P", (3, 3), color=1).save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").shape == (3, 3, 3)


def test_truncated_png_names_the_file(tmp_path):
    path = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(InvalidImageError, match=r"cut\.png.*(corrupt or truncated)"):
        load_image(path)


def test_not_an_image_names_the_file(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("hello")
    with pytest.raises(InvalidImageError, match=r"notes\.png: not an image"):
        load_image(path)


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(InvalidImageError, match=r"nothere\.png: cannot read"):
        load_image(tmp_path / "nothere.png")


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((4, 4, 3), np.float32), "expected uint8"),
        (np.zeros((4, 4, 5), np.uint8), "shape"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
    ],
)
def test_unusable_arrays_are_rejected(array, message):
    with pytest.raises(InvalidImageError, match=message):
        as_rgb_uint8(array)


def test_save_png_is_byte_stable(tmp_path):
    image = np.random.default_rng(1).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    a = save_png(image, tmp_path / "a.png")
    b = save_png(image, tmp_path / "b.png")
    assert a == b
    assert np.array_equal(load_image(tmp_path / "a.png"), image)
