"""Score many images with one metric on several cores.

    >>> from metrics.batch import score_many
    >>> score_many("niqe", ["a.png", "b.png", "c.png"])             # NR
    >>> score_many("ssim", outputs, references=ground_truths)        # FR, pairs in order

The items are split into ``workers`` contiguous chunks; each worker builds the metric once
(parameter files are read once per process anyway: the loaders are cached) and scores its chunk
with :meth:`Metric.score_many`. Results come back in input order and are bit-identical to scoring
one by one: every metric is a pure function of its image, and workers share no scratch memory.

``executor="thread"`` (the default) runs the chunks on threads: the heavy loops are numpy/scipy
array operations that release the GIL, and threads start instantly and need no pickling.
``executor="process"`` uses a spawn-based process pool instead (no GIL at all, but each worker
pays the import of numpy/scipy, about a second, so it pays off only for long batches).
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Sequence

import numpy as np

from restorebench.metrics.base import REGISTRY
from restorebench.metrics.errors import RestoreBenchError

Item = np.ndarray | str


def _score_chunk(name: str, options: dict[str, Any], images: list[Item], references: list[Item] | None) -> list[float]:
    metric = REGISTRY.get(name)(**options)
    return metric.score_many(images, references)


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
    workers: int = 2,
    executor: str = "thread",
    **options: Any,
) -> list[float]:
    """Score ``items`` (uint8 arrays or image paths) with metric ``name`` built with ``options``.

    Args:
        name: registered metric name.
        items: the images to score.
        references: for a full-reference metric, one reference per item, in the same order.
        workers: parallel workers (1 scores in this thread).
        executor: ``"thread"`` or ``"process"`` (see the module docstring).

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
    if executor not in ("thread", "process"):
        raise ValueError(f"executor must be 'thread' or 'process', got {executor!r}")
    workers = max(1, min(int(workers), len(items)))
    if workers == 1:
        return metric.score_many(items, references)
    pool: Executor
    if executor == "thread":
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"score-{name}")
    else:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    with pool:
        futures = [
            pool.submit(
                _score_chunk,
                name,
                metric.options,
                items[chunk.start : chunk.stop],
                None if references is None else references[chunk.start : chunk.stop],
            )
            for chunk in _chunks(len(items), workers)
        ]
        return [value for future in futures for value in future.result()]
