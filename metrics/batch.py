"""Score many images with one metric on all the cores the process may use.

    >>> from metrics.batch import score_many
    >>> score_many("niqe", ["a.png", "b.png", "c.png"])             # NR
    >>> score_many("ssim", outputs, references=ground_truths)        # FR, pairs in order

``threads`` (default: :func:`~restorebench.metrics.parallel.available_threads`) is shared out
among ``workers`` images scored at once (default: one image per thread): each worker scores its
images with ``threads // workers`` threads of its own, so the two never multiply beyond the
budget. Whole images per worker are the cheapest way to keep every core busy — one image's
pieces must wait for each other, separate images never do — and a worker takes the next short
run of images as soon as it is free, so images of different sizes do not leave a core idle at
the end.
Results come back in input order and are bit-identical to scoring one by one: every metric is a
pure function of its image, its value does not depend on its thread count, and workers share no
scratch memory.

``executor="auto"`` (the default) forks worker processes for the metrics that are pure
numpy/scipy and cost enough per image to pay for a fork (``Metric.fork_batches``) where the
platform can fork, and uses threads otherwise:

- ``"process"``: worker processes. Forked (Linux): ``workers − 1`` children and the calling
  process take chunks in turn; a fork costs milliseconds, the children inherit the loaded
  modules and the images (nothing is pickled on the way in), and no GIL is shared — a metric
  call on a small image spends much of its time in Python between numpy calls, which threads
  cannot overlap (100 images of 256×256: NIQE 1.8× on two cores forked, 1.1× on
  threads). Where fork is unavailable, spawned processes, each paying the imports (about a
  second): worth it only for long batches.
- ``"thread"``: threads; they start instantly and suit the torch metrics (torch releases the GIL,
  and a forked child must not touch a parent's GPU context).
"""
from __future__ import annotations

import json
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Sequence

import numpy as np

from restorebench.metrics.base import REGISTRY, Metric
from restorebench.metrics.errors import RestoreBenchError
from restorebench.metrics.parallel import current_threads

Item = np.ndarray | str
#: Chunks per worker (a worker takes the next chunk when it is free): enough for the workers to
#: finish together, few enough that handing chunks out costs nothing against the scoring.
CHUNKS_PER_WORKER = 8

_PROCESS_METRICS: dict[str, Metric] = {}


def _score_chunk(name: str, options: dict[str, Any], images: list[Item], references: list[Item] | None) -> list[float]:
    """A process worker's chunk; the metric is built once per process and configuration."""
    key = json.dumps([name, options], sort_keys=True)
    if key not in _PROCESS_METRICS:
        _PROCESS_METRICS[key] = REGISTRY.get(name)(**options)
    return _PROCESS_METRICS[key].score_many(images, references)


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _chunks(count: int, parts: int) -> list[range]:
    """``count`` indices cut into ``parts`` contiguous ranges whose sizes differ by at most 1."""
    size, extra = divmod(count, parts)
    bounds, start = [], 0
    for part in range(parts):
        stop = start + size + (1 if part < extra else 0)
        if stop > start:
            bounds.append(range(start, stop))
        start = stop
    return bounds


def score_many(
    name: str,
    items: Sequence[Item],
    references: Sequence[Item] | None = None,
    *,
    threads: int | None = None,
    workers: int | None = None,
    executor: str = "auto",
    **options: Any,
) -> list[float]:
    """Score ``items`` (uint8 arrays or image paths) with metric ``name`` built with ``options``.

    Args:
        name: registered metric name.
        items: the images to score.
        references: for a full-reference metric, one reference per item, in the same order.
        threads: threads in all (default: what this thread's budget allows — all CPUs the process
            may use, or the runner's share).
        workers: images scored at once (default: ``threads``; never more than there are items).
            Each worker gets ``threads // workers`` threads (at least 1).
        executor: ``"auto"``, ``"process"`` or ``"thread"`` (see the module docstring).

    Returns:
        One float per item, in input order.
    """
    metric = REGISTRY.get(name)(**options)  # unknown names and bad options fail here, early
    items = list(items)
    if metric.kind == "FR":
        if references is None:
            raise RestoreBenchError(f"metric '{name}' is full-reference: give one reference per item")
        references = list(references)
        if len(references) != len(items):
            raise RestoreBenchError(f"metric '{name}': {len(items)} items but {len(references)} references")
    else:
        references = None
    if executor not in ("auto", "thread", "process"):
        raise ValueError(f"executor must be 'auto', 'thread' or 'process', got {executor!r}")
    if threads is not None and int(threads) < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    total = current_threads() if threads is None else int(threads)
    workers = max(1, min(total if workers is None else int(workers), len(items)))
    per_worker = {**metric.options, "threads": max(1, total // workers)}
    if workers == 1:
        return REGISTRY.get(name)(**per_worker).score_many(items, references)
    if executor == "auto":
        executor = "process" if metric.fork_batches and _can_fork() else "thread"
    if executor == "process":
        if _can_fork():
            # single images: a chunk handed out costs a lock and a pipe message, next to nothing
            return _score_forked(name, per_worker, items, references, workers, _chunks(len(items), len(items)))
        chunks = _chunks(len(items), workers * CHUNKS_PER_WORKER)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [
                pool.submit(_score_chunk, name, per_worker, items[chunk.start : chunk.stop],
                            None if references is None else references[chunk.start : chunk.stop])
                for chunk in chunks
            ]
            return [value for future in futures for value in future.result()]

    own = threading.local()  # one metric per worker thread, as one per worker process

    def score_chunk(chunk: range) -> list[float]:
        worker_metric = getattr(own, "metric", None)
        if worker_metric is None:
            worker_metric = own.metric = REGISTRY.get(name)(**per_worker)
        return worker_metric.score_many(items[chunk.start : chunk.stop],
                                        None if references is None else references[chunk.start : chunk.stop])

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"score-{name}") as pool:
        chunks = pool.map(score_chunk, _chunks(len(items), workers * CHUNKS_PER_WORKER))
        return [value for chunk in chunks for value in chunk]


def _score_forked(name: str, options: dict[str, Any], items: list[Item], references: list[Item] | None,
                  workers: int, chunks: list[range]) -> list[float]:
    """``workers − 1`` forked children and this process take chunks from a shared counter until
    none is left; each child sends back its chunks' values (or the exception it met) through a
    pipe. Children inherit ``items``: nothing is pickled on the way in."""
    context = multiprocessing.get_context("fork")
    taken = context.Value("i", 0)

    def next_chunk() -> int:
        with taken.get_lock():
            index, taken.value = taken.value, taken.value + 1
        return index

    def score(index: int) -> list[float]:
        chunk = chunks[index]
        return _score_chunk(name, options, items[chunk.start : chunk.stop],
                            None if references is None else references[chunk.start : chunk.stop])

    children: list[tuple[int, Any]] = []
    results: dict[int, list[float]] = {}
    try:
        for _ in range(workers - 1):
            receiver, sender = context.Pipe(duplex=False)
            pid = os.fork()
            if pid == 0:  # the child: score chunks, report, and leave without running the parent's cleanup
                code = 0
                try:
                    receiver.close()
                    while (index := next_chunk()) < len(chunks):
                        sender.send((index, score(index)))
                except BaseException as exc:  # handed to the parent, which raises it
                    code = 1
                    with taken.get_lock():
                        taken.value = len(chunks)  # the others stop after their current chunk
                    try:
                        sender.send((-1, exc))
                    except BaseException:
                        pass
                finally:
                    os._exit(code)
            sender.close()
            children.append((pid, receiver))
        error: BaseException | None = None
        try:
            while (index := next_chunk()) < len(chunks):
                results[index] = score(index)
        except BaseException as exc:
            error = exc
            with taken.get_lock():
                taken.value = len(chunks)  # the children stop after their current chunk
        for pid, receiver in children:
            while True:
                try:
                    index, values = receiver.recv()
                except EOFError:
                    break
                if index < 0:
                    error = error or values
                else:
                    results[index] = values
        if error is not None:
            raise error
        if len(results) != len(chunks):
            raise RestoreBenchError(f"metric '{name}': a batch-scoring worker process died (out of memory?); "
                                    f"score with executor='thread' to see the error in this process")
        return [value for index in range(len(chunks)) for value in results[index]]
    finally:
        for pid, receiver in children:
            receiver.close()
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
