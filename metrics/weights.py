"""Where checkpoint files come from: the catalogue of known files, lookup, hash checks, loading.

Nothing here downloads at run time. A learned component declares its files with
:func:`declare`; :func:`resolve` finds a file in ``$RESTOREBENCH_WEIGHTS`` (one folder or several
joined by ``os.pathsep``), then in ``~/.cache/restorebench/weights``, checks its hash, and
otherwise raises :class:`~metrics.errors.WeightsUnavailableError` whose message names the file,
where to get it and where to put it. Checkpoints are loaded with ``torch.load(weights_only=True)``
(or safetensors), never by unpickling arbitrary code.

This module lives in ``metrics`` (the bottom layer) because learned metrics (NIMA, MANIQA) and
learned methods both need it; the ``restorebench weights`` commands are built on it:

- :func:`add` copies a user's file into :func:`install_dir` under its catalogue name and records
  its sha256 in ``manifest.json`` there, so that a later change to the file is noticed;
- :func:`verify` checks size and hash of present files against the catalogue (full sha256, or the
  torch-hub prefix in the file name) and against the sha256 recorded by ``add``/``fetch``;
- :func:`fetch` downloads a file whose catalogue URL points at the file itself (short timeout);
  without a network, or for a URL that is a page or a shared folder, it fails at once with the
  URL to open by hand and the path to put the file at.

A catalogue ``filename`` may contain folders (``moesr/x2/ISE.pt``) when an official name is
ambiguous on its own; the file then lives at that relative path inside a search folder.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable
from urllib.parse import urlparse

from restorebench.metrics.errors import RestoreBenchError, UnknownNameError, WeightsUnavailableError

ENV_VAR = "RESTOREBENCH_WEIGHTS"
DEFAULT_DIR = Path("~/.cache/restorebench/weights")
MANIFEST = "manifest.json"
FETCH_TIMEOUT = 15.0  # seconds without data before a download is given up
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
#: key → function(loaded checkpoint) → problems: what the component that loads the file expects
#: of its layout (keys and tensor shapes), checked by ``weights add`` and ``weights verify``.
LAYOUT_CHECKS: dict[str, Callable[[Any], list[str]]] = {}


def expect_layout(key: str, check: Callable[[Any], list[str]]) -> None:
    """Register how a checkpoint of ``key`` must look (called by its component at import)."""
    LAYOUT_CHECKS[key] = check


def layout_problems_of(key: str, state: Any) -> list[str]:
    """What is wrong with a loaded checkpoint's layout ([] when right or when nothing is known)."""
    check = LAYOUT_CHECKS.get(key)
    if check is None:
        return []
    try:
        return check(state)
    except Exception as exc:  # a container of another shape altogether
        return [f"{type(exc).__name__}: {exc}"]


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


def sha256_file(path: Path, *, fresh: bool = False) -> str:
    """sha256 of a file, remembered per process while its size, times and inode are unchanged
    (``fresh``: always re-read, as ``verify`` does — file times are too coarse to notice every
    rewrite)."""
    st = Path(path).stat()
    stamp = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    cached = _HASHES.get(str(path))
    if not fresh and cached is not None and cached[0] == stamp:
        return cached[1]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    _HASHES[str(path)] = (stamp, digest.hexdigest())
    return digest.hexdigest()


_HASHES: dict[str, tuple[tuple[int, int, int, int], str]] = {}


def hash_problem(wf: WeightFile, path: Path, *, fresh: bool = False) -> str | None:
    """Why ``path`` is not the file ``wf`` describes (size, catalogue sha256 or hub prefix, and the
    sha256 recorded when ``add``/``fetch`` installed it), or None when it matches."""
    if wf.size is not None and path.stat().st_size != wf.size:
        return f"{path} has {path.stat().st_size} bytes, expected {wf.size}"
    actual: str | None = None
    expected = wf.sha256 or wf.hub_prefix
    if expected:
        actual = sha256_file(path, fresh=fresh)
        if not actual.startswith(expected):
            return f"{path} has sha256 {actual[:16]}…, expected {expected[:16]}…"
    try:
        record = recorded(wf, path)
    except RestoreBenchError as exc:
        return str(exc)
    if record is not None:
        if record.get("size") is not None and path.stat().st_size != record["size"]:
            return (
                f"{path} has {path.stat().st_size} bytes, but had {record['size']} when it was "
                f"installed on {record.get('added', '?')}: the file was modified or replaced since"
            )
        actual = actual or sha256_file(path, fresh=fresh)
        if record.get("sha256") and actual != record["sha256"]:
            return (
                f"{path} has sha256 {actual[:16]}…, but {record['sha256'][:16]}… was recorded when it "
                f"was installed on {record.get('added', '?')}: the file was modified or replaced since"
            )
    return None


def unavailable_message(wf: WeightFile) -> str:
    if "/" in wf.filename:
        where = f"at {install_dir() / wf.filename}"
    else:
        where = "in " + " or ".join(str(d) for d in search_dirs())
    return (
        f"{wf.component}: weights file '{wf.filename}' not found. Download it from {wf.url} and put it "
        f"{where} (or run: restorebench weights add /path/to/{PurePosixPath(wf.filename).name})"
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


def fingerprint(keys: Iterable[str]) -> dict[str, str | None]:
    """``{key: sha256 of the file found for it, or None when missing}`` — what a run used, recorded
    so that results of a replaced or newly added checkpoint are never mixed with older ones."""
    found = {key: locate(key) for key in keys}
    return {key: (sha256_file(path) if path is not None else None) for key, path in found.items()}


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

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the weights-only unpickler raises all kinds on a damaged file
        # torch's own message ends with advice to pass weights_only=False, which would run the
        # file's pickled code: a user must not follow it, so it is not repeated
        first = str(exc).split("\n")[0].split(" Re-running")[0].split("(1) ")[0].strip()
        if "Weights only load failed" in first:
            first = "it holds pickled objects other than tensors, which would need code to load"
        raise UnsafeCheckpointError(
            f"{path} cannot be loaded as plain tensors ({type(exc).__name__}: {first[:300]}). restorebench "
            f"never unpickles code from a checkpoint; get the official file again, or convert it to a "
            f"state dict (torch.save(model.state_dict(), ...)) in its own project's environment"
        ) from None


class UnsafeCheckpointError(RestoreBenchError):
    """A checkpoint that is not a plain tensor file (it needs code to unpickle, or is damaged)."""


# -- install records (manifest.json) ----------------------------------------------------------

def _folder_of(wf: WeightFile, path: Path) -> Path:
    """The search folder holding ``path`` (``filename`` may have folder parts)."""
    folder = path
    for _ in PurePosixPath(wf.filename).parts:
        folder = folder.parent
    return folder


def read_manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """``{filename: {"key", "sha256", "size", "added", "source"}}`` recorded in ``folder``
    (empty when there is no manifest; an unreadable one is an error, not silently ignored)."""
    path = folder / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RestoreBenchError(f"{path}: unreadable weights manifest ({exc}); fix or delete it") from None
    files = data.get("files", {}) if isinstance(data, dict) else {}
    return files if isinstance(files, dict) else {}


def _record(folder: Path, wf: WeightFile, sha256: str, size: int, source: str) -> None:
    files = read_manifest(folder)
    files[wf.filename] = {
        "key": wf.key,
        "sha256": sha256,
        "size": size,
        "added": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "source": source,
    }
    payload = json.dumps({"about": "written by `restorebench weights add|fetch`", "files": files}, indent=2)
    _atomic_write(folder / MANIFEST, payload.encode())


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def recorded(wf: WeightFile, path: Path) -> dict[str, Any] | None:
    """What ``add``/``fetch`` recorded for the file at ``path`` (None when nothing was)."""
    return read_manifest(_folder_of(wf, path)).get(wf.filename)


# -- matching a user's file to the catalogue ----------------------------------------------------

def match(source: Path) -> list[WeightFile]:
    """Catalogue entries a file could be, best first: same file name, and among several, those
    whose folder parts (``x2/ISE.pt``) agree with the end of the file's own path."""
    name = source.name
    candidates = [wf for wf in CATALOGUE.values() if PurePosixPath(wf.filename).name == name]
    if len(candidates) <= 1:
        return candidates
    parts = source.resolve().parts if source.exists() else source.parts

    def agreement(wf: WeightFile) -> int:
        wanted = PurePosixPath(wf.filename).parts
        n = 0
        for a, b in zip(reversed(wanted), reversed(parts)):
            if a != b:
                break
            n += 1
        return n

    best = max(agreement(wf) for wf in candidates)
    return [wf for wf in candidates if agreement(wf) == best]


def entry(key: str) -> WeightFile:
    from restorebench.metrics.registry import did_you_mean

    if key not in CATALOGUE:
        raise UnknownNameError(
            f"unknown weights key '{key}'.{did_you_mean(key, sorted(CATALOGUE))} "
            "Run `restorebench weights list` to see the known files."
        )
    return CATALOGUE[key]


def _check_content(wf: WeightFile, source: Path) -> tuple[str, int]:
    """sha256 and size of ``source``; raises when they contradict the catalogue."""
    size = source.stat().st_size
    if wf.size is not None and size != wf.size:
        raise RestoreBenchError(
            f"{source} has {size} bytes, but the official {wf.filename} ({wf.key}) has {wf.size}: "
            f"not the official file, or an incomplete download. Get it from {wf.url}"
        )
    actual = sha256_file(source, fresh=True)
    expected = wf.sha256 or wf.hub_prefix
    if expected and not actual.startswith(expected):
        raise RestoreBenchError(
            f"{source} has sha256 {actual[:16]}…, but the official {wf.filename} ({wf.key}) has "
            f"{expected[:16]}…: not the official file, or damaged. Get it from {wf.url}"
        )
    return actual, size


@dataclass(frozen=True)
class Installed:
    """Result of :func:`add` / :func:`fetch`."""

    key: str
    path: Path
    sha256: str
    size: int


def add(source: str | Path, key: str | None = None) -> Installed:
    """Copy a checkpoint file into :func:`install_dir` under its catalogue name and record its
    sha256 in ``manifest.json`` there.

    The catalogue entry is found from the file name (``key`` picks one explicitly, e.g. for a
    renamed file or when several entries share a name, as MoESR's ``x2/ISE.pt`` and
    ``x4/ISE.pt`` do). A file contradicting a known size or hash is refused.
    """
    source = Path(source).expanduser()
    if not source.is_file():
        raise RestoreBenchError(f"{source}: no such file")
    if key is not None:
        wf = entry(key)
    else:
        found = match(source)
        if not found:
            names = sorted({PurePosixPath(w.filename).name for w in CATALOGUE.values()})
            raise RestoreBenchError(
                f"{source.name} is not the name of a known weights file; known names: {', '.join(names)}. "
                "If it is a renamed official file, name its entry with --key KEY"
            )
        if len(found) > 1:
            raise RestoreBenchError(
                f"several known weights files are named {source.name} "
                f"({', '.join(f'{w.key} = {w.filename}' for w in found)}): say which with --key KEY"
            )
        wf = found[0]
    sha256, size = _check_content(wf, source)
    problems = layout_problems_of(wf.key, load_state(source))  # refuse what is not plain tensors or not the network
    if problems:
        raise RestoreBenchError(
            f"{source} loads, but is not the network {wf.component} expects (keys and shapes of "
            f"{wf.filename}): {'; '.join(problems[:4])}. Get the official file from {wf.url}"
        )
    destination = install_dir() / wf.filename
    destination.parent.mkdir(parents=True, exist_ok=True)
    if source.resolve() != destination.resolve():
        tmp = destination.with_name(f".{destination.name}.part")
        shutil.copyfile(source, tmp)
        os.replace(tmp, destination)
    _record(install_dir(), wf, sha256, size, str(source.resolve()))
    return Installed(wf.key, destination, sha256, size)


# -- verify ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """Result of verifying one catalogue entry: ``status`` is ``ok`` (matches what is known and
    loads), ``unverified`` (loads, but no published hash exists to compare with), ``missing``,
    ``mismatch`` (size or hash differ) or ``unloadable`` (not a plain tensor file)."""

    key: str
    filename: str
    status: str
    path: str | None
    detail: str

    @property
    def failed(self) -> bool:
        return self.status in ("mismatch", "unloadable")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify(keys: Iterable[str] | None = None) -> list[Verdict]:
    """Check every present file (or those of ``keys``) against what is known of it: size, full
    sha256, torch-hub hash prefix, and the sha256 recorded when it was added or fetched."""
    entries = [entry(k) for k in keys] if keys else [CATALOGUE[k] for k in sorted(CATALOGUE)]
    verdicts = []
    for wf in entries:
        path = locate(wf.key)
        if path is None:
            verdicts.append(Verdict(wf.key, wf.filename, "missing", None, unavailable_message(wf)))
            continue
        problem = hash_problem(wf, path, fresh=True)
        if problem is not None:
            verdicts.append(Verdict(wf.key, wf.filename, "mismatch", str(path), f"{problem}. Get it again from {wf.url}"))
            continue
        checks = []  # what was published about the file
        if wf.size is not None:
            checks.append("size")
        if wf.sha256:
            checks.append("catalogue sha256")
        elif wf.hub_prefix:
            checks.append(f"hash prefix {wf.hub_prefix} of the file name")
        unchanged = "; unchanged since it was installed" if recorded(wf, path) is not None else ""
        try:
            problems = layout_problems_of(wf.key, load_state(path))
        except RestoreBenchError as exc:
            verdicts.append(Verdict(wf.key, wf.filename, "unloadable", str(path), str(exc)))
            continue
        if problems:
            verdicts.append(Verdict(wf.key, wf.filename, "unloadable", str(path),
                                    f"loads, but not as the network {wf.component} expects: {'; '.join(problems[:4])}"))
            continue
        if wf.key in LAYOUT_CHECKS:
            unchanged = "; keys and shapes are the network's" + unchanged
        if checks:
            verdicts.append(Verdict(wf.key, wf.filename, "ok", str(path), "matches " + ", ".join(checks) + "; loads as plain tensors" + unchanged))
        else:
            verdicts.append(Verdict(wf.key, wf.filename, "unverified", str(path),
                                    "no published size or hash to check it against; loads as plain tensors" + unchanged))
    return verdicts


# -- fetch ----------------------------------------------------------------------------------------

def downloadable(wf: WeightFile) -> bool:
    """Whether the catalogue URL is the file itself (not a page or a shared folder)."""
    parsed = urlparse(wf.url)
    return parsed.scheme in ("http", "https", "file") and parsed.path.endswith("/" + PurePosixPath(wf.filename).name)


def fetch(key: str, *, timeout: float = FETCH_TIMEOUT) -> Installed:
    """Download catalogue entry ``key`` into :func:`install_dir` (no-op when a good copy is
    already there). Fails fast, with the URL to open by hand and where to put the file, when the
    URL is a page or a shared folder, or when there is no network."""
    import urllib.request

    wf = entry(key)
    present = locate(key)
    if present is not None and hash_problem(wf, present) is None:
        return Installed(key, present, sha256_file(present), present.stat().st_size)
    destination = install_dir() / wf.filename
    by_hand = (
        f"Download it by hand from {wf.url} and put it at {destination} "
        f"(or run: restorebench weights add /path/to/{PurePosixPath(wf.filename).name})"
    )
    if not downloadable(wf):
        raise WeightsUnavailableError(
            f"{wf.component}: {wf.filename} cannot be downloaded automatically ({wf.url} is a page, not the file). {by_hand}",
            filename=wf.filename, url=wf.url, destination=str(destination.parent),
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_name(f".{destination.name}.part")
    try:
        request = urllib.request.Request(wf.url, headers={"User-Agent": "restorebench"})
        with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts are OSErrors
        tmp.unlink(missing_ok=True)
        raise WeightsUnavailableError(
            f"{wf.component}: could not download {wf.filename} from {wf.url} ({exc}). {by_hand}",
            filename=wf.filename, url=wf.url, destination=str(destination.parent),
        ) from None
    try:
        sha256, size = _check_content(wf, tmp)
    except RestoreBenchError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, destination)
    _record(install_dir(), wf, sha256, size, wf.url)
    return Installed(key, destination, sha256, size)
