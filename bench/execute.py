"""Running one case: load → prepare → restore → check → save → score, each stage timed.

This is what a worker process does (or the main process with ``workers: 0``). It never raises
for a problem of the case itself: every failure becomes the case's status and a message that
names the file or the method, so that the run goes on and nothing already stored is lost.

"save" encodes the output as PNG bytes, returned in the result: the driver (the runner's main
process) writes them under ``--out``. A worker never writes there, so that a worker on another
machine (the Ray executor) needs no file system shared with the driver.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
import re
import resource
import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from restorebench import metrics
from restorebench import models
from restorebench.bench.chains import Chain, ChainStageError
from restorebench.bench.plan import Case
from restorebench.bench.store import ArtifactRow, CaseResult, CaseRow, OutputFile, ScoreRow
from restorebench.metrics import kernel_accuracy
from restorebench.metrics.errors import InvalidImageError, RestoreBenchError, WeightsUnavailableError
from restorebench.metrics.imageio import encode_png, load_image
from restorebench.metrics.matlab import imresize
from restorebench.models.base import Method, RestoreContext


@dataclass(frozen=True)
class MetricSpecLite:
    name: str
    options: tuple[tuple[str, Any], ...] = ()
    label: str | None = None  # the name its scores are stored under, when not ``name``

    @property
    def key(self) -> str:
        return self.label or self.name


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
    preparation_key: str | None = None  # the shared preparation this case waits for
    reuse_stages: bool = True  # a chain may reuse its stages' cached outputs (not with --fresh)


@dataclass(frozen=True)
class Preparation:
    """Expensive work several cases share (training on a photo), done once per ``key`` before them
    by building the method and calling its ``prepare`` on ``case`` (the first case that needs it);
    the method caches the result on disk, where the cases find it."""

    key: str
    case: Case
    out_dir: str
    run_id: str
    device: str = "auto"

    @property
    def what(self) -> str:
        return f"{self.case.variant.name} {self.case.variant.shared_preparation or 'preparation'} of {self.case.item.item}"

    def result(self, status: str, error: str | None, *, seconds: float) -> "PreparationResult":
        return PreparationResult(key=self.key, what=self.what, variant_id=self.case.variant.variant_id, status=status,
                                 error=error, seconds=seconds, run_id=self.run_id, finished_at=_now(), node=NODE)


@dataclass
class PreparationResult:
    key: str
    what: str
    variant_id: str
    status: str  # ok | failed | timeout | crashed | unavailable | invalid_input
    error: str | None
    seconds: float
    run_id: str
    finished_at: dt.datetime
    node: str | None = None


#: Where this process runs, recorded with each case (the Ray executor records its node instead).
NODE = socket.gethostname()


# -- per-process caches -----------------------------------------------------------------------------
_METHODS: dict[str, Method | Chain] = {}
_METRICS: dict[MetricSpecLite, metrics.Metric] = {}


def _method(case: Case) -> Method | Chain:
    key = case.variant.variant_id
    if key not in _METHODS:
        variant = case.variant
        _METHODS[key] = Chain(variant.stages) if variant.stages else models.get(variant.name, **variant.params)
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


def output_problem(output: Any, expected: tuple[int, ...] | None, method: str) -> str | None:
    """Why a method's output is unusable, or None (``expected``: its shape; None: any H×W×3)."""
    if not isinstance(output, np.ndarray):
        return f"method '{method}' returned {type(output).__name__}, expected a uint8 numpy array"
    if output.dtype.kind == "f" and not np.all(np.isfinite(output)):
        bad = int(np.count_nonzero(~np.isfinite(output)))
        return f"method '{method}' returned {bad} NaN/inf values"
    if output.dtype != np.uint8:
        return f"method '{method}' returned {output.dtype} pixels, expected uint8"
    if expected is None and (output.ndim != 3 or output.shape[2] != 3 or 0 in output.shape):
        return f"method '{method}' returned shape {output.shape}, expected H×W×3"
    if expected is not None and output.shape != expected:
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
) -> tuple[list[ScoreRow], str | None]:
    """Score rows of ``output``, and how it was registered to the reference (None: not at all)."""
    rows = []
    aligned_output = output
    alignment = None
    if reference is not None and task.case.item.align != "none":
        from restorebench.metrics.registration import register_to

        aligned_output, (dy, dx) = register_to(output, reference, method=task.case.item.align)
        alignment = f"{task.case.item.align} dy={dy:+.2f} dx={dx:+.2f}"
    for spec in task.metrics:
        if names is not None and spec.key not in names:
            continue
        row = ScoreRow(task.case.case_id, spec.key, status="ok", run_id=task.run_id)
        start = time.perf_counter()
        try:
            metric = _metric(spec)
            if metric.kind == "FR" and reference is None:
                row.status, row.error = "not_applicable", "no reference image for this item"
            else:
                value = metric(aligned_output, reference) if metric.kind == "FR" else metric(output)
                if math.isnan(value):
                    row.status, row.error = "failed", f"metric '{spec.key}' returned NaN"
                else:
                    row.value = value
        except WeightsUnavailableError as exc:
            row.status, row.error = "unavailable", str(exc)
        except Exception as exc:  # a metric failure must not lose the case or the run
            row.status, row.error = "failed", describe_exception(exc)
        row.seconds = time.perf_counter() - start
        rows.append(row)
    return rows, alignment


def case_row(task: Task) -> CaseRow:
    case = task.case
    item = case.item
    return CaseRow(
        case_id=case.case_id,
        run_id=task.run_id,
        dataset=item.dataset,
        task=item.task,
        domain=item.domain,
        group_name=item.group,
        item=item.item,
        blur=item.blur,
        scale=item.scale,
        method=case.variant.name,
        variant_id=case.variant.variant_id,
        seed=case.seed,
        sample=case.sample,
        input_path=str(item.input_path),
        input_sha256=case.input_sha256,
        reference_path=str(item.reference_path) if item.reference_path else None,
        node=NODE,
    )


def placeholder_scores(task: Task, status: str, error: str | None) -> list[ScoreRow]:
    """One row per metric for a case that produced no output, so that every (case, metric) has
    exactly one row and a leaderboard can count what is missing."""
    return [ScoreRow(task.case.case_id, m.key, status=status, error=error, run_id=task.run_id) for m in task.metrics]


def failed_scores(task: Task, error: str) -> list[ScoreRow]:
    """Rows for the new metrics of a stored case that could not be scored."""
    return [ScoreRow(task.case.case_id, m, status="failed", error=error, run_id=task.run_id) for m in task.score_only]


def stopped_case(task: Task, status: str, message: str) -> CaseResult:
    """The result of a task whose worker was stopped (timeout) or died (crashed)."""
    if task.score_only:  # the case itself is fine; only the new scores failed
        return CaseResult(None, failed_scores(task, message))
    row = case_row(task)
    row.status, row.error, row.finished_at = status, message, _now()
    return CaseResult(row, placeholder_scores(task, f"case_{status}", message))


def execute(task: Task, *, cache_dir: str | Path | None = None) -> CaseResult:
    """Run one task and return the rows to store, with the output image as PNG bytes (the driver
    writes it). ``cache_dir``: where the method keeps trained state (default ``<out>/cache``)."""
    if task.score_only:
        return _rescore(task)
    case = task.case
    row = case_row(task)
    timings = {"seconds_load": 0.0, "seconds_prepare": 0.0, "seconds_restore": 0.0, "seconds_save": 0.0}
    reset_peak_memory()
    start = time.perf_counter()
    stage = "load"
    artifacts: list[ArtifactRow] = []
    files: list[OutputFile] = []
    cache = _cache_dir(task.out_dir, cache_dir)
    kernel: np.ndarray | None = None  # the degradation kernel the method estimated, if it did
    output_path: str | None = None
    try:
        if case.variant.set_level:
            stage = "prepare"
            reference, output = None, _sample_of_set(task, timings, cache_dir=cache)
            problem = output_problem(output, None, case.variant.name)
        else:
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
            if isinstance(method, Chain):
                method.reuse = task.reuse_stages
            method.prepare(_context(case, psf=psf, training=training, cache_dir=cache, device=task.device))
            timings["seconds_prepare"] = time.perf_counter() - t

            stage = "restore"
            t = time.perf_counter()
            try:
                output = method.restore(image)
            finally:
                timings["seconds_restore"] = time.perf_counter() - t
                if isinstance(method, Chain):  # its stages prepare inside restore: count that as preparing
                    _record_stages(row, artifacts, files, method, timings, cache_dir=cache,
                                   driver_cache=_cache_dir(task.out_dir, None))
            kernel = method.estimated_kernel()
            h, w = image.shape[:2]
            scale = case.item.scale if case.item.task == "sr" else 1
            problem = output_problem(output, (h * scale, w * scale, 3), case.variant.name)
        if problem:
            raise _BadOutput(problem)

        stage = "save"
        t = time.perf_counter()
        if task.save_outputs:
            output_path = str(output_path_for(task))
            data = encode_png(output, name=output_path)
            sha = hashlib.sha256(data).hexdigest()
            files.append(OutputFile(output_path, data, sha))
            row.output_path, row.output_sha256 = output_path, sha
            artifacts.append(ArtifactRow(case.case_id, "output", output_path, sha))
        row.width, row.height = int(output.shape[1]), int(output.shape[0])
        # A method's estimate of the degradation kernel: kept (as bytes the driver writes, beside
        # the output), and scored against the true kernel.
        kernel_rows = kernel_accuracy.case_rows(
            kernel, truth=psf if kernel is not None else None, hr=reference, scale=case.item.scale or 1,
            case_id=case.case_id, run_id=task.run_id, artifact_path=None,
        )
        if kernel is not None and output_path is not None:
            kernel_path = str(Path(output_path).with_suffix(".kernel.npy"))
            data = kernel_accuracy.encode_kernel(kernel)
            sha = hashlib.sha256(data).hexdigest()
            files.append(OutputFile(kernel_path, data, sha))
            artifacts.append(ArtifactRow(case.case_id, kernel_accuracy.ARTIFACT_KIND, kernel_path, sha))
        timings["seconds_save"] = time.perf_counter() - t
    except Exception as exc:
        status = status_of(exc)
        message = describe_exception(exc)
        if status == "failed" and not isinstance(exc, (_BadOutput, ChainStageError)):
            message = f"{stage}: {message}"
        row.status, row.error = status, message
        _finish(row, timings, start)
        return CaseResult(row, placeholder_scores(task, f"case_{status}", message), artifacts, files=files)
    scores, row.alignment = _score(task, output, reference)
    scores += [ScoreRow(**r) for r in kernel_rows["scores"]]
    _finish(row, timings, start)
    return CaseResult(row, scores, artifacts, files=files)


def _cache_dir(out_dir: str, cache_dir: str | Path | None) -> Path:
    return Path(cache_dir) if cache_dir is not None else Path(out_dir) / "cache"


def _record_stages(row: CaseRow, artifacts: list[ArtifactRow], files: list[OutputFile], chain: Chain,
                   timings: dict[str, float], *, cache_dir: Path, driver_cache: Path) -> None:
    """A chain's stage records into its case row (``stages``), each stage's cached output as an
    artifact (``stage1``, ``stage2``, …), and its stages' preparation time into ``seconds_prepare``.

    When the case ran in a cache folder other than the driver's (``<out>/cache``: a Ray node's
    scratch folder), each stage output also travels back as bytes and is recorded under the
    driver's path, where the driver writes it."""
    if cache_dir != driver_cache:
        for record in chain.records:
            if record.path and record.sha256:
                local = Path(record.path)
                record.path = str(driver_cache / local.relative_to(cache_dir))
                files.append(OutputFile(record.path, local.read_bytes(), record.sha256))
    row.stages = [dataclasses.asdict(record) for record in chain.records]
    artifacts += [ArtifactRow(row.case_id, f"stage{r.stage}", r.path, r.sha256) for r in chain.records if r.sha256]
    timings["seconds_prepare"] += chain.seconds_prepare
    timings["seconds_restore"] -= chain.seconds_prepare


def _context(case: Case, *, psf: np.ndarray | None, training: np.ndarray | None, cache_dir: Path, device: str) -> RestoreContext:
    return RestoreContext(
        task=case.item.task,  # type: ignore[arg-type]
        scale=case.item.scale,
        psf=psf,
        training_image=training,
        blur=case.item.blur,
        seed=case.seed,
        sample=case.sample,
        cache_dir=cache_dir,
        device=device,
        item_id=case.item.item,
    )


def status_of(exc: BaseException) -> str:
    """A case's status for an exception its method raised (a chain's: what its stage raised)."""
    if isinstance(exc, ChainStageError):
        exc = exc.cause
    if isinstance(exc, InvalidImageError):
        return "invalid_input"
    if isinstance(exc, WeightsUnavailableError):
        return "unavailable"
    return "failed"


# Where a shared preparation reports how its training goes: set by the executor (a worker process
# sends the line to the runner, which shows it beside the progress bar); None: nowhere.
_progress_sink: Callable[[str], None] | None = None


def set_progress_sink(sink: Callable[[str], None] | None) -> None:
    global _progress_sink
    _progress_sink = sink


def _training_progress(what: str):
    """A set-level method's progress callback that forwards one line per report to the sink."""
    sink = _progress_sink
    if sink is None:
        return None

    def report(progress) -> None:
        eta = f", ETA {progress.eta:.0f} s" if progress.eta is not None else ""
        sink(f"training {what}: iteration {progress.iteration}/{progress.total}{eta}")

    return report


def _prepared_set_method(case: Case, *, cache_dir: Path, device: str, progress=None):
    """A set-level method trained (or loaded from its cache) on the case's set."""
    images = [load_image(path) for path in case.item.set_paths]
    method = _method(case)
    method.prepare_set(images, cache_dir=cache_dir, seed=case.seed, device=device, progress=progress)
    return method


def _sample_of_set(task: Task, timings: dict[str, float], *, cache_dir: Path) -> np.ndarray:
    """A set-level case: the set's model (trained by the shared preparation: loaded here), then
    sample ``case.sample`` of it."""
    t = time.perf_counter()
    method = _prepared_set_method(task.case, cache_dir=cache_dir, device=task.device)
    timings["seconds_prepare"] = time.perf_counter() - t
    t = time.perf_counter()
    output = method.sample(task.case.sample, seed=task.case.seed)
    timings["seconds_restore"] = time.perf_counter() - t
    return output


def prepare_shared(preparation: Preparation, *, cache_dir: str | Path | None = None) -> PreparationResult:
    """Do a shared preparation (the method trains and caches in ``cache_dir``, default
    ``<out>/cache``); never raises for its own problems."""
    case = preparation.case
    start = time.perf_counter()
    cache = _cache_dir(preparation.out_dir, cache_dir)
    try:
        if case.variant.set_level:
            _prepared_set_method(case, cache_dir=cache, device=preparation.device,
                                 progress=_training_progress(preparation.what))
            return preparation.result("ok", None, seconds=time.perf_counter() - start)
        training = _load(case.item.training_path, case.item.size)
        psf = _psf(case) if case.item.size is None else None
        method = _method(case)
        method.prepare(_context(case, psf=psf, training=training, cache_dir=cache, device=preparation.device))
    except Exception as exc:
        return preparation.result(status_of(exc), describe_exception(exc), seconds=time.perf_counter() - start)
    return preparation.result("ok", None, seconds=time.perf_counter() - start)


def _finish(row: CaseRow, timings: dict[str, float], start: float) -> None:
    for key, seconds in timings.items():
        setattr(row, key, seconds)
    row.seconds_total = time.perf_counter() - start
    row.peak_rss_mb = peak_memory_mb()
    row.finished_at = _now()


def _rescore(task: Task) -> CaseResult:
    """Score a finished case's saved output with metrics it has no valid score for yet."""
    assert task.output_path is not None
    try:
        output = load_image(task.output_path)
        reference = _load(task.case.item.reference_path, task.case.item.size)
    except InvalidImageError as exc:
        return CaseResult(None, failed_scores(task, str(exc)))
    return CaseResult(None, _score(task, output, reference, task.score_only)[0])


class _BadOutput(RestoreBenchError):
    pass


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
