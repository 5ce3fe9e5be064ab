"""Where checkpoint files come from: the catalogue of known files, lookup, hash checks, loading.

Nothing here downloads at run time. A learned component declares its files with
:func:`declare`; :func:`resolve` finds a file in ``$RESTOREBENCH_WEIGHTS`` (one folder or several
joined by ``os.pathsep``), then in ``~/.cache/restorebench/weights``, checks its hash, and
otherwise raises :class:`~metrics.errors.WeightsUnavailableError` whose message names the file,
where to get it and where to put it. Checkpoints are loaded with ``torch.load(weights_only=True)``
(or safetensors), never by unpickling arbitrary code.

This module lives in ``metrics`` (the bottom layer) because learned metrics (NIMA, MANIQA) and
learned methods both need it; the ``restorebench weights`` commands are built on it.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from metrics.errors import WeightsUnavailableError

ENV_VAR = "RESTOREBENCH_WEIGHTS"
DEFAULT_DIR = Path("~/.cache/restorebench/weights")
_HUB_HASH = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$")


@dataclass(frozen=True)
class WeightFile:
    """One known checkpoint file.

    Attributes:
        key: logical name used in code and on the command line (e.g. ``nima-inception``).
        filename: the file name as officially published.
        url: where to download it (or the page that links it).
        component: the method or metric that uses it.
        sha256: full hash when known (checked by ``verify`` and on ``add``).
        size: size in bytes when known.
        licence: licence of the weights, as published.
    """

    key: str
    filename: str
    url: str
    component: str
    sha256: str | None = None
    size: int | None = None
    licence: str = ""

    @property
    def hub_prefix(self) -> str | None:
        """The torch-hub style hash prefix in the file name (``name-b0c77c00.pth``), if any."""
        match = _HUB_HASH.search(self.filename)
        return match.group(1) if match else None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


CATALOGUE: dict[str, WeightFile] = {}


def declare(*files: WeightFile) -> None:
    """Add files to the catalogue (called at import by the component that needs them)."""
    for wf in files:
        existing = CATALOGUE.get(wf.key)
        if existing is not None and existing != wf:
            raise ValueError(f"weights key '{wf.key}' declared twice with different data")
        CATALOGUE[wf.key] = wf


def search_dirs() -> list[Path]:
    """Folders searched for weights, in order."""
    dirs = [Path(p).expanduser() for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    return dirs + [DEFAULT_DIR.expanduser()]


def install_dir() -> Path:
    """Where ``weights add`` copies files: the first search folder."""
    return search_dirs()[0]


def sha256_file(path: Path) -> str:
    return _sha256_cached(str(path), *_stat_key(path))


def _stat_key(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


@functools.lru_cache(maxsize=64)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_problem(wf: WeightFile, path: Path) -> str | None:
    """Why ``path`` is not the file ``wf`` describes (size or hash), or None when it matches."""
    if wf.size is not None and path.stat().st_size != wf.size:
        return f"{path} has {path.stat().st_size} bytes, expected {wf.size}"
    expected = wf.sha256 or wf.hub_prefix
    if expected:
        actual = sha256_file(path)
        if not actual.startswith(expected):
            return f"{path} has sha256 {actual[:16]}…, expected {expected[:16]}…"
    return None


def unavailable_message(wf: WeightFile) -> str:
    dirs = " or ".join(str(d) for d in search_dirs())
    return (
        f"{wf.component}: weights file '{wf.filename}' not found. Download it from {wf.url} and put it "
        f"in {dirs} (or run: restorebench weights add /path/to/{wf.filename})"
    )


def locate(key: str) -> Path | None:
    """Path of the first file named like catalogue entry ``key`` in the search folders."""
    wf = CATALOGUE[key]
    for folder in search_dirs():
        candidate = folder / wf.filename
        if candidate.is_file():
            return candidate
    return None


def resolve(key: str) -> Path:
    """Path of a present, hash-checked file, else :class:`WeightsUnavailableError`."""
    wf = CATALOGUE[key]
    path = locate(key)
    if path is None:
        raise WeightsUnavailableError(
            unavailable_message(wf), filename=wf.filename, url=wf.url, destination=str(install_dir())
        )
    problem = hash_problem(wf, path)
    if problem is not None:
        raise WeightsUnavailableError(
            f"{wf.component}: {problem}; the file is damaged or not the official one. "
            f"Download it again from {wf.url}",
            filename=wf.filename,
            url=wf.url,
            destination=str(path.parent),
        )
    return path


def status(key: str) -> dict[str, Any]:
    """``{"status": "present"|"missing"|"hash mismatch", "path": ..., "detail": ...}``."""
    wf = CATALOGUE[key]
    path = locate(key)
    if path is None:
        return {"status": "missing", "path": None, "detail": unavailable_message(wf)}
    problem = hash_problem(wf, path)
    if problem is not None:
        return {"status": "hash mismatch", "path": str(path), "detail": problem}
    return {"status": "present", "path": str(path), "detail": ""}


def load_state(path: Path) -> dict[str, Any]:
    """Load a checkpoint without executing pickled code: safetensors, or ``torch.load`` with
    ``weights_only=True`` onto the CPU."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)
