"""The runner: plan → skip what is stored → execute (workers, timeouts) → store, with progress.

Only this process writes the database. Results are written in small transactional batches, so a
``kill -9`` loses at most the cases of the last unflushed batch, and re-running the same spec
completes exactly the missing cases (resume). A case that hangs past the spec's ``timeout`` is
stopped with its worker process and recorded as ``timeout``; a worker that dies (segfault, out of
memory) is recorded as ``crashed``; the run goes on either way.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing as mp
import os
import signal
import sys
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from restorebench.bench import provenance
from restorebench.bench.execute import MetricSpecLite, Task, execute, stopped_case
from restorebench.bench.plan import Plan, file_digest, make_plan
from restorebench.bench.spec import LoadedSpec, variant_record
from restorebench.bench.store import ArtifactRow, CaseResult, CaseRow, ScoreRow, Store, StoreWriteError

FLUSH_EVERY_CASES = 32
FLUSH_EVERY_SECONDS = 1.0


@dataclass
class RunOptions:
    db: Path
    out_dir: Path
    fresh: bool = False
    limit: int | None = None
    workers: int | None = None  # None: the spec's
    timeout: float | None = None  # None: the spec's
    progress: bool = True
    save_outputs: bool = True


@dataclass
class RunSummary:
    run_id: str
    planned: int
    skipped: int
    executed: int
    rescored: int
    status_counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return sum(n for s, n in self.status_counts.items() if s != "ok")


def _metric_specs(loaded: LoadedSpec) -> tuple[MetricSpecLite, ...]:
    return tuple(MetricSpecLite(m.name, tuple(sorted(m.options.items()))) for m in loaded.spec.metrics)


def _metric_records(loaded: LoadedSpec) -> list[dict[str, Any]]:
    from restorebench import metrics

    rows = []
    for spec in loaded.spec.metrics:
        metric = metrics.get(spec.name, **spec.options)
        low, high = metric.value_range
        rows.append({
            "name": spec.name, "kind": metric.kind, "higher_is_better": metric.higher_is_better,
            "range_low": low, "range_high": high, "options": spec.options,
            "code_version": metric.code_version, "conventions": metric.conventions,
            "weights": metric.weights_fingerprint(), "version": metric.version,
        })
    return rows


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

    def __init__(self, store: Store, on_case: Callable[[CaseRow], None], metric_versions: dict[str, str]):
        self.store = store
        self.on_case = on_case
        self.metric_versions = metric_versions
        self.cases: list[CaseRow] = []
        self.scores: list[ScoreRow] = []
        self.artifacts: list[ArtifactRow] = []
        self.last_flush = time.monotonic()

    def add(self, result: CaseResult) -> None:
        for row in result.scores:
            row.metric_version = self.metric_versions.get(row.metric)
        self.scores += result.scores
        self.artifacts += result.artifacts
        if result.case is not None:
            self.cases.append(result.case)
            self.on_case(result.case)
        if len(self.cases) >= FLUSH_EVERY_CASES or time.monotonic() - self.last_flush > FLUSH_EVERY_SECONDS:
            self.flush()

    def flush(self) -> None:
        cases, scores, artifacts = self.cases, self.scores, self.artifacts
        self.cases, self.scores, self.artifacts = [], [], []  # a refused batch is not offered twice
        self.last_flush = time.monotonic()
        if cases or scores:
            self.store.write_results(cases, scores, artifacts)


def run(loaded: LoadedSpec, options: RunOptions, *, plan: Plan | None = None) -> RunSummary:
    """Run a spec into the database ``options.db``; returns counts. Raises only for problems of
    the run as a whole (database in use, unreadable dataset folder)."""
    started = time.monotonic()
    plan = plan or make_plan(loaded, limit=options.limit)
    spec = loaded.spec
    workers = spec.workers if options.workers is None else options.workers
    timeout = spec.timeout if options.timeout is None else options.timeout
    metric_specs = _metric_specs(loaded)
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
        done = store.ok_case_ids(plan.case_ids)
        tasks: list[Task] = []
        scored = store.scored_metrics(done) if done else {}
        outputs = store.ok_outputs(done) if done else {}
        rescored = 0
        common = dict(metrics=metric_specs, out_dir=str(options.out_dir), run_id=run_id, device=spec.device, save_outputs=options.save_outputs)
        for case in plan.cases:
            if case.case_id not in done:
                tasks.append(Task(case=case, **common))
                continue
            # not scored yet, or scored by other metric code, options or checkpoints
            have = scored.get(case.case_id, {})
            missing = tuple(m.name for m in metric_specs if have.get(m.name, "missing") != metric_versions[m.name])
            if not missing:
                continue
            path, sha256 = outputs.get(case.case_id, (None, None))
            if path and _output_intact(path, sha256):
                tasks.append(Task(case=case, score_only=missing, output_path=path, **common))
                rescored += 1
            elif path or options.save_outputs:
                # the stored output is gone or is not the file that was scored: run the case again
                tasks.append(Task(case=case, **common))
        summary = RunSummary(run_id, len(plan.cases), len(plan.cases) - len(tasks), len(tasks) - rescored, rescored)

        bar = _progress(len(tasks), options.progress, spec.name)

        def on_case(row: CaseRow) -> None:
            summary.status_counts[row.status] = summary.status_counts.get(row.status, 0) + 1
            if bar is not None:
                bar.set_postfix_str(", ".join(f"{k} {v}" for k, v in sorted(summary.status_counts.items())), refresh=False)

        batcher = _Batcher(store, on_case, metric_versions)
        status = "running"
        executor = _run_inline if workers == 0 else _run_pool
        try:
            with _stop_on_sigterm(), contextlib.closing(executor(tasks, workers=workers, timeout=timeout)) as results:
                for result in results:
                    batcher.add(result)
                    if bar is not None:
                        bar.update(1)
            batcher.flush()
            status = "ok" if summary.failed == 0 else "partial"
        except StoreWriteError:
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


def _output_intact(path: str, sha256: str | None) -> bool:
    """Whether a stored output can be scored again: the file exists and still has the bytes the
    case recorded (an overwritten or edited file is never scored under the case's name)."""
    try:
        return sha256 is not None and file_digest(Path(path)) == sha256
    except OSError:
        return False


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


# -- executors ------------------------------------------------------------------------------------------

def _run_inline(tasks: list[Task], *, workers: int, timeout: float) -> Iterable[CaseResult]:
    """In this process, one case after another. No timeout can be enforced here (a stuck method
    cannot be interrupted from inside), so use workers ≥ 1 for untrusted methods."""
    for task in tasks:
        yield execute(task)


def _worker_main(conn: Connection, threads: int) -> None:
    # Each worker gets its share of the cores; oversubscription makes everything slower.
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    # SIGTERM to the whole process group: leave quietly; the parent stores what finished
    signal.signal(signal.SIGTERM, lambda *_: os._exit(143))
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        result = execute(task)
        try:
            conn.send(result)
        except OSError:  # the parent is gone (killed): nobody is left to store the result
            return


@dataclass
class _Worker:
    process: Any
    conn: Connection
    task: Task | None = None
    deadline: float = 0.0


def _start_worker(ctx, threads: int) -> _Worker:
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_worker_main, args=(child, threads), daemon=True)
    process.start()
    child.close()
    return _Worker(process, parent)


def _run_pool(tasks: list[Task], *, workers: int, timeout: float) -> Iterable[CaseResult]:
    """``workers`` spawned processes; a case past ``timeout`` seconds is killed with its worker."""
    if not tasks:
        return
    ctx = mp.get_context("spawn")
    workers = max(1, min(workers, len(tasks)))
    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = [_start_worker(ctx, threads) for _ in range(workers)]
    queue = deque(tasks)
    try:
        while queue or any(w.task is not None for w in pool):
            for worker in pool:
                if worker.task is None and queue:
                    worker.task = queue.popleft()
                    worker.deadline = time.monotonic() + timeout
                    worker.conn.send(worker.task)
            busy = [w for w in pool if w.task is not None]
            wait_for = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            ready = wait([w.conn for w in busy], timeout=min(wait_for, 1.0))
            for i, worker in enumerate(pool):
                if worker.task is None:
                    continue
                if worker.conn in ready:
                    try:
                        result = worker.conn.recv()
                    except (EOFError, OSError):
                        worker.process.join(timeout=5)
                        code = worker.process.exitcode
                        yield stopped_case(worker.task, "crashed", f"worker process died while running this case (exit code {code}); see the method's memory use or native code")
                        pool[i] = _start_worker(ctx, threads)
                        continue
                    worker.task = None
                    yield result
                elif time.monotonic() > worker.deadline:
                    worker.process.kill()
                    worker.process.join(timeout=5)
                    yield stopped_case(worker.task, "timeout", f"case exceeded the timeout of {timeout:g} s and was stopped")
                    pool[i] = _start_worker(ctx, threads)
    finally:
        for worker in pool:
            if worker.process.is_alive():
                try:
                    worker.conn.send(None)
                except OSError:
                    pass
        deadline = time.monotonic() + 5
        for worker in pool:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
