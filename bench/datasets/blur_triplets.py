"""The public blur dataset layout: ``sharp/``, ``motion_blurred/``, ``defocused_blurred/`` with
files ``{id}_{DEVICE}_{S|M|F}.{jpg|JPG|png}`` (S sharp, M motion, F defocus).

Each complete triplet gives two items, the motion-blurred and the defocus-blurred image, both with
the sharp image as reference and training image. A kernel stored beside a blurred image as
``<stem>.psf.npy`` (the builtin data does this) is passed to non-blind methods. Incomplete
triplets are reported by name and skipped.

With ``size``, images are resized to ``size × size`` — by default (``resize: matlab``) with
MATLAB's bicubic ``imresize`` when a case loads them. ``resize: study`` resizes as the SinGAN
study did (PSR253600/NIMA_Analysis_on_Image_Deblurring_using_SinGAN):

- ``SinGAN.ipynb`` resized the photos it gave SinGAN with Pillow,
  ``Image.open(p).resize((256, 256), Image.ANTIALIAS)`` (the LANCZOS filter), saved as JPEG
  with Pillow's default quality 75: here the blurred input and the training photo;
- ``Image_Quality_Assessment.ipynb`` resized "the original sharp image ... to compute PSNR"
  with ``cv2.resize(image, (256, 256), interpolation=cv2.INTER_AREA)``, saved by
  ``cv2.imwrite`` as JPEG (OpenCV's default quality 95): here the reference.

These are prepared once when the dataset is listed (cached under ``$RESTOREBENCH_CACHE/resized``
by content, size and kind) and the items point at them. OpenCV is not a dependency:
:func:`inter_area` is OpenCV's ``INTER_AREA`` for shrinking, re-implemented exactly (the
integer-factor box average and the fractional area table, in its float32 arithmetic and
half-to-even rounding); the JPEGs are written by Pillow with the same quality (the same
libjpeg defaults: baseline, 4:2:0).
"""
from __future__ import annotations

import hashlib
import io
import math
import re
import sys
from pathlib import Path

import numpy as np

from restorebench.bench.datasets import DatasetError, Item, cache_root

FOLDERS = {"S": "sharp", "M": "motion_blurred", "F": "defocused_blurred"}
BLUR_OF = {"M": "motion", "F": "defocus"}
_NAME = re.compile(r"^(?P<id>.+)_(?P<kind>[SMF])\.(jpg|JPG|jpeg|JPEG|png|PNG)$")


def _index(folder: Path, kind: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.iterdir()):
        match = _NAME.match(path.name)
        if match and match["kind"] == kind:
            found[match["id"]] = path
    return found


def _sort_key(triplet_id: str) -> tuple:
    # natural order: "2_IPHONE" before "10_IPHONE"
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", triplet_id))


def load(root: Path, spec) -> list[Item]:
    missing_folders = [name for name in FOLDERS.values() if not (root / name).is_dir()]
    if missing_folders:
        raise DatasetError(
            f"dataset '{spec.name}': {root} is not a blur-triplet folder (missing {', '.join(f'{n}/' for n in missing_folders)})"
        )
    index = {kind: _index(root / folder, kind) for kind, folder in FOLDERS.items()}
    ids = sorted(set().union(*index.values()), key=_sort_key)
    if spec.ids:
        unknown = sorted(set(spec.ids) - set(ids))
        if unknown:
            known = ", ".join(ids[:12]) + (", …" if len(ids) > 12 else "")
            raise DatasetError(f"dataset '{spec.name}': no triplet with id {', '.join(unknown)} in {root} (ids there: {known or 'none'})")
        ids = [i for i in ids if i in set(spec.ids)]
    complete = [i for i in ids if all(i in index[k] for k in FOLDERS)]
    incomplete = [i for i in ids if i not in complete]
    if incomplete:
        print(
            f"restorebench: dataset '{spec.name}': skipping {len(incomplete)} incomplete triplet(s): "
            + ", ".join(f"{i} (missing {'/'.join(FOLDERS[k] for k in FOLDERS if i not in index[k])})" for i in incomplete[:10])
            + (" …" if len(incomplete) > 10 else ""),
            file=sys.stderr,
        )
    if spec.limit:
        complete = complete[: spec.limit]
    study = spec.size is not None and getattr(spec, "resize", "matlab") == "study"
    items = []
    for triplet_id in complete:
        sharp = index["S"][triplet_id]
        problem = None
        try:
            reference, training = (study_copy(sharp, spec.size, "reference"), study_copy(sharp, spec.size, "training")) if study else (sharp, sharp)
        except StudyResizeError as exc:
            reference = training = None
            problem = str(exc)
        for kind in ("M", "F"):
            blurred = index[kind][triplet_id]
            psf = blurred.with_name(blurred.stem + ".psf.npy")
            try:
                paths = (study_copy(blurred, spec.size, "input"), reference, training) if study else (blurred, sharp, sharp)
            except StudyResizeError as exc:
                paths, problem = (None, reference, training), problem or str(exc)
            resized = study and None not in paths
            if study and not resized:  # an unreadable file: the case loads the original and reports it
                paths = (blurred, sharp, sharp)
            items.append(
                Item(
                    dataset=spec.name,
                    task="deblur",
                    item=f"{triplet_id}/{BLUR_OF[kind]}",
                    input_path=paths[0],
                    reference_path=paths[1],
                    training_path=paths[2],
                    psf_path=psf if psf.is_file() and spec.size is None else None,
                    group=BLUR_OF[kind],
                    blur=BLUR_OF[kind],
                    size=None if resized else spec.size,
                    align=spec.align,
                    problem=problem,
                )
            )
    return items


# -- the SinGAN study's resizers -------------------------------------------------------------------

STUDY_RESIZE = {"input": ("lanczos", 75), "training": ("lanczos", 75), "reference": ("area", 95)}
"""Per role: the resizer and the JPEG quality the study's notebooks saved the result with."""


class StudyResizeError(ValueError):
    """An image the study's resizers cannot bring to the spec's size (the item is not run)."""


def study_copy(source: Path, size: int, role: str) -> Path | None:
    """The study's ``size × size`` version of ``source`` for ``role`` (a cached JPEG), or
    ``None`` when ``source`` cannot be read (the case that loads it reports why). Raises
    :class:`StudyResizeError` for a photo smaller than ``size``: the study only ever shrank its
    photos, and OpenCV's ``INTER_AREA`` enlarges with another filter, not implemented here."""
    from restorebench.metrics.errors import InvalidImageError
    from restorebench.metrics.imageio import load_image

    method, quality = STUDY_RESIZE[role]
    data = source.read_bytes() if source.is_file() else b""
    key = hashlib.sha256(data).hexdigest()[:24]
    target = cache_root() / "resized" / f"{key}-{method}{size}-q{quality}.jpg"
    if target.is_file():
        return target
    try:
        image = load_image(source)
    except InvalidImageError:
        return None
    if method == "area" and min(image.shape[:2]) < size:
        height, width = image.shape[:2]
        raise StudyResizeError(
            f"{source}: {width}×{height} is smaller than size {size}; `resize: study` only shrinks, as the study did "
            f"(OpenCV INTER_AREA enlarges with another filter) — use a smaller size or `resize: matlab`"
        )
    resized = inter_area(image, (size, size)) if method == "area" else lanczos(image, (size, size))
    target.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    from PIL import Image

    Image.fromarray(resized).save(buffer, format="JPEG", quality=quality)
    tmp = target.with_name(f"{target.name}.tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(target)
    return target


def lanczos(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pillow's ``Image.resize((W, H), Image.ANTIALIAS)`` (``ANTIALIAS`` is ``LANCZOS``)."""
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((shape[1], shape[0]), Image.Resampling.LANCZOS))


def _area_table(source: int, target: int, scale: float) -> list[tuple[int, int, np.float32]]:
    """OpenCV's ``computeResizeAreaTab``: ``(target index, source index, weight)`` in the order
    OpenCV accumulates them; weights are the overlap of each source pixel with the target
    pixel's cell ``[d·scale, (d+1)·scale)``, divided by the cell width, as float32."""
    table = []
    for d in range(target):
        start = d * scale
        end = start + scale
        width = min(scale, source - start)
        first, last = math.ceil(start), math.floor(end)
        last = min(last, source - 1)
        first = min(first, last)
        if first - start > 1e-3:
            table.append((d, first - 1, np.float32((first - start) / width)))
        for s in range(first, last):
            table.append((d, s, np.float32(1.0 / width)))
        if end - last > 1e-3:
            table.append((d, last, np.float32(min(min(end - last, 1.0), width) / width)))
    return table


def _accumulate(values: np.ndarray, table, target: int, axis: int) -> np.ndarray:
    """``out[d] = Σ w·values[s]`` over ``table`` along ``axis``, in float32 and in the table's
    order for each ``d`` (OpenCV's order of additions)."""
    taps: list[list[tuple[int, np.float32]]] = [[] for _ in range(target)]
    for d, s, w in table:
        taps[d].append((s, w))
    values = np.moveaxis(values, axis, 0)
    out = np.zeros((target, *values.shape[1:]), dtype=np.float32)
    for t in range(max(len(x) for x in taps)):
        # tap t of every target index at once; indices with fewer taps add 0·values[0] = +0
        index = np.array([x[t][0] if t < len(x) else 0 for x in taps])
        weight = np.array([x[t][1] if t < len(x) else 0.0 for x in taps], dtype=np.float32)
        out += values[index] * weight.reshape(-1, *([1] * (values.ndim - 1)))
    return np.moveaxis(out, 0, axis)


def inter_area(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """OpenCV's ``cv2.resize(image, (W, H), interpolation=cv2.INTER_AREA)`` for a uint8
    ``(h, w[, C])`` image shrunk to ``shape = (H, W)``: each output pixel is the average of the
    input area it covers.

    - Both factors integers (``k_y × k_x`` blocks): the block sum times ``1/(k_y·k_x)`` in float32,
      rounded half to even — except 2×2 blocks, where OpenCV's 8-bit path computes
      ``(a + b + c + d + 2) >> 2`` (halves round up).
    - Otherwise, per axis, the area weights of ``computeResizeAreaTab`` (float32): each row is
      reduced along x, then rows are combined along y, accumulated in float32 in OpenCV's order,
      and rounded half to even (``saturate_cast<uchar>``).

    Enlarging (where OpenCV switches to a bilinear variant) is not implemented.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"inter_area takes uint8 images, got {image.dtype}")
    height, width = image.shape[:2]
    out_h, out_w = shape
    scale_x, scale_y = 1.0 / (out_w / width), 1.0 / (out_h / height)  # cv::resize's order of operations
    if scale_x < 1 or scale_y < 1:
        raise ValueError(f"inter_area shrinks only: {width}×{height} → {out_w}×{out_h}")
    int_x, int_y = round(scale_x), round(scale_y)
    eps = np.finfo(np.float64).eps
    if abs(scale_x - int_x) < eps and abs(scale_y - int_y) < eps:
        blocks = image[: out_h * int_y, : out_w * int_x].reshape(out_h, int_y, out_w, int_x, *image.shape[2:])
        total = blocks.sum(axis=(1, 3), dtype=np.int64)
        if int_x == 2 and int_y == 2:
            return ((total + 2) >> 2).astype(np.uint8)
        averaged = total.astype(np.float32) * (np.float32(1.0) / np.float32(int_x * int_y))  # 1.f / area
        return np.clip(np.rint(averaged), 0, 255).astype(np.uint8)
    rows = _accumulate(image.astype(np.float32), _area_table(width, out_w, scale_x), out_w, axis=1)
    out = _accumulate(rows, _area_table(height, out_h, scale_y), out_h, axis=0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
