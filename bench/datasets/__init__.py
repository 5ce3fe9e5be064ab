"""Datasets: folders in the layouts of the two studies, and the builtin data generated from them.

A dataset is a list of :class:`Item` — one input image to restore, with what is known about it
(reference image, blur kernel, SR scale, domain and set). Loaders only list files; images are
decoded later, in the worker that restores them, so a bad file fails its own case only.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from restorebench.metrics.errors import RestoreBenchError


class DatasetError(RestoreBenchError):
    pass


@dataclass(frozen=True)
class Item:
    """One input of a benchmark.

    Attributes:
        dataset: dataset name from the spec.
        task: ``deblur`` or ``sr``.
        item: readable id, unique in the dataset (``3_BUILTIN/motion``, ``natural/portrait-x2/003``).
        input_path: the image to restore.
        reference_path: ground truth for full-reference metrics (sharp image, HR image), if any.
        training_path: an image a method may train on (the sharp photo of a triplet), if any.
        psf_path: the blur kernel (``.npy``) when known.
        domain, group: blind-SR domain and set; for triplets ``group`` is the blur kind.
        blur: ``motion`` / ``defocus`` for triplets.
        scale: SR factor (1 for deblurring).
        size: resize input/reference/training images to ``size×size`` before use (triplets).
        align: register output to reference before full-reference metrics (``none``/``phase``).
        problem: why this item cannot be run (an unreadable file, a set whose SR factor cannot be
            told); planned anyway, so that it is recorded as ``invalid_input`` while the rest runs.
        set_paths: for a whole LR set as one item (what set-level methods train on and sample
            from): the set's readable images; ``input_path`` is then the first of them.
    """

    dataset: str
    task: str
    item: str
    input_path: Path
    reference_path: Path | None = None
    training_path: Path | None = None
    psf_path: Path | None = None
    domain: str | None = None
    group: str | None = None
    blur: str | None = None
    scale: int = 1
    size: int | None = None
    align: str = "none"
    problem: str | None = None
    set_paths: tuple[Path, ...] = ()


def image_files(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Image files of ``folder`` by name order, and ``(path, problem)`` for image names that are not
    readable regular files (a symbolic link to nowhere or in a loop, a folder named like an image)."""
    from restorebench.metrics.imageio import IMAGE_SUFFIXES

    good, bad = [], []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        try:
            mode = path.stat().st_mode  # follows links: ELOOP / ENOENT for broken ones
        except OSError as exc:
            bad.append((path, f"{path}: not readable ({exc.strerror or exc}; a broken or looping symbolic link?)"))
            continue
        if stat.S_ISREG(mode):
            good.append(path)
        elif not stat.S_ISDIR(mode):
            bad.append((path, f"{path}: not a regular file"))
    return good, bad


def cache_root() -> Path:
    """Folder for generated data and trained state: ``$RESTOREBENCH_CACHE`` or ``~/.cache/restorebench``."""
    return Path(os.environ.get("RESTOREBENCH_CACHE", "~/.cache/restorebench")).expanduser()


def load_items(spec, *, seed: int = 0) -> list[Item]:
    """Items of a :class:`bench.spec.DatasetSpec` (builtin data is generated on first use)."""
    from restorebench.bench.datasets import blur_triplets, builtin, lr_sets

    if spec.source is not None:
        root = builtin.ensure_builtin(cache_root() / "data", seed=seed, collection=spec.source)
        root = root / ("blur_triplets" if spec.kind == "blur_triplets" else "lr_sets")
    else:
        root = Path(spec.root).expanduser()
        if not root.is_dir():
            raise DatasetError(f"dataset '{spec.name}': folder {root} does not exist")
    if spec.kind == "blur_triplets":
        return blur_triplets.load(root, spec)
    return lr_sets.load(root, spec)
