"""Method chains: super-resolution by several methods one after another, as one leaderboard entry.

A spec's method entry may be a chain of stages, each a method with its own SR factor::

    - label: dan-x8
      chain:
        - {name: dan, scale: 2, version: v1, setting: 1}
        - {name: dan, scale: 4, version: v1, setting: 1}

The chain's factor is the product of its stages' factors (×8 here) and it is planned only on items
of that factor. Each stage is the registered method with its own parameters; ``scale`` is the
stage's factor, given to the method as its ``scale`` parameter when it has one and always as the
factor of the stage's :class:`~restorebench.models.base.RestoreContext`. Stages never receive the
item's blur kernel or training image: the kernel of an ×8 item describes the whole ×8
degradation, not a stage's.

Every stage's output is cached on disk (``<out>/cache/chain-stages/``) under a key made of the
stage method's version (its source closure, parameters and checkpoint hashes), its factor, the
case seed (and sample, for a stochastic method), and the sha256 of the stage's input pixels. A
chain stopped after its first stage (killed, timed out, a later stage failing) therefore resumes
from the first stage's output, and two chains that share a prefix (``dan ×2 → dan ×4`` and
``dan ×2 → bicubic ×4``) compute the shared stage once. A cached output is the stage's exact
uint8 output (PNG is lossless), so a result does not depend on whether its stages were cached.

The chain's code version hashes every stage's name, factor and code version (which covers its
parameters) and :data:`CHAIN_FORMAT`: a change to any stage gives the chain's cases new ids.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from restorebench.metrics.errors import RestoreBenchError
from restorebench.models.base import Resources, RestoreContext

#: Bump when the way stages are composed changes (what the cached outputs and case ids mean).
CHAIN_FORMAT = 1
STAGE_CACHE = "chain-stages"


class StageSpec(BaseModel):
    """One stage of a chain: a method name, the stage's SR factor, and the method's parameters."""

    model_config = ConfigDict(extra="allow")
    name: str
    scale: int = Field(ge=2, le=16, description="this stage's SR factor")

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ChainSpec(BaseModel):
    """A method entry made of stages applied one after another."""

    model_config = ConfigDict(extra="forbid")
    chain: list[StageSpec] = Field(min_length=2, max_length=8, description="the stages, first applied first")
    label: str | None = Field(None, description="the leaderboard label (default: the stages, e.g. 'dan×2+dan×4')")
    samples: int = Field(1, ge=1, le=10_000, description="samples per item when a stage is stochastic")
    datasets: list[str] | None = None

    @property
    def factor(self) -> int:
        return math.prod(stage.scale for stage in self.chain)

    @property
    def default_label(self) -> str:
        return "+".join(f"{stage.name}×{stage.scale}" for stage in self.chain)


@dataclass(frozen=True)
class Stage:
    """A validated stage: what a worker needs to build and run it."""

    name: str
    scale: int
    params: dict[str, Any]  # the method's validated parameters (its scale included, if it has one)
    code_version: str
    stochastic: bool

    @property
    def title(self) -> str:
        return f"{self.name} ×{self.scale}"

    def record(self) -> dict[str, Any]:
        """How the stage is described in the ``methods`` table."""
        return {"name": self.name, "scale": self.scale, "params": self.params}


def chain_code_version(stages: tuple[Stage, ...]) -> str:
    payload = json.dumps({"format": CHAIN_FORMAT, "stages": [[s.name, s.scale, s.code_version] for s in stages]})
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def stage_method_params(method_class: type, stage: StageSpec) -> dict[str, Any]:
    """The parameters to build a stage's method with: the stage's own, plus its factor as the
    method's ``scale`` parameter when the method has one."""
    params = stage.params
    if "scale" in method_class.Params.model_fields:
        params["scale"] = stage.scale
    return params


class ChainStageError(RestoreBenchError):
    """A stage of a chain failed; ``cause`` is what it raised (its type decides the case status)."""

    def __init__(self, index: int, total: int, stage: Stage, cause: BaseException, message: str):
        self.index, self.total, self.stage, self.cause = index, total, stage, cause
        super().__init__(f"stage {index}/{total} ({stage.title}): {message}")


@dataclass
class StageRecord:
    """What one stage did in a case (stored as JSON in ``cases.stages``)."""

    stage: int
    method: str
    scale: int
    status: str = "ok"  # ok | cached | failed | unavailable | invalid_input
    seconds_prepare: float = 0.0
    seconds_restore: float = 0.0
    seconds_cache: float = 0.0  # reading the cached output, or writing the new one
    width: int | None = None
    height: int | None = None
    key: str = ""  # the stage cache key
    path: str | None = None  # the cached output, once there is one
    sha256: str | None = None
    error: str | None = None


@dataclass
class Chain:
    """Runs a chain's stages with the per-stage cache; the worker uses it in place of a method
    (``prepare(context)``, then ``restore(image)``; ``records`` tells what each stage did)."""

    stages: tuple[Stage, ...]
    reuse: bool = True  # False: compute every stage again (``run --fresh``), overwriting the cache
    records: list[StageRecord] = field(default_factory=list)
    context: RestoreContext | None = None

    def __post_init__(self) -> None:
        from restorebench import models

        self.methods = [models.get(stage.name, **stage.params) for stage in self.stages]

    def prepare(self, context: RestoreContext) -> None:
        """Remember the case's context; each stage prepares when (and only if) it computes."""
        self.context = context

    def restore(self, image: np.ndarray) -> np.ndarray:
        from restorebench.bench.execute import describe_exception, status_of  # the worker's conventions

        if self.context is None:
            raise RuntimeError("chain: call prepare(context) before restore(image)")
        self.records = []
        current = image
        for index, (stage, method) in enumerate(zip(self.stages, self.methods), start=1):
            record = StageRecord(stage=index, method=stage.name, scale=stage.scale)
            self.records.append(record)
            try:
                current = self._run_stage(index, stage, method, current, record)
            except ChainStageError as exc:
                record.status, record.error = status_of(exc), str(exc)
                raise
            except Exception as exc:
                error = ChainStageError(index, len(self.stages), stage, exc, describe_exception(exc))
                record.status, record.error = status_of(exc), str(error)
                raise error from exc
        return current

    def resources(self) -> Resources:
        """What a case of the chain needs: its stages run one after another in one worker, so
        the most any stage asks for (CPU threads, GPU share, memory)."""
        wants = [method.resources() for method in self.methods]
        memory = [w.memory_mb for w in wants if w.memory_mb is not None]
        return Resources(cpus=max(w.cpus for w in wants), gpus=max(w.gpus for w in wants), memory_mb=max(memory, default=None))

    def estimated_kernel(self) -> np.ndarray | None:
        """None: a chain's stages each estimate the kernel of their own factor (a ×2 stage's
        kernel is not the ×4 or ×8 kernel its item is scored against), and a stage reused from the
        cache ran no estimation at all."""
        return None

    @property
    def seconds_prepare(self) -> float:
        return sum(r.seconds_prepare for r in self.records)

    # ------------------------------------------------------------------------------------------
    def _run_stage(self, index: int, stage: Stage, method: Any, image: np.ndarray, record: StageRecord) -> np.ndarray:
        from restorebench.bench.execute import output_problem

        ctx = self.context
        assert ctx is not None
        h, w = image.shape[:2]
        expected = (h * stage.scale, w * stage.scale, 3)
        record.key = stage_key(stage, method.version, image, seed=ctx.seed, sample=ctx.sample)
        path = stage_path(ctx.cache_dir, record.key)
        if self.reuse:
            t = time.perf_counter()
            cached = _read_cached(path, expected)
            record.seconds_cache = time.perf_counter() - t
            if cached is not None:
                output, record.sha256 = cached
                record.status, record.path, record.height, record.width = "cached", str(path), expected[0], expected[1]
                return output
        stage_ctx = RestoreContext(
            task="sr", scale=stage.scale, seed=ctx.seed, sample=ctx.sample, cache_dir=ctx.cache_dir,
            device=ctx.device, item_id=f"{ctx.item_id} (stage {index}/{len(self.stages)})",
        )
        t = time.perf_counter()
        method.prepare(stage_ctx)
        record.seconds_prepare = time.perf_counter() - t
        t = time.perf_counter()
        output = method.restore(image)
        record.seconds_restore = time.perf_counter() - t
        problem = output_problem(output, expected, stage.name)
        if problem:
            raise ChainStageError(index, len(self.stages), stage, RestoreBenchError(problem), problem)
        t = time.perf_counter()
        record.sha256 = _write_cached(path, output)
        record.seconds_cache = time.perf_counter() - t
        record.path, record.height, record.width = str(path), expected[0], expected[1]
        return output


def stage_key(stage: Stage, method_version: str, image: np.ndarray, *, seed: int, sample: int) -> str:
    """The cache key of a stage's output: the method's version (source closure, parameters,
    checkpoint hashes), the factor, the seed (and the sample of a stochastic method), and the
    stage input's pixels."""
    pixels = hashlib.sha256(np.ascontiguousarray(image).tobytes())
    pixels.update(repr((image.shape, str(image.dtype))).encode())
    payload = {
        "format": CHAIN_FORMAT,
        "method": stage.name,
        "version": method_version,
        "scale": stage.scale,
        "seed": seed,
        "sample": sample if stage.stochastic else None,
        "input": pixels.hexdigest(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def stage_path(cache_dir: Path | None, key: str) -> Path:
    if cache_dir is None:
        raise RestoreBenchError("chain: no cache folder in the restore context")
    return Path(cache_dir) / STAGE_CACHE / key[:2] / f"{key}.png"


def _read_cached(path: Path, expected: tuple[int, ...]) -> tuple[np.ndarray, str] | None:
    """The cached output and its file's sha256, or None when there is none that can be used (a
    file that does not decode or has another shape is computed again and overwritten)."""
    from restorebench.metrics.errors import InvalidImageError
    from restorebench.metrics.imageio import file_sha256, load_image

    if not path.is_file():
        return None
    try:
        output = load_image(path)
        sha256 = file_sha256(path)
    except (InvalidImageError, OSError):
        return None
    return (output, sha256) if output.shape == expected else None


def _write_cached(path: Path, output: np.ndarray) -> str:
    """Write a stage's output under a private temporary name, then rename it into place: two
    workers computing the same stage never see each other's half-written file."""
    from restorebench.metrics.imageio import save_png

    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.png")
    try:
        sha256 = save_png(output, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return sha256
