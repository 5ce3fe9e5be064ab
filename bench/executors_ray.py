"""The Ray executor: a run's jobs on a Ray cluster; the database and ``--out`` stay on the driver.

``restorebench run SPEC --executor ray`` starts a Ray instance on this machine for the run (with
the spec's ``workers`` as its CPU count); ``--address HOST:PORT`` joins a running cluster
(``ray start --head`` on one machine, ``ray start --address HEAD:PORT`` on the others) and
``--address auto`` the one this machine belongs to. Install Ray with
``pip install 'restorebench[ray]'`` on the driver and on every node.

**Nothing assumes a file system shared by the driver and the nodes.**

- *To a worker*: the job, and the bytes of every file it reads (input, reference, training image,
  kernel; the stored output of a case to rescore), put into Ray's object store once per file and
  released when no queued job needs it. The worker writes them into a scratch folder of its node
  (once per node and file), runs the job on those copies and reports the original paths.
- *Back to the driver*: the result — rows, and the outputs as PNG bytes, which the runner writes
  under ``--out`` — and, for a shared preparation, every file the preparation left in its cache
  folder. Those files go into the object store once and from there to each node that runs a
  case of that preparation (unpacked once per node); the driver also writes them under
  ``<out>/cache`` with a manifest, so a later run — local or Ray — finds the training done.

**Resources.** Each job asks Ray for what its method declares
(:meth:`~restorebench.models.base.Method.resources`): CPU threads (the worker's torch threads),
GPUs (fractions share one), memory. A GPU request on a cluster without a GPU is dropped: the case
runs on the CPU, and its ``note`` says so. A CPU or memory request larger than every node is
capped at the largest node (with a note for memory), so that no job waits forever.

**Failures.** A worker's first message says that its job started, and where; the job's budget
(``timeout``, ``prepare_timeout``) counts from then, not from submission (a job may wait for
resources). A job past its budget is cancelled with its worker process. A job whose worker process
or node dies is submitted again once (:attr:`Scheduler.crash_retries`), then recorded ``crashed``.
The driver stores results in transactional batches as with the local pool: a ``kill -9`` of the
driver loses at most the last batch, and running the same command again resumes.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import queue
import shutil
import socket
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator

from restorebench.bench.execute import NODE, Preparation, PreparationResult, Task, execute, prepare_shared, set_progress_sink
from restorebench.bench.executors import ExecutorError, Job, Result, Scheduler, drain_blocked
from restorebench.bench.spec import Variant
from restorebench.bench.store import CaseResult
from restorebench.metrics.imageio import write_atomic
from restorebench.models.base import Resources

#: Environment variables a worker needs to see the driver's registrations and device choice.
FORWARDED_ENV = ("RESTOREBENCH_PLUGINS", "RESTOREBENCH_DEVICE")
#: Jobs in flight per CPU of the cluster: enough to keep every node busy while results travel.
IN_FLIGHT_PER_CPU = 2
#: Seconds between two looks at the cluster's nodes (nodes join, leave and die during a run).
NODES_EVERY = 10.0
#: Manifests of the preparation files the driver stored, under ``<out>/cache``.
MANIFESTS = ".preparations"


def import_ray():
    try:
        import ray
    except ImportError:
        raise ExecutorError("the Ray executor needs Ray: pip install 'restorebench[ray]' (on the driver and on every node)") from None
    return ray


# -- in the worker --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Started:
    """A worker's first message: its job runs now, on ``node``, in process ``pid``."""

    node: str
    pid: int


@dataclass(frozen=True)
class Progress:
    """A line of a shared preparation's training progress, for the driver's progress bar."""

    line: str


def _prepare_reporting(preparation: Preparation, cache_dir: Path) -> Iterator[Progress | PreparationResult]:
    """Run a preparation in a thread of this worker, yielding its progress lines as they come,
    then its result (a streaming generator can only send between its own steps)."""
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()
    set_progress_sink(lines.put)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(prepare_shared, preparation, cache_dir=cache_dir)
            while not (future.done() and lines.empty()):
                with contextlib.suppress(queue.Empty):
                    yield Progress(lines.get(timeout=0.5))
            yield future.result()
    finally:
        set_progress_sink(None)


def _scratch(run_id: str, node_id: str) -> Path:
    """This node's scratch folder for a run (one per node even when nodes share a machine)."""
    return Path(tempfile.gettempdir()) / f"restorebench-ray-{run_id}-{node_id[:8]}"


def _publish(tmp: Path, final: Path) -> Path:
    """Move a finished folder into place; if another worker of this node was first, keep theirs."""
    try:
        os.rename(tmp, final)
    except OSError:  # final exists (not empty): same content, written by another worker
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _materialise(folder: Path, original: str, data: bytes) -> str:
    """A node-local copy of a shipped file (content-addressed; the original name is kept, so its
    extension still tells its format)."""
    final = folder / hashlib.sha256(data).hexdigest()[:32] / Path(original).name
    if not final.is_file():
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f"{final.name}.{os.getpid()}.tmp")  # workers of one node may race
        tmp.write_bytes(data)
        os.replace(tmp, final)
    return str(final)


def _fresh_folder(folder: Path, files: dict[str, bytes]) -> Path:
    """A new folder ``folder`` (emptied if it exists) holding ``files`` (relative path → bytes)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for relative, data in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)
    return folder


def _unpack(folder: Path, files: dict[str, bytes]) -> Path:
    """A node-local cache folder holding ``files``, made once per node."""
    if not folder.is_dir():
        _publish(_fresh_folder(folder.with_name(f"{folder.name}.{os.getpid()}.tmp"), files), folder)
    return folder


def folder_files(folder: Path) -> dict[str, bytes]:
    """Every regular file under ``folder``, by POSIX path relative to it."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _relocated(job: Job, local: dict[str, str]) -> Job:
    """``job`` reading the node-local copies of its files."""
    def moved(path):
        return Path(local[str(path)]) if path is not None and str(path) in local else path

    item = job.case.item
    item = dataclasses.replace(item, input_path=moved(item.input_path), reference_path=moved(item.reference_path),
                               training_path=moved(item.training_path), psf_path=moved(item.psf_path),
                               set_paths=tuple(moved(p) for p in item.set_paths))
    changes: dict[str, Any] = {"case": dataclasses.replace(job.case, item=item)}
    if isinstance(job, Task) and job.output_path is not None:
        changes["output_path"] = str(moved(job.output_path))
    return dataclasses.replace(job, **changes)


def _with_original_paths(result: Result, local: dict[str, str], node: str) -> Result:
    """The result as the driver would have it: original paths in paths and messages, and the node."""
    def original(text: str | None) -> str | None:
        for path, copy in local.items():
            text = text.replace(copy, path) if text else text
        return text

    if isinstance(result, PreparationResult):
        result.error, result.node = original(result.error), node
        return result
    rows = [result.case] if result.case is not None else []
    for row in rows:
        row.input_path, row.reference_path, row.node = original(row.input_path), original(row.reference_path), node
    for row in rows + result.scores:
        row.error = original(row.error)
    return result


def ray_job(job: Job, names: tuple[str, ...], preparation_key: str | None, *blobs: Any) -> Iterator[Any]:
    """A job in a Ray worker (a streaming generator): yields :class:`Started`; for a preparation
    its :class:`Progress` lines and the files it left in its cache folder; then the result.

    ``blobs``: the bytes of the files named ``names`` (original paths), then — for a preparation
    being resumed or a case that needs one — the preparation's cache files."""
    import ray

    import torch  # before the job's clock starts, as in a local worker

    context = ray.get_runtime_context()
    torch.set_num_threads(max(1, int(context.get_assigned_resources().get("CPU", 1))))
    node_id = context.get_node_id()
    node = f"{NODE}/{node_id[:8]}"
    yield Started(node, os.getpid())
    scratch = _scratch(job.run_id, node_id)
    local = {name: _materialise(scratch / "files", name, data) for name, data in zip(names, blobs)}
    cache_files = blobs[len(names)] if len(blobs) > len(names) else {}
    relocated = _relocated(job, local)
    if isinstance(job, Preparation):
        # a fresh folder: every file in it afterwards is the preparation's (or the resumed one's)
        tmp = _fresh_folder(scratch / "preparations" / f"{job.key}.{os.getpid()}.tmp", cache_files)
        for message in _prepare_reporting(relocated, tmp):
            if isinstance(message, Progress):
                yield message
            else:
                result = message
        yield folder_files(tmp) if result.status == "ok" else {}
        _publish(tmp, scratch / "preparations" / job.key)
    else:
        cache = _unpack(scratch / "preparations" / preparation_key, cache_files) if preparation_key else scratch / "cache"
        result = execute(relocated, cache_dir=cache)
    yield _with_original_paths(result, local, node)


def _clean_scratch(run_id: str) -> None:
    import ray

    shutil.rmtree(_scratch(run_id, ray.get_runtime_context().get_node_id()), ignore_errors=True)


# -- on the driver ------------------------------------------------------------------------------

def store_preparation_files(cache_dir: Path, key: str, files: dict[str, bytes]) -> None:
    """Write a preparation's cache files under ``cache_dir`` (the local executors' layout) and a
    manifest naming them, by which a later Ray run ships them back instead of training again."""
    root = cache_dir.resolve()
    for relative in files:
        if Path(relative).is_absolute() or not (root / relative).resolve().is_relative_to(root):
            raise ExecutorError(f"a preparation returned the file name '{relative}', which is outside its cache folder")
    for relative, data in files.items():
        write_atomic(root / relative, data)
    manifest = {relative: hashlib.sha256(data).hexdigest() for relative, data in sorted(files.items())}
    write_atomic(root / MANIFESTS / f"{key}.json", json.dumps(manifest, indent=1).encode())


def stored_preparation_files(cache_dir: Path, key: str) -> dict[str, bytes] | None:
    """The files a finished preparation stored under ``cache_dir``, if all are still intact."""
    try:
        manifest = json.loads((cache_dir / MANIFESTS / f"{key}.json").read_text())
        files = {relative: (cache_dir / relative).read_bytes() for relative in manifest}
    except (OSError, ValueError):
        return None
    if any(hashlib.sha256(data).hexdigest() != manifest[relative] for relative, data in files.items()):
        return None
    return files


def _reads(job: Job) -> list[str]:
    """The files a job reads (original paths)."""
    item = job.case.item
    paths = {item.input_path, item.reference_path, item.training_path, item.psf_path, *item.set_paths}
    if isinstance(job, Task) and job.output_path is not None:
        paths.add(job.output_path)
    return sorted(str(p) for p in paths if p is not None)


class _Shipped:
    """The files jobs read, put into the object store on first use and released after the last."""

    def __init__(self, ray, jobs: list[Job]):
        self.ray = ray
        self.uses = Counter(path for job in jobs for path in _reads(job))
        self.refs: dict[str, Any] = {}

    def refs_for(self, job: Job) -> tuple[tuple[str, ...], list[Any]]:
        names, refs = [], []
        for path in _reads(job):
            if path not in self.refs:
                try:
                    data = Path(path).read_bytes()
                except OSError:  # gone since planning: the worker reports it with the case, by this path
                    continue
                self.refs[path] = self.ray.put(data)
            names.append(path)
            refs.append(self.refs[path])
        return tuple(names), refs

    def release(self, job: Job) -> None:
        for path in _reads(job):
            self.uses[path] -= 1
            if self.uses[path] <= 0:
                self.refs.pop(path, None)


@dataclass
class _Running:
    job: Job
    note: str | None = None
    node: str | None = None
    pid: int | None = None
    deadline: float | None = None  # set when the worker says it started


@dataclass
class _Cluster:
    """The largest node and the total CPUs, to place requests that no node could satisfy."""

    cpus: float = 0.0
    most_cpus: float = 0.0
    most_gpus: float = 0.0
    most_memory: float = 0.0
    seen: float = 0.0

    @classmethod
    def look(cls, ray) -> "_Cluster":
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        return cls(
            cpus=sum(r.get("CPU", 0.0) for r in nodes),
            most_cpus=max((r.get("CPU", 0.0) for r in nodes), default=0.0),
            most_gpus=max((r.get("GPU", 0.0) for r in nodes), default=0.0),
            most_memory=max((r.get("memory", 0.0) for r in nodes), default=0.0),
            seen=time.monotonic(),
        )


def variant_resources(variant: Variant) -> Resources:
    """What one case (or the shared preparation) of a method variant asks for: the method's
    :meth:`~restorebench.models.base.Method.resources`, a chain's the most any stage needs."""
    from restorebench import models
    from restorebench.bench.chains import Chain

    return (Chain(variant.stages) if variant.stages else models.get(variant.name, **variant.params)).resources()


def placement(want: Resources, cluster: _Cluster, method: str) -> tuple[dict[str, Any], bool, str | None]:
    """Ray options for a job whose method wants ``want`` on ``cluster``; whether it runs on the
    CPU instead of the GPU it asked for; and the note saying how its request was changed."""
    options: dict[str, Any] = {"num_cpus": min(want.cpus, cluster.most_cpus) if cluster.most_cpus else want.cpus}
    notes = []
    on_cpu = False
    if want.gpus:
        if cluster.most_gpus >= min(want.gpus, 1.0):
            options["num_gpus"] = want.gpus
        else:
            on_cpu = True
            have = "has no GPU" if not cluster.most_gpus else f"has at most {cluster.most_gpus:g} GPU per node"
            notes.append(f"ran on the CPU: '{method}' asks for {want.gpus:g} GPU and the cluster {have}")
    if want.memory_mb:
        memory = want.memory_mb * 2**20
        if cluster.most_memory and memory > cluster.most_memory:
            notes.append(f"'{method}' asks for {want.memory_mb} MB of memory; the largest node has {cluster.most_memory / 2**20:.0f} MB")
            memory = cluster.most_memory
        options["memory"] = int(memory)
    return options, on_cpu, "; ".join(notes) or None


class _RayRun:
    def __init__(self, ray, scheduler: Scheduler, on_progress: Callable[[str], None] | None = None):
        self.ray = ray
        self.scheduler = scheduler
        self.on_progress = on_progress
        self.remote = ray.remote(ray_job)
        self.running: dict[Any, _Running] = {}
        self.shipped = _Shipped(ray, scheduler.pending_jobs())
        self.preparation_files: dict[str, Any] = {}  # key → object ref of its cache files
        self.resources: dict[str, Resources] = {}  # variant id → what its method asks for
        self.run_ids = {job.run_id for job in scheduler.pending_jobs()}
        self.cluster = _Cluster.look(ray)

    def run(self) -> Iterator[tuple[Job | None, Result]]:
        scheduler = self.scheduler
        if self.cluster.cpus == 0:
            raise ExecutorError("the Ray cluster has no CPU (no node alive, or every node started with --num-cpus 0)")
        while scheduler.has_work() or self.running:
            yield from drain_blocked(scheduler)
            if time.monotonic() - self.cluster.seen > NODES_EVERY:
                self.cluster = _Cluster.look(self.ray)
            while len(self.running) < max(2, int(self.cluster.cpus * IN_FLIGHT_PER_CPU)):
                job = scheduler.next_job()
                if job is None:
                    break
                self.submit(job)
            if not self.running:
                continue
            now = time.monotonic()
            deadlines = [r.deadline for r in self.running.values() if r.deadline is not None]
            wait = min(1.0, max(0.0, min(deadlines, default=now + 1.0) - now))
            ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=wait)
            if ready:  # and whatever else is ready by now
                ready, _ = self.ray.wait(list(self.running), num_returns=len(self.running), timeout=0)
            for generator in ready:
                yield from self.advance(generator)
            yield from self.expire()

    # -- submitting --------------------------------------------------------------------------
    def want(self, job: Job) -> Resources:
        if isinstance(job, Task) and job.score_only:
            return Resources()  # only metrics run
        variant = job.case.variant
        if variant.variant_id not in self.resources:
            self.resources[variant.variant_id] = variant_resources(variant)
        return self.resources[variant.variant_id]

    def submit(self, job: Job) -> None:
        options, on_cpu, note = placement(self.want(job), self.cluster, job.case.variant.name)
        sent = dataclasses.replace(job, device="cpu") if on_cpu and job.device == "auto" else job
        names, refs = self.shipped.refs_for(job)
        key = None
        if isinstance(job, Preparation):
            stored = stored_preparation_files(Path(job.out_dir) / "cache", job.key)
            if stored is not None:  # resumed: ship what an earlier run trained
                refs.append(self.ray.put(stored))
        elif job.preparation_key is not None:
            key = job.preparation_key
            refs.append(self.preparation_files[key])
        # retries are the scheduler's (once, and recorded), not Ray's
        # SPREAD: independent cases balance over the nodes; Ray's default would keep them where their
        # arguments (the input files, a preparation's cache) already are, leaving other nodes idle
        generator = self.remote.options(num_returns="streaming", max_retries=0, retry_exceptions=False,
                                        scheduling_strategy="SPREAD", **options).remote(sent, names, key, *refs)
        self.running[generator] = _Running(job, note=note)

    # -- receiving ---------------------------------------------------------------------------
    def advance(self, generator) -> Iterator[tuple[Job, Result]]:
        running = self.running[generator]
        job = running.job
        where = f" on node {running.node}" if running.node else ""
        try:
            reference = next(generator)
            message = self.ray.get(reference)
        except self.ray.exceptions.RayTaskError as exc:  # the worker's own code raised
            del self.running[generator]
            cause = str(exc).strip().splitlines()[-1][:500]
            yield self.finish(running, self.scheduler.failure(job, "failed", f"the Ray worker{where} raised: {cause}"))
            return
        except (self.ray.exceptions.RayError, StopIteration) as exc:  # the worker process or its node is gone
            del self.running[generator]
            what = "preparation" if isinstance(job, Preparation) else "case"
            reason = "its worker ended without a result" if isinstance(exc, StopIteration) else type(exc).__name__
            result = self.scheduler.crashed(job, f"the Ray worker{where} was lost while running this {what} ({reason})")
            if result is not None:
                yield self.finish(running, result)
            return
        if isinstance(message, Progress):
            if self.on_progress is not None:
                self.on_progress(message.line)
        elif isinstance(message, Started):
            running.node, running.pid = message.node, message.pid
            running.deadline = time.monotonic() + self.scheduler.budget(job)
        elif isinstance(message, dict):  # a preparation's cache files
            assert isinstance(job, Preparation)
            if message:
                store_preparation_files(Path(job.out_dir) / "cache", job.key, message)
            self.preparation_files[job.key] = reference  # the object itself travels on to the nodes
        else:
            del self.running[generator]
            yield self.finish(running, message)

    def expire(self) -> Iterator[tuple[Job, Result]]:
        now = time.monotonic()
        for generator, running in list(self.running.items()):
            if running.deadline is not None and now > running.deadline:
                self.ray.cancel(generator, force=True)  # ends the worker process
                del self.running[generator]
                budget = self.scheduler.budget(running.job)
                message = (f"preparation exceeded its budget (prepare_timeout) of {budget:g} s and was stopped"
                           if isinstance(running.job, Preparation) else f"case exceeded the timeout of {budget:g} s and was stopped")
                yield self.finish(running, self.scheduler.failure(running.job, "timeout", message))

    def finish(self, running: _Running, result: Result) -> tuple[Job, Result]:
        if isinstance(result, CaseResult) and result.case is not None:
            result.case.node = running.node or result.case.node
            if running.note:
                result.case.note = f"{running.note}; {result.case.note}" if result.case.note else running.note
        elif isinstance(result, PreparationResult):
            result.node = running.node or result.node
        self.scheduler.finished(running.job, result)
        self.shipped.release(running.job)
        return running.job, result

    def stop(self) -> None:
        """Cancel what still runs (an interrupted run) and remove the nodes' scratch folders
        (best effort: with the cluster gone there is nothing to cancel, and a scratch folder
        left behind is an ordinary temporary folder of its node)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        with contextlib.suppress(self.ray.exceptions.RayError, ConnectionError):
            for generator in self.running:
                self.ray.cancel(generator, force=True)
            clean = self.ray.remote(_clean_scratch)
            pending = [
                clean.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)).remote(run_id)
                for node in self.ray.nodes() if node.get("Alive") for run_id in self.run_ids
            ]
            self.ray.wait(pending, num_returns=len(pending), timeout=30)


def check_reachable(address: str, *, timeout: float = 10.0) -> None:
    """Fail at once when nothing listens at a ``host:port`` address (Ray itself would retry for
    minutes); ``auto`` and other forms are left to Ray."""
    host, _, port = address.rpartition(":")
    if address == "auto" or "://" in address or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ExecutorError(f"no Ray cluster answers at {address} ({exc.strerror or exc}); start one with "
                            f"`ray start --head --port {port}` on {host}, or check the address") from None


def run_ray(scheduler: Scheduler, *, workers: int, address: str | None = None,
            on_progress: Callable[[str], None] | None = None) -> Iterator[tuple[Job | None, Result]]:
    """The scheduler's jobs on a Ray cluster: the one at ``address`` (``auto``: this machine's),
    or a Ray instance started here for the run with ``workers`` CPUs (all cores for 0).
    ``on_progress`` receives the training progress lines of shared preparations."""
    if not scheduler.has_work():
        return
    ray = import_ray()
    joined_here = not ray.is_initialized()
    if joined_here:
        env = {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}
        settings: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING,
                                    "runtime_env": {"env_vars": env} if env else None}
        try:
            if address:
                check_reachable(address)
                ray.init(address=address, **settings)
            else:
                ray.init(num_cpus=workers or None, include_dashboard=False, **settings)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            raise ExecutorError(f"cannot connect to {where}: {str(exc).strip().splitlines()[0]}") from None
    execution = _RayRun(ray, scheduler, on_progress)
    try:
        yield from execution.run()
    finally:
        try:
            execution.stop()
        finally:
            if joined_here:
                ray.shutdown()
