"""Executors: where jobs run. ``inline`` (this process) and ``local`` (a pool of spawned worker
processes with timeouts) here; ``ray`` (a Ray cluster) in :mod:`executors_ray`, on the same
:class:`Scheduler`.

A run is a set of **jobs** of two kinds:

- a *preparation* (:class:`~restorebench.bench.execute.Preparation`): expensive work that several
  cases share — SinGAN training on a photo — done once per key, with its own time budget
  (``prepare_timeout``), before the cases that need it;
- a *case* (:class:`~restorebench.bench.execute.Task`): restore one item and score it (or only
  score a stored output).

The :class:`Scheduler` hands out jobs in order: every preparation first, each case once the
preparation it depends on has finished. A case whose preparation failed, timed out or crashed is
not attempted: it is recorded as ``blocked`` with the preparation's error (and tried again by the
next run, like every case that is not ok). A job whose worker died is put back at the head of the
queue ``crash_retries`` times (a lost cluster node is no verdict on the case) before it is
recorded as ``crashed``; a case that succeeds on its retry says so in its ``note``.

Every executor yields ``(job, result)`` pairs to the runner; a result carries its output files as
bytes, which the runner (the driver) writes.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Iterator, Union

from restorebench.bench.execute import (Preparation, PreparationResult, Task, execute, prepare_shared, set_progress_sink,
                                        stopped_case)
from restorebench.bench.store import CaseResult
from restorebench.metrics.errors import RestoreBenchError
from restorebench.metrics.parallel import available_threads

Job = Union[Task, Preparation]
Result = Union[CaseResult, PreparationResult]
#: Seconds a new worker process may take to import torch and the project before it is ready.
STARTUP_TIMEOUT = 600.0


class ExecutorError(RestoreBenchError):
    pass


class Scheduler:
    """Which job runs next, and what a job's end means for the jobs that wait on it."""

    def __init__(self, tasks: list[Task], preparations: list[Preparation], *, timeout: float, prepare_timeout: float,
                 crash_retries: int = 0):
        self.timeout = timeout
        self.prepare_timeout = prepare_timeout
        self.crash_retries = crash_retries
        self.retried: dict[str, list[str]] = {}  # job identity → why each earlier attempt was lost
        self.queue: deque[Job] = deque(preparations)
        self.waiting: dict[str, list[Task]] = {p.key: [] for p in preparations}
        for task in tasks:
            if task.preparation_key in self.waiting:
                self.waiting[task.preparation_key].append(task)
            else:
                self.queue.append(task)
        self.blocked: deque[CaseResult] = deque()  # results decided without running a job

    def pending_jobs(self) -> list[Job]:
        """The jobs not handed out yet: queued, or waiting for their preparation."""
        return [*self.queue, *(task for tasks in self.waiting.values() for task in tasks)]

    def next_job(self) -> Job | None:
        return self.queue.popleft() if self.queue else None

    def has_work(self) -> bool:
        return bool(self.queue or self.blocked or any(self.waiting.values()))

    def budget(self, job: Job) -> float:
        return self.prepare_timeout if isinstance(job, Preparation) else self.timeout

    def finished(self, job: Job, result: Result) -> None:
        if not isinstance(job, Preparation):
            lost = self.retried.get(job_identity(job))
            if lost and isinstance(result, CaseResult) and result.case is not None:
                note = f"retried after its worker was lost ({'; '.join(lost)})"
                result.case.note = f"{result.case.note}; {note}" if result.case.note else note
            return
        dependents = self.waiting.pop(job.key, [])
        if result.status == "ok":
            self.queue.extendleft(reversed(dependents))  # its cases run next, while the cache is warm
        else:
            message = f"not run: its shared preparation ({result.what}) {result.status}: {result.error}"
            self.blocked.extend(stopped_case(task, "blocked", message) for task in dependents)

    def failure(self, job: Job, status: str, message: str) -> Result:
        """The result of a job whose worker was stopped (timeout) or died (crashed)."""
        if isinstance(job, Preparation):
            return job.result(status, message, seconds=0.0)
        return stopped_case(job, status, message)

    def crashed(self, job: Job, message: str) -> Result | None:
        """A job whose worker died: queued again (first in line) while it has retries left, and
        None returned; else its ``crashed`` result. The caller passes a result to :meth:`finished`."""
        lost = self.retried.setdefault(job_identity(job), [])
        if len(lost) < self.crash_retries:
            lost.append(message)
            self.queue.appendleft(job)
            return None
        return self.failure(job, "crashed", message)


def job_identity(job: Job) -> str:
    """A job's identity across attempts (jobs themselves hold unhashable parameters)."""
    if isinstance(job, Preparation):
        return f"preparation {job.key}"
    return f"case {job.case.case_id} {','.join(job.score_only)}"


def run_job(job: Job) -> Result:
    return prepare_shared(job) if isinstance(job, Preparation) else execute(job)


def drain_blocked(scheduler: Scheduler) -> Iterator[tuple[Job | None, Result]]:
    while scheduler.blocked:
        yield None, scheduler.blocked.popleft()


ProgressSink = Callable[[str], None]


def run_inline(scheduler: Scheduler, *, workers: int = 0, on_progress: ProgressSink | None = None) -> Iterator[tuple[Job | None, Result]]:
    """In this process, one job after another. No timeout can be enforced here (a stuck method
    cannot be interrupted from inside), so use workers ≥ 1 for untrusted methods.
    ``on_progress`` receives the training progress lines of shared preparations."""
    set_progress_sink(on_progress)
    try:
        yield from _run_inline(scheduler)
    finally:
        set_progress_sink(None)


def _run_inline(scheduler: Scheduler) -> Iterator[tuple[Job | None, Result]]:
    while scheduler.has_work():
        yield from drain_blocked(scheduler)
        job = scheduler.next_job()
        if job is None:
            continue
        result = run_job(job)
        scheduler.finished(job, result)
        yield job, result


# -- the local pool ---------------------------------------------------------------------------------

READY = "ready"
PROGRESS = "progress"  # a worker's message (PROGRESS, line) while a preparation trains


def worker_threads(workers: int) -> int:
    """Threads each of ``workers`` worker processes may use: its share of the CPUs this process
    may use (``workers × threads`` never exceeds them; at least 1)."""
    return max(1, available_threads() // max(1, workers))


def _worker_main(conn: Connection, threads: int) -> None:
    # Each worker gets its share of the cores; oversubscription makes everything slower. Metrics
    # (their default thread budget), OpenMP/BLAS and torch all read it.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    # SIGTERM to the whole process group: leave quietly; the parent stores what finished
    signal.signal(signal.SIGTERM, lambda *_: os._exit(143))
    import torch

    torch.set_num_threads(threads)
    set_progress_sink(lambda line: conn.send((PROGRESS, line)))
    try:
        conn.send(READY)  # imports are done: the parent starts a job's clock only now
        while True:
            job = conn.recv()
            if job is None:
                return
            conn.send(run_job(job))
    except (EOFError, OSError):  # the parent is gone (killed): nobody is left to store a result
        return


@dataclass
class _Worker:
    process: Any
    conn: Connection
    started: float
    ready: bool = False
    job: Job | None = None
    deadline: float = 0.0


def _start_worker(ctx, threads: int) -> _Worker:
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_worker_main, args=(child, threads), daemon=True)
    process.start()
    child.close()
    return _Worker(process, parent, started=time.monotonic())


def run_pool(scheduler: Scheduler, *, workers: int, on_progress: ProgressSink | None = None) -> Iterator[tuple[Job | None, Result]]:
    """``workers`` spawned processes; a job past its budget is killed with its worker.
    ``on_progress`` receives the training progress lines of shared preparations."""
    if not scheduler.has_work():
        return
    ctx = mp.get_context("spawn")
    workers = max(1, workers)
    threads = worker_threads(workers)
    pool = [_start_worker(ctx, threads) for _ in range(workers)]
    try:
        while scheduler.has_work() or any(w.job is not None for w in pool):
            yield from drain_blocked(scheduler)
            for worker in pool:
                if worker.ready and worker.job is None:
                    job = scheduler.next_job()
                    if job is None:
                        break
                    worker.job, worker.deadline = job, time.monotonic() + scheduler.budget(job)
                    worker.conn.send(job)
            now = time.monotonic()
            deadlines = [w.deadline for w in pool if w.job is not None] + [w.started + STARTUP_TIMEOUT for w in pool if not w.ready]
            ready = wait([w.conn for w in pool], timeout=min(1.0, max(0.0, min(deadlines, default=now + 1) - now)))
            for i, worker in enumerate(pool):
                if worker.conn in ready:
                    try:
                        message = worker.conn.recv()
                    except (EOFError, OSError):
                        worker.process.join(timeout=5)
                        code = worker.process.exitcode
                        if worker.job is None:
                            raise ExecutorError(f"a worker process exited while starting (exit code {code}); "
                                                f"check that `python -c 'import restorebench, torch'` works") from None
                        what = "preparation" if isinstance(worker.job, Preparation) else "case"
                        result = scheduler.crashed(worker.job, f"worker process died while running this {what} (exit code {code}); see the method's memory use or native code")
                        if result is not None:
                            scheduler.finished(worker.job, result)
                            yield worker.job, result
                        pool[i] = _start_worker(ctx, threads)
                        continue
                    if message == READY:
                        worker.ready = True
                        continue
                    if isinstance(message, tuple) and message[:1] == (PROGRESS,):
                        if on_progress is not None:
                            on_progress(message[1])
                        continue
                    job, worker.job = worker.job, None
                    scheduler.finished(job, message)
                    yield job, message
                elif worker.job is not None and time.monotonic() > worker.deadline:
                    worker.process.kill()
                    worker.process.join(timeout=5)
                    budget = scheduler.budget(worker.job)
                    message = (f"preparation exceeded its budget (prepare_timeout) of {budget:g} s and was stopped"
                               if isinstance(worker.job, Preparation) else f"case exceeded the timeout of {budget:g} s and was stopped")
                    result = scheduler.failure(worker.job, "timeout", message)
                    scheduler.finished(worker.job, result)
                    yield worker.job, result
                    pool[i] = _start_worker(ctx, threads)
                elif not worker.ready and time.monotonic() > worker.started + STARTUP_TIMEOUT:
                    raise ExecutorError(f"a worker process did not start within {STARTUP_TIMEOUT:g} s")
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
