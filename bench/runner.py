"""The runner: plan → skip what is stored → execute (workers, timeouts) → store, with progress.

Only this process (the driver) writes the database and the output files: executors hand back
results with the outputs as bytes. Results are written in small transactional batches, so a
``kill -9`` loses at most the cases of the last unflushed batch, and re-running the same spec
completes exactly the missing cases (resume). A case that hangs past the spec's ``timeout`` is
stopped with its worker process and recorded as ``timeout``; a worker that dies (segfault, out of
memory) is recorded as ``crashed``; the run goes on either way.

Executors: ``local`` (the default: ``workers`` spawned processes, or this process with
``workers: 0``) and ``ray`` (a Ray cluster: :mod:`executors_ray`), chosen by the spec's
``executor`` or :attr:`RunOptions.executor`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from restorebench.bench import provenance
from restorebench.bench.execute import MetricSpecLite, Preparation, PreparationResult, Task, stopped_case
from restorebench.bench.executors import ExecutorError, Scheduler, run_inline, run_pool
from restorebench.bench.plan import DEFAULT_MAX_CASES, Plan, file_digest, make_plan
from restorebench.bench.spec import LoadedSpec, variant_record
from restorebench.bench.store import ArtifactRow, CaseResult, CaseRow, ScoreRow, Store, StoreWriteError
from restorebench.metrics.errors import RestoreBenchError
from restorebench.metrics.imageio import write_atomic

# A batch is written after a second, or sooner when it reaches FLUSH_EVERY_CASES cases. Each
# transaction has a fixed cost whatever its size (tests/perf/test_executor_perf.py): with 32-case
# batches the store took 4,500 rows/s, with 512-case batches 16,000 — what a cluster that finishes
# hundreds of cases a second needs. A kill -9 loses at most the last second's cases.
FLUSH_EVERY_CASES = 512
FLUSH_EVERY_SECONDS = 1.0
MAX_PROBLEMS_SHOWN = 10


@dataclass
class RunOptions:
    db: Path
    out_dir: Path
    fresh: bool = False
    limit: int | None = None
    workers: int | None = None  # None: the spec's
    timeout: float | None = None  # None: the spec's
    prepare_timeout: float | None = None  # None: the spec's
    max_cases: int = DEFAULT_MAX_CASES
    progress: bool = True
    save_outputs: bool = True
    executor: str | None = None  # None: the spec's (local | ray)
    address: str | None = None  # ray: a cluster to join ("auto": the one this machine belongs to); None: start one here


@dataclass
class RunSummary:
    """What a run did. ``status_counts`` counts the cases it ran (or recorded unrunnable)."""

    run_id: str
    planned: int
    skipped: int  # stored already (ok, or unavailable with the same missing checkpoints)
    executed: int
    rescored: int  # stored cases that only needed new scores
    status_counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    skipped_unavailable: int = 0
    scores_failed: int = 0
    #: (what, status, message) of the first failures, for the summary a user reads
    problems: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """Cases that failed, timed out, crashed or had invalid input (unavailable is not failed)."""
        return sum(n for s, n in self.status_counts.items() if s not in ("ok", "unavailable"))

    @property
    def unavailable(self) -> int:
        return self.status_counts.get("unavailable", 0)


def _metric_specs(loaded: LoadedSpec) -> tuple[MetricSpecLite, ...]:
    return tuple(MetricSpecLite(m.name, tuple(sorted(m.options.items())), m.label) for m in loaded.spec.metrics)


def _metric_records(loaded: LoadedSpec) -> list[dict[str, Any]]:
    from restorebench import metrics
    from restorebench.metrics import kernel_accuracy

    rows = []
    for spec in loaded.spec.metrics:
        metric = metrics.get(spec.name, **spec.options)
        low, high = metric.value_range
        rows.append({
            "name": spec.key, "kind": metric.kind, "higher_is_better": metric.higher_is_better,
            "range_low": low, "range_high": high, "options": spec.options,
            "code_version": metric.code_version, "conventions": metric.conventions,
            "weights": metric.weights_fingerprint(), "version": metric.version, "measures": metric.measures,
        })
    # Scored for every case whose method exposes its kernel estimate, whatever the spec lists.
    return rows + kernel_accuracy.metric_records()


def _dataset_records(plan: Plan) -> list[dict[str, Any]]:
    rows = []
    for spec in plan.loaded.spec.datasets:
        options = spec.model_dump(exclude={"name", "kind", "source", "root"}, exclude_none=True)
        rows.append({
            "name": spec.name, "kind": spec.kind, "task": plan.items[spec.name][0].task if plan.items[spec.name] else None,
            "source": spec.source, "root": spec.root, "options": options, "n_items": len(plan.items[spec.name]),
        })
    return rows


class _Batcher:
    """Collects finished cases and writes them in transactional batches."""

    def __init__(self, store: Store, on_case: Callable[[CaseRow], None], metric_versions: dict[str, str], out_dir: Path,
                 on_problem: Callable[[str, str, str], None] = lambda *a: None):
        self.store = store
        self.out_dir = out_dir
        self.on_case = on_case
        self.on_problem = on_problem
        self.metric_versions = metric_versions
        self.cases: list[CaseRow] = []
        self.scores: list[ScoreRow] = []
        self.artifacts: list[ArtifactRow] = []
        self.preparations: list[PreparationResult] = []
        self.failed_scores = 0
        self.last_flush = time.monotonic()

    def add(self, result: CaseResult | PreparationResult) -> None:
        if isinstance(result, PreparationResult):
            self.preparations.append(result)
            return
        self.write_outputs(result)
        failed = [row for row in result.scores if row.status == "failed"]
        self.failed_scores += len(failed)
        for row in failed:
            self.on_problem(row.case_id, row.metric, row.error or "")
        for row in result.scores:
            row.metric_version = self.metric_versions.get(row.metric)
        self.scores += result.scores
        self.artifacts += result.artifacts
        if result.case is not None:
            self.cases.append(result.case)
            self.on_case(result.case)
        if len(self.cases) >= FLUSH_EVERY_CASES or time.monotonic() - self.last_flush > FLUSH_EVERY_SECONDS:
            self.flush()

    def write_outputs(self, result: CaseResult) -> None:
        """Write a result's output files before its rows (a stored row always has its file). Their
        bytes are dropped once written: a long run keeps no images in memory."""
        start = time.perf_counter()
        for file in result.files:
            try:
                write_atomic(file.path, file.data)
            except OSError as exc:  # full, read-only or forbidden --out: every case would fail alike
                self.flush()  # what finished before is kept
                raise OutputWriteError(
                    f"cannot write outputs under {self.out_dir}: {exc.strerror or exc} ({exc.filename or file.path}). "
                    f"Nothing stored was lost; free space or choose another --out and run again to resume"
                ) from None
        if result.files and result.case is not None:
            seconds = time.perf_counter() - start
            result.case.seconds_save = (result.case.seconds_save or 0.0) + seconds
            result.case.seconds_total = (result.case.seconds_total or 0.0) + seconds
        result.files = []

    def flush(self) -> None:
        cases, scores, artifacts, preparations = self.cases, self.scores, self.artifacts, self.preparations
        self.cases, self.scores, self.artifacts, self.preparations = [], [], [], []  # a refused batch is not offered twice
        self.last_flush = time.monotonic()
        if preparations:
            self.store.upsert("preparations", [dataclasses.asdict(p) for p in preparations])
        if cases or scores:
            self.store.write_results(cases, scores, artifacts)


def run(loaded: LoadedSpec, options: RunOptions, *, plan: Plan | None = None) -> RunSummary:
    """Run a spec into the database ``options.db``; returns counts. Raises only for problems of
    the run as a whole (database in use, unreadable dataset folder)."""
    started = time.monotonic()
    plan = plan or make_plan(loaded, limit=options.limit, max_cases=options.max_cases)
    spec = loaded.spec
    workers = spec.workers if options.workers is None else options.workers
    timeout = spec.timeout if options.timeout is None else options.timeout
    prepare_timeout = spec.prepare_timeout if options.prepare_timeout is None else options.prepare_timeout
    metric_specs = _metric_specs(loaded)
    executor_name = options.executor or spec.executor
    if executor_name == "ray":  # a missing extra is a message before anything is recorded
        from restorebench.bench.executors_ray import import_ray

        import_ray()
    run_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]

    with Store(options.db) as store:
        # A run still marked "running" cannot be alive: we hold the only write lock.
        with store.writing("mark earlier runs that never finished as interrupted"):
            store.con.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'")
        git_sha, git_dirty = provenance.git_state()
        store.upsert("runs", [{
            "run_id": run_id, "kind": "run", "spec_name": spec.name, "spec_path": str(loaded.path),
            "spec_sha256": loaded.sha256, "spec_text": loaded.text, "started_at": _utcnow(), "status": "running",
            "git_sha": git_sha, "git_dirty": git_dirty, "versions": provenance.package_versions(),
            "machine": provenance.machine(), "argv": " ".join(sys.argv), "n_planned": len(plan.cases),
        }])
        store.upsert("datasets", _dataset_records(plan))
        store.upsert("methods", [variant_record(v) for v in loaded.variants])
        metric_records = _metric_records(loaded)
        store.upsert("metrics", metric_records)
        metric_versions = {row["name"]: row["version"] for row in metric_records}

        if options.fresh:
            store.delete_cases(plan.case_ids)
        done = store.settled_cases(plan.case_ids)
        tasks: list[Task] = []
        scored = store.scored_metrics(done) if done else {}
        outputs = store.ok_outputs(done) if done else {}
        rescored = 0
        common = dict(metrics=metric_specs, out_dir=str(options.out_dir), run_id=run_id, device=spec.device,
                      save_outputs=options.save_outputs, reuse_stages=not options.fresh)
        unrunnable: list[CaseResult] = []
        for case in plan.cases:
            if case.case_id not in done:
                if case.item.problem:  # nothing to execute: recorded as it is
                    unrunnable.append(stopped_case(Task(case=case, **common), "invalid_input", case.item.problem))
                else:
                    tasks.append(Task(case=case, **common))
                continue
            if done[case.case_id] == "unavailable":
                continue  # no output to score, and the same checkpoints are still missing
            # not scored yet, or scored by other metric code, options or checkpoints
            have = scored.get(case.case_id, {})
            missing = tuple(m.key for m in metric_specs if have.get(m.key, "missing") != metric_versions[m.key])
            if not missing:
                continue
            path, sha256 = outputs.get(case.case_id, (None, None))
            if path and _output_intact(path, sha256):
                tasks.append(Task(case=case, score_only=missing, output_path=path, **common))
                rescored += 1
            elif path or options.save_outputs:
                # the stored output is gone or is not the file that was scored: run the case again
                tasks.append(Task(case=case, **common))
        summary = RunSummary(run_id, len(plan.cases), len(plan.cases) - len(tasks) - len(unrunnable),
                             len(tasks) + len(unrunnable) - rescored, rescored,
                             skipped_unavailable=sum(1 for status in done.values() if status == "unavailable"))
        tasks, preparations = _shared_preparations(tasks, out_dir=str(options.out_dir), run_id=run_id, device=spec.device)
        if executor_name == "ray":
            from restorebench.bench.executors_ray import run_ray

            executor = functools.partial(run_ray, address=options.address)
        else:
            executor = run_inline if workers == 0 else run_pool
        # a worker lost with its cluster node says nothing about the case: Ray retries it once
        scheduler = Scheduler(tasks, preparations, timeout=timeout, prepare_timeout=prepare_timeout,
                              crash_retries=1 if executor_name == "ray" else 0)

        bar = _progress(len(tasks) + len(preparations), options.progress, spec.name)

        items = {c.case_id: (c.item.item, c.variant.label) for c in plan.cases}

        def on_problem(case_id: str, status: str, message: str) -> None:
            if len(summary.problems) < MAX_PROBLEMS_SHOWN:
                item, label = items.get(case_id, (case_id, "?"))
                summary.problems.append((f"{label} on {item}", status, message))

        def on_case(row: CaseRow) -> None:
            if row.status not in ("ok", "unavailable"):
                on_problem(row.case_id, row.status, row.error or "")
            summary.status_counts[row.status] = summary.status_counts.get(row.status, 0) + 1
            if bar is not None:
                bar.set_postfix_str(", ".join(f"{k} {v}" for k, v in sorted(summary.status_counts.items())), refresh=False)

        batcher = _Batcher(store, on_case, metric_versions, options.out_dir, on_problem)
        status = "running"
        try:
            for result in unrunnable:
                batcher.add(result)
            def on_progress(line: str) -> None:
                if bar is not None:
                    bar.set_description_str(f"{spec.name} ({line})")

            with _stop_on_sigterm(), contextlib.closing(executor(scheduler, workers=workers, on_progress=on_progress)) as results:
                for job, result in results:
                    batcher.add(result)
                    if bar is not None:
                        if isinstance(job, Preparation):
                            bar.set_description_str(f"{spec.name} (prepared {job.what}: {result.status})", refresh=False)
                        bar.update(1)
            batcher.flush()
            summary.scores_failed = batcher.failed_scores
            status = "ok" if summary.failed == 0 and summary.scores_failed == 0 else "partial"
        except (StoreWriteError, OutputWriteError, ExecutorError):
            status = "failed"  # the batch was rolled back; everything written before it is kept
            raise
        except BaseException:
            status = "interrupted"
            try:
                batcher.flush()  # cases that finished before the interruption are kept
            except StoreWriteError:
                status = "failed"
                raise
            raise
        finally:
            if bar is not None:
                bar.close()
            summary.seconds = time.monotonic() - started
            try:
                store.update_run(
                    run_id, status=status, finished_at=_utcnow(), n_skipped=summary.skipped,
                    n_ok=summary.status_counts.get("ok", 0), n_failed=summary.failed,
                )
            except StoreWriteError:  # the database cannot be written at all; the next run marks it interrupted
                pass
    return summary


def _shared_preparations(tasks: list[Task], *, out_dir: str, run_id: str, device: str) -> tuple[list[Task], list[Preparation]]:
    """The shared preparations that ``tasks`` need (one per key, done by the first case's
    configuration), and the tasks marked with the key they wait for."""
    from restorebench import models

    preparations: dict[str, Preparation] = {}
    methods: dict[str, Any] = {}
    marked = []
    for task in tasks:
        variant, item = task.case.variant, task.case.item
        if variant.shared_preparation == "set" and item.set_paths:
            training_sha256 = task.case.input_sha256  # the set's digest
        elif variant.shared_preparation == "training_image" and item.training_path is not None:
            training_sha256 = file_digest(item.training_path)
        else:
            marked.append(task)
            continue
        if task.score_only:
            marked.append(task)
            continue
        if variant.variant_id not in methods:
            methods[variant.variant_id] = models.get(variant.name, **variant.params)
        key = methods[variant.variant_id].preparation_key(training_sha256=training_sha256, seed=task.case.seed)
        preparations.setdefault(key, Preparation(key=key, case=task.case, out_dir=out_dir, run_id=run_id, device=device))
        marked.append(dataclasses.replace(task, preparation_key=key))
    return marked, list(preparations.values())


def _output_intact(path: str, sha256: str | None) -> bool:
    """Whether a stored output can be scored again: the file exists and still has the bytes the
    case recorded (an overwritten or edited file is never scored under the case's name)."""
    try:
        return sha256 is not None and file_digest(Path(path)) == sha256
    except OSError:
        return False


class OutputWriteError(RestoreBenchError):
    """Outputs cannot be written (full, read-only or forbidden ``--out``): the run stops."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into the same orderly stop as Ctrl-C: finished cases are stored, the run is
    marked interrupted, workers are stopped."""


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals to whoever owns them
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _progress(total: int, enabled: bool, name: str):
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=name, unit="case", dynamic_ncols=True, mininterval=0.5, file=sys.stderr)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
