"""Trained pyramids on disk and in memory: train once per (image, settings, seed, code).

The key hashes the training image's pixels and shape, the resolved training settings, the seed
and the source of the ``models.singan`` package (so a change of the code never reuses a stale
model). Every start scale, input kind and sample of an image reuses the same pyramid. Files hold
tensors, numbers and strings only and are read with ``torch.load(weights_only=True)``; a lock
file makes concurrent workers wait for one training instead of repeating it.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np

from restorebench.metrics.locks import file_lock
from restorebench.models.singan.pyramid import FORMAT_VERSION
from restorebench.models.singan.settings import TrainingSettings

DEFAULT_DIR = Path("~/.cache/restorebench/singan")
MEMORY_SLOTS = 4

_MEMORY: "OrderedDict[tuple[str, str], object]" = OrderedDict()
COUNTS = {"trained": 0, "loaded": 0, "memory": 0}
"""How pyramids were obtained in this process (tests check that a second prepare does not train)."""


def training_key(image: np.ndarray, settings: TrainingSettings, *, seed: int, code_digest: str) -> str:
    """Hex key of a trained pyramid: sha256 of pixels, shape, settings, seed, code and format."""
    digest = hashlib.sha256()
    digest.update(repr(image.shape).encode())
    digest.update(np.ascontiguousarray(image).tobytes())
    payload = {"settings": settings.as_dict(), "seed": seed, "code": code_digest, "format": FORMAT_VERSION}
    digest.update(json.dumps(payload, sort_keys=True).encode())
    return digest.hexdigest()[:32]


def obtain_pyramid(
    image: np.ndarray,
    settings: TrainingSettings,
    *,
    seed: int,
    device,
    cache_dir: Path | None,
    code_digest: str,
    log: Callable[[str], None] | None = None,
):
    """The trained pyramid of ``image``: from memory, from disk, or trained now (then saved)."""
    import torch

    from restorebench.metrics.weights import load_state
    from restorebench.models.singan.geometry import pyramid_geometry
    from restorebench.models.singan.pyramid import Pyramid
    from restorebench.models.singan.training import train_pyramid

    key = training_key(image, settings, seed=seed, code_digest=code_digest)
    memo_key = (key, str(device))
    if memo_key in _MEMORY:
        _MEMORY.move_to_end(memo_key)
        COUNTS["memory"] += 1
        return _MEMORY[memo_key]
    folder = Path(cache_dir).expanduser() if cache_dir is not None else DEFAULT_DIR.expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.pt"
    with file_lock(folder / f"{key}.lock"):
        if path.is_file():
            pyramid = Pyramid.from_state(load_state(path), device=device)
            COUNTS["loaded"] += 1
        else:
            geometry = pyramid_geometry(
                image.shape[:2], min_size=settings.min_size, max_size=settings.max_size, scale_factor=settings.scale_factor
            )
            reports = []

            def on_scale(report) -> None:
                reports.append(report)
                if log is not None:
                    log(f"singan: scale {report.scale} ({report.shape[1]}×{report.shape[0]}) trained in {report.seconds:.1f} s")

            start = time.perf_counter()
            pyramid = train_pyramid(image, geometry, settings, seed=seed, device=device, on_scale=on_scale)
            COUNTS["trained"] += 1
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            torch.save(pyramid.state(), tmp)
            os.replace(tmp, path)
            summary = {
                "settings": settings.as_dict(), "seed": seed, "shapes": [list(s) for s in geometry.shapes],
                "scale_factor": geometry.scale_factor, "seconds": time.perf_counter() - start,
                "seconds_per_scale": [r.seconds for r in reports], "noise_amps": pyramid.noise_amps,
                "device": str(device),
            }
            path.with_suffix(".json").write_text(json.dumps(summary, indent=2))
    _MEMORY[memo_key] = pyramid
    while len(_MEMORY) > MEMORY_SLOTS:
        _MEMORY.popitem(last=False)
    return pyramid


def forget_memory() -> None:
    """Drop the in-process pyramids (tests)."""
    _MEMORY.clear()
