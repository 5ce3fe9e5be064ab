"""Running one case: load → prepare → restore → check → save → score, each stage timed.

This is what a worker process does (or the main process with ``workers: 0``). It never raises
for a problem of the case itself: every failure becomes the case's status and a message that
names the file or the method, so that the run goes on and nothing already stored is lost.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import resource
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from restorebench import metrics
from restorebench import models
from restorebench.bench.plan import Case
from restorebench.metrics import kernel_accuracy
from restorebench.metrics.errors import InvalidImageError, RestoreBenchError, WeightsUnavailableError
from restorebench.metrics.imageio import load_image, save_png
from restorebench.metrics.matlab import imresize
from restorebench.models.base import Method, RestoreContext


@dataclass(frozen=True)
class MetricSpecLite:
    name: str
    options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Task:
    """What a worker receives: a case to run, or a case whose output only needs new scores."""

    case: Case
    metrics: tuple[MetricSpecLite, ...]
    out_dir: str
    run_id: str
    device: str = "auto"
    score_only: tuple[str, ...] = ()  # metric names, for a finished case missing some scores
    output_path: str | None = None
    save_outputs: bool = True


# -- per-process caches -----------------------------------------------------------------------------
_METHODS: dict[str, Method] = {}
_METRICS: dict[MetricSpecLite, metrics.Metric] = {}


def _method(case: Case) -> Method:
    key = case.variant.variant_id
    if key not in _METHODS:
        _METHODS[key] = models.get(case.variant.name, **case.variant.params)
    return _METHODS[key]


def _metric(spec: MetricSpecLite) -> metrics.Metric:
    if spec not in _METRICS:
        _METRICS[spec] = metrics.get(spec.name, **dict(spec.options))
    return _METRICS[spec]


# -- memory --------------------------------------------------------------------------------------------
def reset_peak_memory() -> None:
    """Reset the kernel's peak-RSS counter of this process (Linux ≥ 4.0), so the next reading is
    the peak of this case alone; elsewhere the reading is the process's lifetime peak."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def peak_memory_mb() -> float:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# -- helpers -------------------------------------------------------------------------------------------
def describe_exception(exc: BaseException) -> str:
    """One line: the exception and where it was raised (file:line), for the case's error column."""
    if isinstance(exc, RestoreBenchError):
        return str(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"[:2000]


def output_problem(output: Any, expected: tuple[int, ...], method: str) -> str | None:
    """Why a method's output is unusable, or None."""
    if not isinstance(output, np.ndarray):
        return f"method '{method}' returned {type(output).__name__}, expected a uint8 numpy array"
    if output.dtype.kind == "f" and not np.all(np.isfinite(output)):
        bad = int(np.count_nonzero(~np.isfinite(output)))
        return f"method '{method}' returned {bad} NaN/inf values"
    if output.dtype != np.uint8:
        return f"method '{method}' returned {output.dtype} pixels, expected uint8"
    if output.shape != expected:
        return f"method '{method}' returned shape {output.shape}, expected {expected}"
    return None


def safe_name(text: str) -> str:
    """A file-name-safe form of ``text`` that is unique by construction: readable characters
    kept, the rest replaced, and a short hash of the original appended, so that ``a b`` and
    ``a_b`` (or ``é`` and ``ü``) never name the same file."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.")[:80] or "_"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{readable}-{digest}"


def output_path_for(task: Task) -> Path:
    case = task.case
    folder = Path(task.out_dir) / "outputs" / safe_name(case.item.dataset) / f"{safe_name(case.variant.label)}-{case.variant.variant_id[:8]}"
    return folder / f"{safe_name(case.item.item)}-seed{case.seed}-sample{case.sample}.png"


def _load(path: Path | None, size: int | None) -> np.ndarray | None:
    if path is None:
        return None
    image = load_image(path)
    if size is not None and image.shape[:2] != (size, size):
        image = imresize(image, output_shape=(size, size))
    return image


def _psf(case: Case) -> np.ndarray | None:
    if case.item.psf_path is None:
        return None
    try:
        psf = np.load(case.item.psf_path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InvalidImageError(f"{case.item.psf_path}: unreadable kernel file ({exc})") from None
    if psf.ndim != 2 or not np.all(np.isfinite(psf)) or psf.sum() <= 0:
        raise InvalidImageError(f"{case.item.psf_path}: a kernel must be a finite 2-D array with positive sum")
    return psf / psf.sum()


def _score(
    task: Task, output: np.ndarray, reference: np.ndarray | None, names: tuple[str, ...] | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Score rows of ``output``, and how it was registered to the reference (None: not at all)."""
    rows = []
    aligned_reference = reference
    aligned_output = output
    alignment = None
    if reference is not None and task.case.item.align != "none":
        from restorebench.metrics.registration import register_to

        aligned_output, (dy, dx) = register_to(output, reference, method=task.case.item.align)
        alignment = f"{task.case.item.align} dy={dy:+.2f} dx={dx:+.2f}"
    for spec in task.metrics:
        if names is not None and spec.name not in names:
            continue
        row = {"case_id": task.case.case_id, "metric": spec.name, "value": None, "error": None, "run_id": task.run_id}
        start = time.perf_counter()
        try:
            metric = _metric(spec)
            if metric.kind == "FR" and aligned_reference is None:
                row.update(status="not_applicable", error="no reference image for this item")
            else:
                value = metric(aligned_output, aligned_reference) if metric.kind == "FR" else metric(output)
                if math.isnan(value):
                    row.update(status="failed", error=f"metric '{spec.name}' returned NaN")
                else:
                    row.update(status="ok", value=value)
        except WeightsUnavailableError as exc:
            row.update(status="unavailable", error=str(exc))
        except Exception as exc:  # a metric failure must not lose the case or the run
            row.update(status="failed", error=describe_exception(exc))
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
    return rows, alignment


def case_row(task: Task) -> dict[str, Any]:
    case = task.case
    item = case.item
    return {
        "case_id": case.case_id,
        "run_id": task.run_id,
        "origin": "run",
        "dataset": item.dataset,
        "task": item.task,
        "domain": item.domain,
        "group_name": item.group,
        "item": item.item,
        "blur": item.blur,
        "scale": item.scale,
        "method": case.variant.name,
        "variant_id": case.variant.variant_id,
        "seed": case.seed,
        "sample": case.sample,
        "input_path": str(item.input_path),
        "input_sha256": case.input_sha256,
        "reference_path": str(item.reference_path) if item.reference_path else None,
        "status": "ok",
        "error": None,
    }


def placeholder_scores(task: Task, status: str, error: str | None) -> list[dict[str, Any]]:
    """One row per metric for a case that produced no output, so that every (case, metric) has
    exactly one row and a leaderboard can count what is missing."""
    return [
        {"case_id": task.case.case_id, "metric": m.name, "value": None, "status": status, "error": error, "seconds": 0.0, "run_id": task.run_id}
        for m in task.metrics
    ]


def execute(task: Task) -> dict[str, list[dict[str, Any]]]:
    """Run one task and return the rows to store: ``{"cases": [...], "scores": [...], "artifacts": [...]}``."""
    if task.score_only:
        return _rescore(task)
    case = task.case
    row = case_row(task)
    timings = {"seconds_load": 0.0, "seconds_prepare": 0.0, "seconds_restore": 0.0, "seconds_save": 0.0}
    reset_peak_memory()
    start = time.perf_counter()
    stage = "load"
    output_path: Path | None = None
    try:
        t = time.perf_counter()
        image = _load(case.item.input_path, case.item.size)
        reference = _load(case.item.reference_path, case.item.size)
        training = reference if case.item.training_path == case.item.reference_path else _load(case.item.training_path, case.item.size)
        psf = _psf(case) if case.item.size is None else None
        timings["seconds_load"] = time.perf_counter() - t
        assert image is not None

        stage = "prepare"
        t = time.perf_counter()
        method = _method(case)
        context = RestoreContext(
            task=case.item.task,  # type: ignore[arg-type]
            scale=case.item.scale,
            psf=psf,
            training_image=training,
            blur=case.item.blur,
            seed=case.seed,
            sample=case.sample,
            cache_dir=Path(task.out_dir) / "cache",
            device=task.device,
            item_id=case.item.item,
        )
        method.prepare(context)
        timings["seconds_prepare"] = time.perf_counter() - t

        stage = "restore"
        t = time.perf_counter()
        output = method.restore(image)
        timings["seconds_restore"] = time.perf_counter() - t
        h, w = image.shape[:2]
        scale = case.item.scale if case.item.task == "sr" else 1
        problem = output_problem(output, (h * scale, w * scale, 3), case.variant.name)
        if problem:
            raise _BadOutput(problem)

        stage = "save"
        t = time.perf_counter()
        artifacts = []
        if task.save_outputs:
            output_path = output_path_for(task)
            sha = save_png(output, output_path)
            row.update(output_path=str(output_path), output_sha256=sha)
            artifacts.append({"case_id": case.case_id, "kind": "output", "path": str(output_path), "sha256": sha})
        row.update(width=int(output.shape[1]), height=int(output.shape[0]))
        # A method's estimate of the degradation kernel: kept, and scored against the true kernel.
        kernel_rows = kernel_accuracy.case_rows(
            method.estimated_kernel(), truth=psf, hr=reference, scale=scale, case_id=case.case_id, run_id=task.run_id,
            artifact_path=output_path.with_suffix(".kernel.npy") if output_path else None,
        )
        artifacts += kernel_rows["artifacts"]
        timings["seconds_save"] = time.perf_counter() - t
    except Exception as exc:
        if isinstance(exc, InvalidImageError):
            status = "invalid_input"
        elif isinstance(exc, WeightsUnavailableError):
            status = "unavailable"
        else:
            status = "failed"
        message = describe_exception(exc)
        if status == "failed" and not isinstance(exc, _BadOutput):
            message = f"{stage}: {message}"
        row.update(status=status, error=message)
        row.update(timings, seconds_total=time.perf_counter() - start, peak_rss_mb=peak_memory_mb(), finished_at=_now())
        return {"cases": [row], "scores": placeholder_scores(task, f"case_{status}", row["error"]), "artifacts": []}
    scores, alignment = _score(task, output, reference)
    scores += kernel_rows["scores"]
    row["alignment"] = alignment
    row.update(timings, seconds_total=time.perf_counter() - start, peak_rss_mb=peak_memory_mb(), finished_at=_now())
    return {"cases": [row], "scores": scores, "artifacts": artifacts}


def _rescore(task: Task) -> dict[str, list[dict[str, Any]]]:
    """Score a finished case's saved output with metrics it has no valid score for yet."""
    assert task.output_path is not None
    try:
        output = load_image(task.output_path)
        reference = _load(task.case.item.reference_path, task.case.item.size)
    except InvalidImageError as exc:
        return {"cases": [], "scores": [
            {"case_id": task.case.case_id, "metric": m, "value": None, "status": "failed", "error": str(exc), "seconds": 0.0, "run_id": task.run_id}
            for m in task.score_only
        ], "artifacts": []}
    return {"cases": [], "scores": _score(task, output, reference, task.score_only)[0], "artifacts": []}


class _BadOutput(RestoreBenchError):
    pass


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
