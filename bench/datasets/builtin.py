"""The embedded default data, generated from the photos scikit-image ships (no download, ever).

Written once into a cache folder, in the same layouts the real data uses, so that the same
loaders read it:

- ``blur_triplets/``: 6 sharp 256×256 crops of natural photos, each with a motion-blurred
  version (random camera-shake trajectory kernel) and a defocus-blurred version (disk PSF),
  pixel-aligned with the sharp image, Gaussian noise σ = 1 gray level, kernels stored beside the
  blurred images as ``<stem>.psf.npy``.
- ``lr_sets/<domain>/<set>/``: 14 sets in 5 domains, 5 images each; HR crops of 192×192 in
  ``HR/``, LR images beside them, made with the classical degradation ``(k ⊛ y)↓s + n``
  (blur, s-fold subsampling, noise), one degradation per set, described in ``degradation.json``
  with the kernel in ``kernel.psf.npy``.

Same seed → byte-identical files (Pillow writes no timestamps; all randomness comes from one
``numpy.random.Generator``).

A second collection, ``builtin-x8`` (:func:`generate_x8`), holds 5 LR sets at ×8, one per domain,
5 images each: HR crops of 512×512 and LR images of 64×64. An ×8 set made from the 192×192 crops
would have 24×24 inputs, too small for the techniques (MoESR fine-tunes on crops of at least 64
pixels; BlindSR's official patches are 200 pixels) and its 192-pixel outputs too small for NIQE's
skvideo variant (more than 193 pixels a side). 64×64 inputs give 512×512 outputs, which every
metric scores. It is generated into its own folder (``builtin-x8-v1-seed{seed}``), on first use,
with its own random generator: the 14 sets above and their folder ``builtin-v1-seed{seed}`` are
unchanged byte for byte (a test keeps their digest).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import convolve

from restorebench.metrics.imageio import save_png
from restorebench.metrics.matlab import imresize
from restorebench.models.kernels import anisotropic_gaussian_kernel, disk_kernel, gaussian_kernel, motion_kernel

VERSION = 1
X8_VERSION = 1
TRIPLET_SOURCES = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "motorcycle_right")
TRIPLET_SIZE = 256
HR_SIZE = 192
X8_HR_SIZE = 512  # LR 64×64 at ×8 (see the module docstring)
IMAGES_PER_SET = 5


@dataclass(frozen=True)
class LRSet:
    domain: str
    name: str
    sources: tuple[str, ...]
    scale: int
    kernel: str  # iso | aniso | motion
    noise: float  # σ in gray levels
    kernel_size: int = 21  # Gaussian kernels (motion kernels: 9 + 4·scale)


LR_SETS: tuple[LRSet, ...] = (
    LRSet("natural", "portraits-x2-iso", ("astronaut", "chelsea"), 2, "iso", 0.0),
    LRSet("natural", "objects-x4-aniso", ("coffee", "rocket"), 4, "aniso", 0.0),
    LRSet("natural", "street-x2-motion", ("motorcycle_left", "motorcycle_right"), 2, "motion", 0.0),
    LRSet("astronomy", "deepfield-x2-iso-noise", ("hubble_deep_field",), 2, "iso", 3.0),
    LRSet("astronomy", "moon-x4-iso", ("moon",), 4, "iso", 0.0),
    LRSet("astronomy", "deepfield-x4-aniso", ("hubble_deep_field",), 4, "aniso", 0.0),
    LRSet("medical", "histology-x2-aniso", ("immunohistochemistry",), 2, "aniso", 0.0),
    LRSet("medical", "retina-x4-iso-noise", ("retina",), 4, "iso", 2.0),
    LRSet("medical", "cells-x2-motion", ("cell",), 2, "motion", 0.0),
    LRSet("documents", "page-x2-iso", ("page",), 2, "iso", 0.0),
    LRSet("documents", "text-x4-motion-noise", ("text",), 4, "motion", 2.0),
    LRSet("textures", "brick-x2-aniso-noise", ("brick",), 2, "aniso", 3.0),
    LRSet("textures", "grass-x4-iso", ("grass",), 4, "iso", 0.0),
    LRSet("textures", "gravel-x2-motion", ("gravel",), 2, "motion", 0.0),
)


# ×8: one set per domain; several photos per set so that its images differ (512-pixel crops of a
# 512-pixel photo would not). Kernels of 41 taps keep the ×8 Gaussians (σ up to ≈ 6.7) untruncated
# to ±3σ.
X8_SETS: tuple[LRSet, ...] = (
    LRSet("natural", "photos-x8-iso", ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left"), 8, "iso", 0.0, 41),
    LRSet("astronomy", "sky-x8-aniso", ("hubble_deep_field", "moon"), 8, "aniso", 0.0, 41),
    LRSet("medical", "tissue-x8-motion", ("immunohistochemistry", "retina", "cell"), 8, "motion", 0.0, 41),
    LRSet("documents", "print-x8-iso-noise", ("page", "text"), 8, "iso", 2.0, 41),
    LRSet("textures", "surfaces-x8-aniso-noise", ("brick", "grass", "gravel"), 8, "aniso", 2.0, 41),
)


# Files that scikit-image ships inside its package (skimage/data/), read directly so that nothing
# can ever trigger one of skimage's download helpers.
SOURCE_FILES = {
    "astronaut": "astronaut.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "rocket": "rocket.jpg",
    "motorcycle_left": "motorcycle_left.png",
    "motorcycle_right": "motorcycle_right.png",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "moon": "moon.png",
    "immunohistochemistry": "ihc.png",
    "retina": "retina.jpg",
    "cell": "cell.png",
    "page": "page.png",
    "text": "text.png",
    "brick": "brick.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
}


def _source(name: str) -> np.ndarray:
    from skimage import data

    with Image.open(Path(data.data_dir) / SOURCE_FILES[name]) as img:
        image = np.asarray(img.convert("RGB") if img.mode not in ("L", "RGB") else img)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3]).astype(np.uint8)


def _fit(image: np.ndarray, min_side: int) -> np.ndarray:
    """Upscale (MATLAB bicubic) so that the shorter side is at least ``min_side``."""
    short = min(image.shape[:2])
    if short >= min_side:
        return image
    factor = min_side / short
    h, w = image.shape[:2]
    return imresize(image, output_shape=(max(min_side, round(h * factor)), max(min_side, round(w * factor))))


def _crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    h, w = image.shape[:2]
    top = int(rng.integers(0, h - size + 1))
    left = int(rng.integers(0, w - size + 1))
    return image[top : top + size, left : left + size]


def _blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    channels = [convolve(image[:, :, c].astype(np.float64), kernel, mode="reflect") for c in range(3)]
    return np.stack(channels, axis=2)


def _quantise(image: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    if noise > 0:
        image = image + rng.normal(0.0, noise, image.shape)
    return np.clip(np.floor(image + 0.5), 0, 255).astype(np.uint8)


def _blur_sampled(image: np.ndarray, kernel: np.ndarray, scale: int, offset: int) -> np.ndarray:
    """``_blur(image, kernel)[offset::scale, offset::scale]`` computed only where it is sampled
    (the same sums in another order: equal to rounding error)."""
    kh, kw = kernel.shape
    padded = np.pad(image.astype(np.float64), ((kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)), mode="symmetric")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(0, 1))[offset::scale, offset::scale]
    return np.einsum("ijckl,kl->ijc", windows, kernel[::-1, ::-1])  # convolution: the kernel flipped


def _kernel(kind: str, scale: int, rng: np.random.Generator, size: int = 21) -> np.ndarray:
    if kind == "iso":
        return gaussian_kernel(float(rng.uniform(0.6, 1.2)) * scale / 2 + 0.4, size=size)
    if kind == "aniso":
        sx, sy = rng.uniform(0.6, 1.6, size=2) * scale / 2 + 0.3
        return anisotropic_gaussian_kernel(float(sx), float(sy), float(rng.uniform(0, np.pi)), size=size)
    return motion_kernel(rng, size=9 + 4 * scale, length=0.8)


def _write_triplets(root: Path, rng: np.random.Generator) -> None:
    for folder in ("sharp", "motion_blurred", "defocused_blurred"):
        (root / folder).mkdir(parents=True)
    for number, name in enumerate(TRIPLET_SOURCES, start=1):
        sharp = _crop(_fit(_source(name), 320), TRIPLET_SIZE, rng)
        stem = f"{number}_BUILTIN"
        save_png(sharp, root / "sharp" / f"{stem}_S.png", compress_level=6)
        motion = motion_kernel(rng, size=int(rng.choice([15, 19, 23])), length=0.8)
        defocus = disk_kernel(float(rng.uniform(2.5, 4.5)))
        for folder, kind, kernel in (("motion_blurred", "M", motion), ("defocused_blurred", "F", defocus)):
            blurred = _quantise(_blur(sharp, kernel), rng, 1.0)
            save_png(blurred, root / folder / f"{stem}_{kind}.png", compress_level=6)
            np.save(root / folder / f"{stem}_{kind}.psf.npy", kernel)


def _blur_then_sample(image: np.ndarray, kernel: np.ndarray, scale: int, offset: int) -> np.ndarray:
    return _blur(image, kernel)[offset::scale, offset::scale]


def _write_lr_sets(root: Path, rng: np.random.Generator, *, sets: tuple[LRSet, ...] = LR_SETS, hr_size: int = HR_SIZE,
                   source_side: int = HR_SIZE + 16, degrade=_blur_then_sample) -> None:
    """Write ``sets``: HR crops of ``hr_size`` from the sources enlarged to at least
    ``source_side``; ``degrade(hr, kernel, scale, offset)`` is the blurred, subsampled image."""
    for lr_set in sets:
        set_dir = root / lr_set.domain / lr_set.name
        (set_dir / "HR").mkdir(parents=True)
        kernel = _kernel(lr_set.kernel, lr_set.scale, rng, lr_set.kernel_size)
        np.save(set_dir / "kernel.psf.npy", kernel)
        sources = [_fit(_source(s), source_side) for s in lr_set.sources]
        for index in range(IMAGES_PER_SET):
            hr = _crop(sources[index % len(sources)], hr_size, rng)
            offset = (lr_set.scale - 1) // 2  # sample the centre of each s×s cell
            lr = _quantise(degrade(hr, kernel, lr_set.scale, offset), rng, lr_set.noise)
            save_png(hr, set_dir / "HR" / f"{index + 1:03d}.png", compress_level=6)
            save_png(lr, set_dir / f"{index + 1:03d}.png", compress_level=6)
        meta = {
            "domain": lr_set.domain,
            "set": lr_set.name,
            "sources": [f"skimage/data/{SOURCE_FILES[s]}" for s in lr_set.sources],
            "scale": lr_set.scale,
            "kernel": lr_set.kernel,
            "kernel_size": list(kernel.shape),
            "noise_sigma": lr_set.noise,
            "model": "LR = round((k * HR)[offset::s, offset::s] + n), reflect boundary",
        }
        (set_dir / "degradation.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def generate(root: Path, *, seed: int = 0) -> None:
    """Write the builtin data into the empty folder ``root``."""
    rng = np.random.default_rng(seed)
    _write_triplets(root / "blur_triplets", rng)
    _write_lr_sets(root / "lr_sets", rng)


def generate_x8(root: Path, *, seed: int = 0) -> None:
    """Write the ×8 LR sets into ``root/lr_sets`` (an empty folder ``root``). Sources are enlarged
    to 640 pixels so that the 512-pixel crops of one photo differ; only the sampled pixels of the
    blurred HR image are computed (41-tap kernels on 512×512 images)."""
    rng = np.random.default_rng([seed, 8])  # its own stream: independent of the ×2/×4 data
    _write_lr_sets(root / "lr_sets", rng, sets=X8_SETS, hr_size=X8_HR_SIZE, source_side=X8_HR_SIZE * 5 // 4,
                   degrade=_blur_sampled)


#: The builtin collections: ``source:`` value in a spec → (version, generator).
COLLECTIONS = {"builtin": (VERSION, generate), "builtin-x8": (X8_VERSION, generate_x8)}


def tree_digest(root: Path) -> str:
    """sha256 over the relative paths and contents of every file below ``root``: a PNG's decoded
    pixels (mode, size and bytes), a float ``.npy`` array's values rounded to 9 decimals, any
    other file's bytes.

    What the data are, not how they were encoded: Pillow's zlib-ng compresses the same pixels
    into different bytes on different CPUs (seen: an x86-64-v3 machine and the CI's gave different
    file digests for identical images, whose scores agreed to 10⁻¹³), and numpy's ``exp``/``sin``/
    ``cos`` in the kernels may differ by a few ulp between CPUs' vector instruction sets."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "MANIFEST.json"):
        digest.update(str(path.relative_to(root)).encode())
        if path.suffix.lower() == ".png":
            with Image.open(path) as image:
                image.load()
                content = f"{image.mode} {image.size}".encode() + image.tobytes()
        elif path.suffix.lower() == ".npy":
            array = np.load(path, allow_pickle=False)
            # (+ 0.0: a tiny value of either sign rounds to 0, and −0.0 has other bytes)
            values = np.round(array, 9) + 0.0 if np.issubdtype(array.dtype, np.floating) else array
            content = f"{array.dtype.str} {array.shape}".encode() + np.ascontiguousarray(values).tobytes()
        else:
            content = path.read_bytes()
        digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


def ensure_builtin(cache: Path, *, seed: int = 0, collection: str = "builtin") -> Path:
    """Folder of the builtin data (``collection``: a key of :data:`COLLECTIONS`) for ``seed``,
    generating it first if needed.

    Generation writes into a temporary sibling and renames it into place, so a killed generation
    never leaves a half-written dataset and concurrent runs do not clash.
    """
    version, generator = COLLECTIONS[collection]
    target = cache / f"{collection}-v{version}-seed{seed}"
    if (target / "MANIFEST.json").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache))
    try:
        generator(tmp, seed=seed)
        manifest = {"version": version, "seed": seed, "sha256": tree_digest(tmp)}
        (tmp / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished first; its copy is identical
            if not (target / "MANIFEST.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
