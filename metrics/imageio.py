"""Reading images and bringing arrays to the one format everything here works on.

The working format is ``uint8`` RGB, shape ``(H, W, 3)``. Conversions are explicit and
documented, never silent guesses:

- grayscale ``(H, W)`` or ``(H, W, 1)`` → the gray value repeated in R, G and B;
- RGBA / gray+alpha → alpha dropped (what Pillow's ``convert("RGB")`` does);
- 16-bit → ``round(v / 257)``, which maps 0..65535 onto 0..255 exactly at both ends;
- anything else (float arrays, other channel counts, empty arrays) is an :class:`InvalidImageError`.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from restorebench.metrics.errors import InvalidImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _from_uint16(array: np.ndarray) -> np.ndarray:
    return np.floor(array.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)


def as_rgb_uint8(image: np.ndarray, *, name: str = "image") -> np.ndarray:
    """Return ``image`` as a C-contiguous ``uint8`` array of shape ``(H, W, 3)``.

    Args:
        image: ``uint8`` or ``uint16`` array, shape ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or
            ``(H, W, 4)``.
        name: how to refer to the image in an error message (e.g. its path).
    """
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(f"{name}: expected a numpy array, got {type(image).__name__}")
    if image.size == 0:
        raise InvalidImageError(f"{name}: empty image (shape {image.shape})")
    if image.dtype == np.uint16:
        image = _from_uint16(image)
    elif image.dtype != np.uint8:
        raise InvalidImageError(
            f"{name}: expected uint8 (or uint16) pixels, got {image.dtype}; "
            "convert explicitly, e.g. skimage.util.img_as_ubyte"
        )
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] in (1, 2):  # gray, gray + alpha
        image = np.repeat(image[:, :, :1], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    elif not (image.ndim == 3 and image.shape[2] == 3):
        raise InvalidImageError(f"{name}: expected H×W, H×W×3 or H×W×4, got shape {image.shape}")
    return np.ascontiguousarray(image)


def _pil_to_array(img: Image.Image, name: str) -> np.ndarray:
    mode = img.mode
    if mode in ("RGB", "L", "RGBA", "LA"):
        return np.asarray(img)
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(img).astype(np.uint16)
    if mode == "I":  # 32-bit signed ints: 16-bit PNGs often decode to this
        array = np.asarray(img)
        if array.min() < 0 or array.max() > 65535:
            raise InvalidImageError(f"{name}: 32-bit integer pixels outside 0..65535 are not supported")
        return array.astype(np.uint16)
    if mode in ("1", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
        return np.asarray(img.convert("RGBA" if "A" in mode or "transparency" in img.info else "RGB"))
    raise InvalidImageError(f"{name}: unsupported image mode {mode!r}")


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as ``uint8`` RGB ``(H, W, 3)``; every failure names the file.

    The whole file is decoded here (Pillow decodes lazily), so a truncated or corrupt file fails
    now with a clear message, not later inside a method.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidImageError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            array = _pil_to_array(img, str(path))
    except UnidentifiedImageError:
        raise InvalidImageError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError as exc:
        raise InvalidImageError(f"{path}: refused as a decompression bomb ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, InvalidImageError):
            raise
        raise InvalidImageError(f"{path}: corrupt or truncated image ({exc})") from None
    return as_rgb_uint8(array, name=str(path))


def encode_png(image: np.ndarray, *, compress_level: int = 1, name: str = "image") -> bytes:
    """The PNG bytes of ``image`` (uint8 RGB). Pillow writes no timestamps into PNGs, so the same
    pixels always give the same bytes."""
    buffer = io.BytesIO()
    Image.fromarray(as_rgb_uint8(image, name=name)).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed into place, so that a reader
    (or a kill, or a full disk) never leaves a half-written file under the final name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half-written file behind
        raise


def save_png(image: np.ndarray, path: str | Path, *, compress_level: int = 1) -> str:
    """Write ``image`` (uint8 RGB) as PNG atomically and return the file's sha256."""
    data = encode_png(image, compress_level=compress_level, name=str(path))
    write_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
