"""How many threads one metric call may use, and running its independent pieces on them.

A metric call cuts its image-sized work into pieces that write disjoint data — bands of rows,
bands of blocks, the four shifted pair products of BRISQUE — and runs them on a shared pool of
helper threads; numpy and scipy release the GIL inside their loops, so the pieces really run
side by side. Every piece computes each of its elements exactly as a single piece would, and a
reduction over a whole image stays in one piece (its summation order is then the one-thread
order), so **results do not depend on the number of threads**, bit for bit. (One trap: numpy's
``einsum`` sums a batch of one row in another order than each row of a larger batch, so bands
of per-block reductions hold at least two blocks.)

The budget of a call is, in order:

1. the metric's ``threads`` parameter (every metric has one; see :mod:`restorebench.metrics.base`);
2. the budget of the enclosing :class:`thread_budget` block of this thread (batch scoring gives
   each of its workers a share);
3. :func:`available_threads`: the CPUs this process may run on, capped by ``$OMP_NUM_THREADS``
   when that is set — the runner sets it in each worker process to the worker's share, so
   ``workers × threads`` never exceeds the cores.

Helper threads run their pieces with a budget of 1: a piece never fans out again. Each thread
has its own :class:`Workspace` of scratch arrays (:func:`thread_workspace`).

This module imports nothing from the project; the runner's worker share uses it too.
"""
from __future__ import annotations

import functools
import itertools
import math
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence, TypeVar

import numpy as np

T = TypeVar("T")

_LOCAL = threading.local()


def available_threads() -> int:
    """CPUs this process may run on (its affinity mask), capped by a positive integer
    ``$OMP_NUM_THREADS``."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity masks (macOS, Windows)
        count = os.cpu_count() or 1
    limit = os.environ.get("OMP_NUM_THREADS", "").strip()
    if limit.isdigit() and int(limit) >= 1:
        count = min(count, int(limit))
    return max(1, count)


def current_threads() -> int:
    """The thread budget of a call made now in this thread (see the module docstring)."""
    budget = getattr(_LOCAL, "budget", None)
    return available_threads() if budget is None else budget


class thread_budget:
    """``with thread_budget(n):`` — metric calls in this thread use ``n`` threads inside the
    block (``None`` leaves the budget as it is). Blocks nest; leaving one restores the outer
    budget."""

    __slots__ = ("threads", "saved")

    def __init__(self, threads: int | None):
        if threads is not None and int(threads) < 1:
            raise ValueError(f"a thread budget must be at least 1, got {threads}")
        self.threads = None if threads is None else int(threads)

    def __enter__(self) -> "thread_budget":
        self.saved = getattr(_LOCAL, "budget", None)
        if self.threads is not None:
            _LOCAL.budget = self.threads
        return self

    def __exit__(self, *exc: object) -> None:
        _LOCAL.budget = self.saved


# -- scratch memory per thread --------------------------------------------------------------------

class Workspace:
    """Scratch arrays reused across calls, one buffer per name and dtype (least recently used
    dropped beyond ``capacity``): asked for a shape, it hands out a view of the buffer's start,
    growing the buffer when the shape needs more. An array handed out stays valid until the same
    name is asked for again, so a function that returns one documents it.

    Why: a fresh multi-megabyte array costs a page fault per 4 KiB on first touch, which on this
    project's machines is as much as all of a metric's arithmetic. Keyed by name alone, bands of
    different heights and images of different sizes reuse the same memory."""

    def __init__(self, capacity: int = 48):
        self.capacity = capacity
        self._buffers: OrderedDict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def array(self, name: str, shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
        dtype = np.dtype(dtype)
        shape = tuple(int(n) for n in shape)
        key = (name, dtype.str)
        buffer, view = self._buffers.pop(key, (None, None))
        if view is None or view.shape != shape:
            size = math.prod(shape)
            if buffer is None or buffer.size < size:
                buffer = np.empty(size, dtype=dtype)
            view = buffer[:size].reshape(shape)
        self._buffers[key] = (buffer, view)
        while len(self._buffers) > self.capacity:
            self._buffers.popitem(last=False)
        return view


def thread_workspace() -> Workspace:
    """This thread's workspace (threads never share scratch arrays)."""
    workspace = getattr(_LOCAL, "workspace", None)
    if workspace is None:
        workspace = _LOCAL.workspace = Workspace()
    return workspace


# -- the helper pool ---------------------------------------------------------------------------------

_POOL_LOCK = threading.Lock()
_POOLS: dict[int, ThreadPoolExecutor] = {}


def _forget_pools_in_child() -> None:
    """A forked child (batch scoring's workers) has none of its parent's helper threads: it
    starts its own pools, behind a lock no parent thread can be holding."""
    global _POOL_LOCK
    _POOL_LOCK = threading.Lock()
    _POOLS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools_in_child)


def _helper_started() -> None:
    _LOCAL.budget = 1


def _pool(helpers: int) -> ThreadPoolExecutor:
    with _POOL_LOCK:
        pool = _POOLS.get(helpers)
        if pool is None:
            pool = _POOLS[helpers] = ThreadPoolExecutor(
                max_workers=helpers, thread_name_prefix="metric-helper", initializer=_helper_started
            )
        return pool


class _Pieces:
    """Pieces handed out one at a time to whichever thread is free (the caller included)."""

    def __init__(self, tasks: Sequence[Callable[[], T]]):
        self.tasks = tasks
        self.results: list = [None] * len(tasks)
        self.errors: list[BaseException] = []
        self.next = itertools.count()  # next() on a count is atomic under the GIL
        self.remaining = len(tasks)
        self.lock = threading.Lock()
        self.done = threading.Event()

    def work(self) -> None:
        while (index := next(self.next)) < len(self.tasks):
            try:
                self.results[index] = self.tasks[index]()
            except BaseException as exc:  # re-raised in the caller
                self.errors.append(exc)
            with self.lock:
                self.remaining -= 1
                if self.remaining == 0:
                    self.done.set()


def run_tasks(tasks: Sequence[Callable[[], T]], *, threads: int | None = None) -> list[T]:
    """Run independent zero-argument ``tasks`` on up to ``threads`` threads (default: the
    current budget), the calling thread among them; each task goes to the next free thread.
    Returns the results in task order; the first exception is raised once every task ended.
    Tasks must not write the same data (scratch per thread: :func:`thread_workspace`)."""
    threads = min(current_threads() if threads is None else threads, len(tasks))
    if threads <= 1:
        return [task() for task in tasks]
    pieces = _Pieces(tasks)
    pool = _pool(threads - 1)
    for _ in range(threads - 1):
        # A helper that starts late (the pool busy with another call's pieces) finds nothing
        # left and returns; the caller never waits for it, only for the pieces.
        pool.submit(pieces.work)
    pieces.work()
    pieces.done.wait()
    if pieces.errors:
        raise pieces.errors[0]
    return pieces.results


#: Fewest pixels worth a band of their own: handing a piece to another thread costs some tens of
#: microseconds, what a pass over this many pixels takes.
MIN_BAND_PIXELS = 16384


def row_grain(width: int, *, pixels: int = MIN_BAND_PIXELS) -> int:
    """Fewest rows of ``width`` pixels worth a band of their own (``pixels`` of them: fewer for
    work that costs more per pixel)."""
    return max(1, -(-pixels // max(1, width)))


def band_bounds(
    count: int, *, threads: int | None = None, grain: int = 1, most: int | None = None
) -> list[tuple[int, int]]:
    """``range(count)`` cut into contiguous ``(start, stop)`` bands of near-equal size: one per
    thread of the budget, but none smaller than ``grain`` items (small images are not worth
    splitting) and, with ``most``, none larger than ``most`` (bands that stay in cache; the
    threads then take them in turn)."""
    threads = current_threads() if threads is None else threads
    parts = max(1, min(threads, count // max(1, grain)))
    if most is not None and count > most:
        # whole rounds of bands, so that no thread is left with one band more than the others
        rounds = math.ceil(math.ceil(count / max(1, most)) / threads)
        parts = min(count, rounds * threads)
    return [(count * i // parts, count * (i + 1) // parts) for i in range(parts)]


def run_in_bands(
    task: Callable[[int, int, int], object],
    count: int,
    *,
    threads: int | None = None,
    grain: int = 1,
    most: int | None = None,
) -> None:
    """Call ``task(band, start, stop)`` for each band of :func:`band_bounds`, in parallel. The
    calls must write disjoint data; per-band scratch is indexed by ``band``."""
    threads = current_threads() if threads is None else threads
    bounds = band_bounds(count, threads=threads, grain=grain, most=most)
    if len(bounds) == 1:
        task(0, 0, count)
        return
    pieces = [functools.partial(task, band, start, stop) for band, (start, stop) in enumerate(bounds)]
    run_tasks(pieces, threads=min(threads, len(bounds)))
