"""Set-level methods: a generative model trained once per image *set*, whose outputs are samples.

The blind-SR study ran two GANs (FastGAN, APA) that learn the distribution of a whole LR set and
then *generate* images of it; no output belongs to an input image. Such a method has a different
protocol from :class:`models.base.Method`::

    >>> method = FastGAN(profile="fast")
    >>> info = method.prepare_set(images, cache_dir=cache, seed=0, device="auto", progress=None)
    >>> first = method.sample(0, seed=0)          # uint8 RGB (H, W, 3), the same on every call
    >>> outputs = [method.sample(k, seed=0) for k in range(method.samples_per_set)]

``prepare_set`` trains (or loads) once per set. The trained state is cached on disk under a key
that hashes the set's pixels (in order), the resolved training settings, the seed, the source of
the method's package and a format version, as SinGAN's pyramid cache does: a change to any of
them trains again, nothing else does. A training writes a *snapshot* every few iterations
(networks, optimisers, EMA, random-generator states); a training that was killed resumes from its
last snapshot instead of starting over, and because every random draw comes from a saved
``torch.Generator`` the resumed run continues exactly as the uninterrupted one would have.

Progress goes to a callback (:class:`Progress`: iteration, total, losses, elapsed time, ETA); an
exception raised by the callback stops the training (its last snapshot stays), which is how a
runner cancels it. Without a callback, a tqdm bar is shown when stderr is a terminal.

A set-level method is a :class:`~restorebench.models.base.Method` (the one component contract:
typed ``Params``, checkpoints, networks, version) that declares ``set_level = True`` and
``shared_preparation = "set"``: the runner plans one case per (set, seed, sample index), trains
once per set as a shared preparation with its own time budget, and records full-reference metrics
as not applicable (a sample has no reference). This module imports neither torch nor the
harness; subclasses import torch inside functions.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Sequence

import numpy as np
from pydantic import BaseModel

from restorebench.metrics.errors import RestoreBenchError
from restorebench.metrics.imageio import as_rgb_uint8
from restorebench.metrics.component import source_version
from restorebench.metrics.locks import file_lock
from restorebench.models.base import Method, Resources, register

FORMAT_VERSION = 1
DEFAULT_CACHE = Path("~/.cache/restorebench/setlevel")
MODEL_FILE = "model.pt"
SNAPSHOT_FILE = "snapshot.pt"
SUMMARY_FILE = "summary.json"

COUNTS = {"trained": 0, "resumed": 0, "loaded": 0}
"""How set models were obtained in this process (tests assert that a second prepare trains nothing)."""


class SetInputError(RestoreBenchError, ValueError):
    """A set that cannot be trained on (empty, an unreadable image, …); the message names the item."""


@dataclass(frozen=True)
class Progress:
    """One progress report of a training.

    Attributes:
        method: the method's name.
        iteration: iterations done so far (after this report's step).
        total: iterations of the whole training.
        losses: the latest loss values (names are the method's, e.g. ``d_real``, ``g``).
        elapsed: seconds spent in this process's training so far.
        eta: estimated seconds left (None before the second report).
        resumed_from: the snapshot iteration this training resumed from (None: fresh start).
    """

    method: str
    iteration: int
    total: int
    losses: dict[str, float]
    elapsed: float
    eta: float | None
    resumed_from: int | None = None

    def line(self) -> str:
        losses = "  ".join(f"{k} {v:.4f}" for k, v in self.losses.items())
        eta = f"  ETA {self.eta:.0f} s" if self.eta is not None else ""
        return f"{self.method}: iteration {self.iteration}/{self.total}  {losses}{eta}"


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class PreparedSet:
    """What :meth:`SetMethod.prepare_set` did.

    Attributes:
        key: cache key of the trained model (for a checkpoint: the first 32 hex of its sha256).
        folder: where its files are (None for a checkpoint).
        source: ``"trained"`` (fresh), ``"resumed"`` (from a snapshot), ``"loaded"`` (from the
            cache, no training), ``"checkpoint"`` (a user's checkpoint, no training).
        resumed_from: snapshot iteration a resumed training started at.
        seconds: time spent training in this call (0 when nothing was trained).
    """

    key: str
    folder: Path | None
    source: str
    resumed_from: int | None = None
    seconds: float = 0.0


class ProgressReporter:
    """Turns training steps into :class:`Progress` reports every ``every`` iterations (and at the
    last one), with an ETA from the speed since this process started training."""

    def __init__(self, method: str, total: int, start: int, callback: ProgressCallback | None, *, every: int):
        self.method = method
        self.total = total
        self.start = start
        self.every = max(1, every)
        self.resumed_from = start if start > 0 else None
        self.t0 = time.perf_counter()
        self.callback = callback
        self._bar = None
        if callback is None and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=start, desc=method, unit="it", leave=False)

    def __call__(self, iteration: int, losses: dict[str, float]) -> None:
        if self._bar is not None:
            self._bar.update(1)
            if iteration % self.every == 0:
                self._bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()})
        if self.callback is None or (iteration % self.every and iteration != self.total):
            return
        elapsed = time.perf_counter() - self.t0
        done = iteration - self.start
        eta = elapsed / done * (self.total - iteration) if done > 0 else None
        self.callback(Progress(self.method, iteration, self.total, dict(losses), elapsed, eta, self.resumed_from))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@dataclass
class TrainingRun:
    """Everything a subclass's training loop needs besides the images.

    ``snapshot(state)`` atomically writes a resumable state (a dict of tensors, numbers and
    strings, read back with ``torch.load(weights_only=True)``); ``resume`` is the state of the
    last snapshot (None: start fresh); ``report(iteration, losses)`` reports progress.
    """

    folder: Path
    seed: int
    device: Any
    resume: dict[str, Any] | None
    report: Callable[[int, dict[str, float]], None]
    snapshot_every: int
    _writes: list[int] = field(default_factory=list)

    def snapshot(self, state: dict[str, Any]) -> None:
        save_atomic(state, self.folder / SNAPSHOT_FILE)
        self._writes.append(int(state.get("iteration", -1)))

    def due(self, iteration: int, total: int) -> bool:
        """Whether a snapshot is due after ``iteration`` steps (never after the last one: the
        final model is written then)."""
        return iteration % self.snapshot_every == 0 and iteration < total


class SetMethod(Method):
    """Base class of methods that train on a whole set and generate samples of it.

    Class attributes (as for :class:`models.base.Method`):
        name: registry name.
        tasks: task families its outputs are compared in (``{"sr"}`` for the blind-SR study).
        Params: pydantic model of its parameters (``extra="forbid"``); it must have a
            ``samples_per_set`` field.
        weights: catalogue keys of checkpoint files it may load.
        summary: one line for listings.
        set_level: always True (how the runner tells these from per-image methods).
        stochastic: outputs depend on the sample index.

    Subclasses set ``self.settings`` (everything besides the images and the seed that determines
    the trained model) and implement :meth:`_train` (the loop, using :class:`TrainingRun`) and
    :meth:`_load_model` (a saved final state, or a user's checkpoint, → an object whose
    ``sample(index, seed)`` gives the image). A ``checkpoint`` parameter (a file path or a
    catalogue key) makes :meth:`prepare_set` load that file instead of training.
    """

    tasks: ClassVar[frozenset[str]] = frozenset({"sr"})
    set_level: ClassVar[bool] = True
    stochastic: ClassVar[bool] = True
    shared_preparation: ClassVar[str | None] = "set"

    def __init__(self, params: BaseModel | None = None, **kwargs: Any):
        super().__init__(params, **kwargs)
        self.prepared: PreparedSet | None = None
        self._model: Any = None

    def restore(self, image: np.ndarray) -> np.ndarray:
        raise RestoreBenchError(f"{self.name} generates samples of a whole set: use prepare_set(images) and sample(k)")

    def resources(self) -> Resources:
        """One GPU: a GAN trained on a whole set (StyleGAN2-ADA, FastGAN) fills one; its sample
        cases load the trained generator on the same request."""
        return Resources(gpus=1.0)

    def preparation_key(self, *, training_sha256: str, seed: int) -> str:
        """One training per set (``training_sha256``: the digest of its files), seed and training
        settings: the number of samples drawn does not change the trained model."""
        payload = json.dumps({"method": self.name, "settings": self.training_settings(), "code": source_version(type(self)),
                              "set": training_sha256, "seed": seed, "checkpoint": getattr(self.params, "checkpoint", None)},
                             sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:24]

    # -- what subclasses provide ------------------------------------------------------------------
    settings: Any
    """The resolved training settings: a dataclass with ``as_dict()`` and ``iterations``."""

    def training_settings(self) -> dict[str, Any]:
        """JSON-able settings that, with the images and the seed, determine the trained model."""
        return self.settings.as_dict()

    def iterations(self) -> int:
        """Training iterations of the resolved settings."""
        return int(self.settings.iterations)

    def _train(self, images: list[np.ndarray], run: TrainingRun) -> dict[str, Any]:
        """Train (from ``run.resume`` when given) and return the final model state to save."""
        raise NotImplementedError

    def _load_model(self, state: Any, device: Any, *, what: str) -> Any:
        """The sampling model (e.g. the EMA generator) from a saved final state or a user's
        checkpoint (``what`` names it in error messages)."""
        raise NotImplementedError

    checkpoint_hint: ClassVar[str] = "see the method's docs page"
    """How to turn an official pickle into a file of tensors (shown when a pickle is refused)."""

    def _generate(self, model: Any, index: int, seed: int) -> np.ndarray:
        """Sample ``index`` of ``seed`` from the loaded model (its ``sample(index, seed)``)."""
        return model.sample(index, seed)

    # -- the protocol -----------------------------------------------------------------------------
    @property
    def samples_per_set(self) -> int:
        return int(getattr(self.params, "samples_per_set"))

    @property
    def params_dict(self) -> dict[str, Any]:
        return self.params.model_dump(mode="json", exclude_none=True)

    def checkpoint_path(self) -> Path | None:
        """The file named by the ``checkpoint`` parameter (a catalogue key resolves through the
        weights folders, hash-checked), or None."""
        name = getattr(self.params, "checkpoint", None)
        if name is None:
            return None
        from restorebench.metrics.weights import CATALOGUE, resolve

        return resolve(name) if name in CATALOGUE else Path(name).expanduser()

    def cache_key(self, images: Sequence[np.ndarray], *, seed: int) -> str:
        """Hex key of the model trained on ``images`` (in order) with these settings and ``seed``."""
        return set_key(images, self.training_settings(), seed=seed, code=source_version(type(self)))

    def prepare_set(
        self,
        images: Sequence[np.ndarray],
        *,
        cache_dir: Path | str | None = None,
        seed: int = 0,
        device: str = "auto",
        progress: ProgressCallback | None = None,
    ) -> PreparedSet:
        """Train on ``images`` (or load the cached model, or resume a killed training).

        Images are converted as the project's image loader does (gray → RGB, alpha dropped);
        each method documents how it brings them to its training resolution.
        """
        from restorebench.metrics.device import select_device

        from restorebench.metrics.weights import sha256_file

        torch_device = select_device(device)
        path = self.checkpoint_path()
        if path is not None:
            state = read_checkpoint(path, method=self.name, hint=self.checkpoint_hint)
            self._model = self._load_model(state, torch_device, what=str(path))
            self.prepared = PreparedSet(key=sha256_file(path)[:32], folder=None, source="checkpoint")
            return self.prepared
        rgb = check_set(images, method=self.name)
        key = self.cache_key(rgb, seed=seed)
        root = Path(cache_dir).expanduser() if cache_dir is not None else DEFAULT_CACHE.expanduser()
        folder = root / self.name / key
        folder.mkdir(parents=True, exist_ok=True)
        with file_lock(folder / "lock"):
            final = folder / MODEL_FILE
            if final.is_file():
                self._model = self._load_model(load_file(final), torch_device, what=str(final))
                COUNTS["loaded"] += 1
                self.prepared = PreparedSet(key, folder, "loaded")
                return self.prepared
            snapshot = folder / SNAPSHOT_FILE
            resume = load_file(snapshot) if snapshot.is_file() else None
            start = int(resume["iteration"]) if resume is not None else 0
            reporter = ProgressReporter(self.name, self.iterations(), start, progress, every=self.report_every())
            run = TrainingRun(folder, seed, torch_device, resume, reporter, self.snapshot_every())
            t0 = time.perf_counter()
            try:
                state = self._train(rgb, run)
            finally:
                reporter.close()
            seconds = time.perf_counter() - t0
            save_atomic(state, final)
            summary = {
                "method": self.name, "settings": self.training_settings(), "seed": seed, "images": len(rgb),
                "iterations": self.iterations(), "resumed_from": start if resume is not None else None, "seconds": seconds,
                "device": str(torch_device), "format": FORMAT_VERSION,
            }
            (folder / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
            snapshot.unlink(missing_ok=True)
            COUNTS["resumed" if resume is not None else "trained"] += 1
            self._model = self._load_model(state, torch_device, what=str(final))
            self.prepared = PreparedSet(key, folder, "resumed" if resume is not None else "trained",
                                        resumed_from=start if resume is not None else None, seconds=seconds)
            return self.prepared

    def sample(self, index: int, *, seed: int = 0) -> np.ndarray:
        """The ``index``-th output of the set for ``seed``: uint8 RGB ``(H, W, 3)``, identical on
        every call (and in every process) for the same model, index and seed."""
        if self._model is None:
            raise RuntimeError(f"{self.name}: call prepare_set(images) before sample(index)")
        if not 0 <= index:
            raise ValueError(f"{self.name}: sample index must be ≥ 0, got {index}")
        return self._generate(self._model, int(index), int(seed))

    def report_every(self) -> int:
        """Iterations between progress reports (about 20 per training, at most every 50)."""
        return max(1, min(50, self.iterations() // 20))

    def snapshot_every(self) -> int:
        """Iterations between snapshots (about 10 per training, at most every 1000)."""
        return max(1, min(1000, self.iterations() // 10))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params_dict})"


register_set = register  # set-level methods are methods: one registry

# -- helpers ---------------------------------------------------------------------------------------

def check_set(images: Sequence[np.ndarray], *, method: str) -> list[np.ndarray]:
    """The images as uint8 RGB (the project's conversions); a clear error for an empty set or an
    image that cannot be converted (naming its position)."""
    if len(images) == 0:
        raise SetInputError(f"{method}: the set has no images; a GAN needs at least one image to train on")
    out = []
    for i, image in enumerate(images):
        out.append(as_rgb_uint8(image, name=f"{method}: image {i} of the set"))
    return out


def set_key(images: Sequence[np.ndarray], settings: dict[str, Any], *, seed: int, code: str) -> str:
    """sha256 (32 hex) of the images' shapes and pixels in order, the settings, seed, code and format."""
    digest = hashlib.sha256()
    for image in images:
        digest.update(repr(image.shape).encode())
        digest.update(np.ascontiguousarray(image).tobytes())
    payload = {"settings": settings, "seed": seed, "code": code, "format": FORMAT_VERSION}
    digest.update(json.dumps(payload, sort_keys=True).encode())
    return digest.hexdigest()[:32]


def read_checkpoint(path: Path, *, method: str, hint: str = "see the method's docs page") -> Any:
    """A user's checkpoint, read with ``torch.load(weights_only=True)``: tensors, numbers,
    strings and containers only. Anything that needs code to unpickle (a network pickle such as
    StyleGAN2-ADA's ``network-snapshot-*.pkl``, a pickled module) is refused, never executed."""
    import pickle

    import torch

    if not path.is_file():
        raise RestoreBenchError(f"{method}: checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise RestoreBenchError(
            f"{method}: {path} needs code to be unpickled ({str(exc).splitlines()[0][:160]}); restorebench only "
            f"reads checkpoints made of tensors (torch.save of state dicts) and never executes pickled code. "
            f"Export the networks' state dicts in the official environment: {hint}"
        ) from None
    except Exception as exc:
        raise RestoreBenchError(f"{method}: cannot read {path} as a checkpoint ({type(exc).__name__}: {exc})") from None


def save_atomic(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` to a temporary sibling, then rename: a kill never leaves half a file."""
    import torch

    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_file(path: Path) -> dict[str, Any]:
    """A state written by :func:`save_atomic` (tensors, numbers, strings only: ``weights_only``)."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated by a full disk, or not ours
        raise RestoreBenchError(f"{path}: unreadable set-model file ({type(exc).__name__}: {exc}); delete it to train again") from None


def draw_seed(generator) -> int:
    """A 62-bit seed drawn from a ``torch.Generator`` (for a block of draws made elsewhere)."""
    import torch

    return int(torch.randint(0, 2**62, (1,), generator=generator))


@contextlib.contextmanager
def seeded_global(seed: int, device) -> Iterator[None]:
    """Run a block with torch's global generators (CPU, and ``device`` if it is a GPU) seeded
    from ``seed`` and restored afterwards: draws made inside modules (noise inputs, style mixing,
    augmentations) become reproducible without touching the caller's random state."""
    import torch

    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def resize_square(image: np.ndarray, size: int, *, resample: str) -> np.ndarray:
    """``image`` resized to ``size × size`` with Pillow (aspect ratio not kept), as both official
    data pipelines do (FastGAN: ``transforms.Resize((s, s))``, bilinear; StyleGAN2-ADA's
    ``dataset_tool.py --width --height``: Lanczos)."""
    from PIL import Image

    if image.shape[:2] == (size, size):
        return image
    filters = {"bilinear": Image.BILINEAR, "lanczos": Image.LANCZOS}
    return np.asarray(Image.fromarray(image).resize((size, size), filters[resample]))
