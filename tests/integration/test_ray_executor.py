"""The Ray executor on a real two-node cluster on this machine, against the local executor.

One cluster for the module (Ray takes ~30 s to start two nodes): a head and a second node, each a
separate ``ray start --block`` process with ``--num-cpus 1`` and its own scratch folder, so that a
case on the second node sees nothing the first one wrote. Every run joins it through
``--address``/``RunOptions.address`` as a user would.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import Image

from restorebench.bench.execute import Preparation, Task
from restorebench.bench.executors import Scheduler
from restorebench.bench.executors_ray import _Cluster, placement, store_preparation_files, stored_preparation_files, variant_resources
from restorebench.bench.runner import RunOptions, run
from restorebench.bench.spec import load_spec
from restorebench.bench.store import CaseResult, CaseRow, Store
from restorebench.models import Resources

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "restorebench.bench.cli"]


# -- without a cluster -------------------------------------------------------------------------

def test_placement_asks_for_a_gpu_only_where_there_is_one():
    no_gpu = _Cluster(cpus=2, most_cpus=1, most_gpus=0, most_memory=8 * 2**30)
    options, on_cpu, note = placement(Resources(cpus=4, gpus=0.5, memory_mb=1024), no_gpu, "singan")
    assert options == {"num_cpus": 1, "memory": 1024 * 2**20} and on_cpu
    assert note == "ran on the CPU: 'singan' asks for 0.5 GPU and the cluster has no GPU"
    gpus = _Cluster(cpus=16, most_cpus=8, most_gpus=2, most_memory=64 * 2**30)
    options, on_cpu, note = placement(Resources(gpus=0.25), gpus, "singan")
    assert options == {"num_cpus": 1.0, "num_gpus": 0.25} and not on_cpu and note is None
    options, on_cpu, note = placement(Resources(gpus=4), gpus, "big")  # more than a node has: wait for none
    assert options["num_gpus"] == 4 and not on_cpu  # Ray reports it infeasible; a bigger node may join
    options, _, note = placement(Resources(memory_mb=128 * 1024), gpus, "huge")
    assert options["memory"] == 64 * 2**30 and "asks for 131072 MB of memory; the largest node has 65536 MB" in note


def test_every_kind_of_method_declares_what_its_cases_need(write_spec):
    loaded = load_spec(write_spec("""
name: kinds
datasets: [{name: t, kind: lr_sets, source: builtin, limit: 1}]
methods:
  - {name: bicubic}
  - {label: dan-bicubic, chain: [{name: bicubic, scale: 2}, {name: dan, scale: 2, version: v1, setting: 1}]}
  - {name: fastgan}
metrics: [sharpness]
"""))
    wants = {variant.label: variant_resources(variant) for variant in loaded.variants}
    assert wants["bicubic"] == Resources()  # classical: one CPU thread
    assert wants["dan-bicubic"] == Resources(gpus=1.0, memory_mb=2048)  # a chain: the most any stage asks for
    assert wants["fastgan"] == Resources(gpus=1.0)  # set-level training and its samples


def test_preparation_files_come_back_only_when_intact(tmp_path):
    files = {"singan/abc.pt": b"weights", "singan/abc.json": b"{}"}
    store_preparation_files(tmp_path, "abc", files)
    assert (tmp_path / "singan" / "abc.pt").read_bytes() == b"weights"
    assert stored_preparation_files(tmp_path, "abc") == files
    (tmp_path / "singan" / "abc.pt").write_bytes(b"other")
    assert stored_preparation_files(tmp_path, "abc") is None and stored_preparation_files(tmp_path, "nope") is None
    with pytest.raises(Exception, match="outside its cache folder"):
        store_preparation_files(tmp_path / "cache", "k", {"../escape": b""})


def test_a_lost_job_is_retried_once_then_crashed(builtin_root, write_spec):
    from restorebench.bench.plan import make_plan

    plan = make_plan(load_spec(write_spec(f"""
name: s
datasets: [{{name: t, kind: blur_triplets, source: builtin, limit: 1}}]
methods: [{{name: identity}}]
metrics: [sharpness]
""")))
    task = Task(case=plan.cases[0], metrics=(), out_dir="out", run_id="r")
    scheduler = Scheduler([task], [], timeout=1, prepare_timeout=1, crash_retries=1)
    assert scheduler.next_job() is task and scheduler.crashed(task, "node died") is None
    assert scheduler.next_job() is task  # back, first in line
    result = CaseResult(CaseRow(case_id=task.case.case_id))
    scheduler.finished(task, result)
    assert result.case.note == "retried after its worker was lost (node died)"
    again = scheduler.crashed(task, "node died again")
    assert again.case.status == "crashed" and again.case.error == "node died again"


# -- on a cluster ---------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    """Stop a ``ray start --block`` process and everything it started (its own process group):
    a graceful stop first, then whatever is still draining."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


# The `ray` command of this interpreter's environment: `make test` runs `.venv/bin/python` without
# putting `.venv/bin` on PATH.
RAY = str(Path(sys.executable).with_name("ray")) if Path(sys.executable).with_name("ray").exists() else "ray"


@pytest.fixture(scope="module")
def cluster():
    """``(address, [ray start processes])`` of a head and a second node, 1 CPU each."""
    if importlib.util.find_spec("ray") is None:
        reason = "Ray is not installed (pip install 'restorebench[ray]')"
        pytest.fail(reason + " — required under CI") if os.environ.get("CI") else pytest.skip(reason)
    # Ray reads its authentication settings when it is first imported: the variables below must be
    # set before that (nothing imports ray at module level here).
    assert "ray" not in sys.modules, "ray was imported before the cluster's token was set"
    port = _free_port()
    address = f"127.0.0.1:{port}"
    scratch = Path(tempfile.mkdtemp(prefix="rb-ray-"))  # Ray's socket paths must stay short
    with pytest.MonkeyPatch.context() as env:
        # a token of this test's own: nobody else on the machine can join the cluster
        env.setenv("RAY_AUTH_MODE", "token")
        env.setenv("RAY_AUTH_TOKEN", secrets.token_hex(16))
        common = ["--num-cpus", "1", "--block", "--disable-usage-stats", "--object-store-memory", str(100 * 2**20)]
        logs = [open(scratch / name, "w") for name in ("head.log", "node.log")]
        processes = [subprocess.Popen(
            [RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--include-dashboard=false",
             "--temp-dir", str(scratch / "t"), *common],
            stdout=logs[0], stderr=subprocess.STDOUT, start_new_session=True,
        )]
        try:
            deadline = time.monotonic() + 180
            while "Ray runtime started" not in (scratch / "head.log").read_text():
                assert processes[0].poll() is None and time.monotonic() < deadline, (scratch / "head.log").read_text()[-3000:]
                time.sleep(0.3)
            processes.append(subprocess.Popen(
                [RAY, "start", "--address", address, "--node-ip-address", "127.0.0.1", *common],
                stdout=logs[1], stderr=subprocess.STDOUT, start_new_session=True,
            ))
            while "Ray runtime started" not in (scratch / "node.log").read_text():
                assert processes[1].poll() is None and time.monotonic() < deadline, (scratch / "node.log").read_text()[-3000:]
                time.sleep(0.3)
            yield address, processes
        finally:
            for process in reversed(processes):
                _stop(process)
            for log in logs:
                log.close()
            subprocess.run(["rm", "-rf", str(scratch)], check=False)


def _snapshot(db: Path) -> tuple[dict, dict]:
    """``case_id → status`` and ``(case_id, metric) → (status, value)`` of a database."""
    with Store(db, read_only=True) as store:
        cases = dict(store.con.execute("SELECT case_id, status FROM cases").fetchall())
        scores = {(c, m): (s, v) for c, m, s, v in store.con.execute("SELECT case_id, metric, status, value FROM scores").fetchall()}
    return cases, scores


def _cli_run(spec: Path, db: Path, out: Path, address: str) -> list[str]:
    return [*CLI, "run", str(spec), "--db", str(db), "--out", str(out), "--no-progress", "--executor", "ray", "--address", address]


@pytest.mark.slow
def test_smoke_spec_on_the_cluster_equals_a_local_run_even_after_kill_9_of_the_driver(cluster, tmp_path):
    address, _ = cluster
    spec = ROOT / "bench" / "specs" / "smoke.yaml"
    run(load_spec(spec), RunOptions(db=tmp_path / "local.duckdb", out_dir=tmp_path / "local", workers=0, progress=False))
    db, out = tmp_path / "ray.duckdb", tmp_path / "ray"
    driver = subprocess.Popen(_cli_run(spec, db, out, address), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True)
    deadline = time.monotonic() + 300
    while len(list(out.rglob("*.png"))) < 12 and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.5)  # the driver stores what finished at least once a second
    driver.kill()  # kill -9 of the driver, half-way
    driver.communicate()
    resumed = subprocess.run(_cli_run(spec, db, out, address), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0 and "Traceback" not in resumed.stderr, resumed.stderr[-3000:]
    assert "already stored" in resumed.stdout and " 0 already stored" not in resumed.stdout  # it resumed
    assert _snapshot(db) == _snapshot(tmp_path / "local.duckdb")
    with Store(db, read_only=True) as store:
        nodes = {n for (n,) in store.con.execute("SELECT DISTINCT node FROM cases").fetchall()}
        outputs = store.con.execute("SELECT output_path, output_sha256 FROM cases").fetchall()
    assert len(nodes) == 2  # both nodes ran cases, and each is named
    from restorebench.metrics.imageio import file_sha256

    assert all(file_sha256(path) == sha for path, sha in outputs)  # the driver wrote every output


@pytest.mark.slow
def test_a_shared_preparation_runs_once_and_its_cache_travels_to_both_nodes(cluster, tmp_path, write_spec):
    address, _ = cluster
    log = tmp_path / "trainings.log"
    spec = write_spec(f"""
name: shared
datasets: [{{name: t, kind: blur_triplets, source: builtin, limit: 1}}]
methods: [{{name: test_shared_training, log: {log}, samples: 4}}]
metrics: [sharpness]
""")
    out = tmp_path / "out"
    summary = run(load_spec(spec), RunOptions(db=tmp_path / "a.duckdb", out_dir=out, progress=False, executor="ray", address=address))
    assert summary.status_counts == {"ok": 8}
    assert len(log.read_text().splitlines()) == 1  # one training for the 8 cases on 2 nodes
    with Store(tmp_path / "a.duckdb", read_only=True) as store:
        cases = store.con.execute("SELECT node, note FROM cases").fetchall()
        preparations = store.con.execute("SELECT status, node FROM preparations").fetchall()
    assert len({node for node, _ in cases}) == 2 and preparations[0][0] == "ok" and preparations[0][1].startswith(socket.gethostname())
    assert {note for _, note in cases} == {"ran on the CPU: 'test_shared_training' asks for 0.5 GPU and the cluster has no GPU"}
    assert len(list((out / "cache" / "test_shared_training").glob("*.npy"))) == 1  # back on the driver
    # another database, the same --out: the stored cache is shipped back instead of training again
    summary = run(load_spec(spec), RunOptions(db=tmp_path / "b.duckdb", out_dir=out, progress=False, executor="ray", address=address))
    assert summary.status_counts == {"ok": 8} and len(log.read_text().splitlines()) == 1
    assert _snapshot(tmp_path / "a.duckdb") == _snapshot(tmp_path / "b.duckdb")


def _ray_job_processes(processes: list[subprocess.Popen]) -> list[psutil.Process]:
    """Ray worker processes of the cluster that are running a job now (Ray names them by task)."""
    found = []
    for process in processes:
        try:
            children = psutil.Process(process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            continue
        for child in children:
            try:
                if " ".join(child.cmdline()).startswith("ray::ray_job"):
                    found.append(child)
            except psutil.Error:
                pass
    return found


@pytest.mark.slow
def test_a_killed_worker_is_retried_a_hanging_case_times_out_and_the_run_completes(cluster, tmp_path, write_spec):
    address, processes = cluster
    rng = np.random.default_rng(3)
    for name, n in (("two", 2), ("one", 1)):
        folder = tmp_path / name / "d" / "s"
        (folder / "HR").mkdir(parents=True)
        for i in range(n):
            hr = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
            Image.fromarray(hr).save(folder / "HR" / f"{i}.png")
            Image.fromarray(hr[::2, ::2]).save(folder / f"{i}.png")
    spec = write_spec(f"""
name: faults
timeout: 15
datasets:
  - {{name: two, kind: lr_sets, root: {tmp_path / 'two'}}}
  - {{name: one, kind: lr_sets, root: {tmp_path / 'one'}}}
methods:
  - {{name: test_slow, seconds: 3, datasets: [two]}}
  - {{name: test_hang, datasets: [one]}}
metrics: [sharpness]
""")
    db = tmp_path / "db.duckdb"
    driver = subprocess.Popen(_cli_run(spec, db, tmp_path / "out", address), cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    busy: list[psutil.Process] = []
    while not busy and time.monotonic() < deadline:
        busy = _ray_job_processes(processes)
        time.sleep(0.2)
    assert busy, "no Ray worker ever ran a job"
    time.sleep(1.0)  # in the middle of its case
    busy[0].kill()
    stdout, stderr = driver.communicate(timeout=300)
    assert driver.returncode == 1 and "Traceback" not in stderr, stderr[-3000:]  # 1: the hanging cases failed
    with Store(db, read_only=True) as store:
        cases = store.con.execute("SELECT method, status, note, error FROM cases").fetchall()
    assert [(s, e) for m, s, _, e in cases if m == "test_hang"] == [("timeout", "case exceeded the timeout of 15 s and was stopped")]
    lost = [(m, s, n) for m, s, n, _ in cases if s == "crashed" or (n and "retried after its worker was lost" in n)]
    assert len(lost) == 1, cases  # the killed case: retried (and said so) or recorded as crashed
    assert [s for m, s, _, _ in cases if m == "test_slow"] == ["ok", "ok"] or lost[0][1] == "crashed"


@pytest.mark.slow
def test_chains_and_a_set_level_gan_on_the_cluster_equal_a_local_run(cluster, tmp_path, write_spec):
    """A chain's stage outputs come back to the driver as artifacts; a set-level GAN trains once
    per set somewhere on the cluster and its samples run wherever its cache travelled."""
    address, _ = cluster
    rng = np.random.default_rng(5)
    for name in ("a-x4", "b-x4"):
        folder = tmp_path / "lr" / "dom" / name
        (folder / "HR").mkdir(parents=True)
        for i in range(2):
            hr = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
            Image.fromarray(hr).save(folder / "HR" / f"{i}.png")
            Image.fromarray(np.ascontiguousarray(hr[::4, ::4])).save(folder / f"{i}.png")
    spec = write_spec(f"""
name: kinds
workers: 0
datasets: [{{name: toy, kind: lr_sets, root: {tmp_path / 'lr'}}}]
methods:
  - {{label: bic-lanczos, chain: [{{name: bicubic, scale: 2}}, {{name: lanczos, scale: 2}}]}}
  - {{name: fastgan, profile: fast, iterations: 1, batch: 2, ngf: 4, ndf: 4, decoder_width: 4, samples_per_set: 2, sample_batch: 2}}
metrics: [sharpness]
""")
    run(load_spec(spec), RunOptions(db=tmp_path / "local.duckdb", out_dir=tmp_path / "local", progress=False))
    db, out = tmp_path / "ray.duckdb", tmp_path / "ray"
    summary = run(load_spec(spec), RunOptions(db=db, out_dir=out, progress=False, executor="ray", address=address))
    assert summary.status_counts == {"ok": 4 + 4}  # the chain: 4 images; fastgan: 2 sets × 2 samples
    local_cases, local_scores = _snapshot(tmp_path / "local.duckdb")
    ray_cases, ray_scores = _snapshot(db)
    assert ray_cases == local_cases
    # the chain's scores are exact; a GAN trained with other torch thread counts may differ in its last bits
    with Store(db, read_only=True) as store:
        chain_ids = {c for (c,) in store.con.execute("SELECT case_id FROM cases WHERE method = 'chain'").fetchall()}
        artifacts = store.con.execute("SELECT kind, path, sha256 FROM artifacts WHERE case_id IN "
                                      "(SELECT case_id FROM cases WHERE method = 'chain')").fetchall()
        preparations = store.con.execute("SELECT status, node FROM preparations").fetchall()
        gan_nodes = {n for (n,) in store.con.execute("SELECT node FROM cases WHERE method = 'fastgan'").fetchall()}
    assert len(chain_ids) == 4 and {k: v for k, v in ray_scores.items() if k[0] in chain_ids} == \
        {k: v for k, v in local_scores.items() if k[0] in chain_ids}
    from restorebench.metrics.imageio import file_sha256

    stage_files = [(path, sha) for kind, path, sha in artifacts if kind == "stage1"]
    assert len(stage_files) == 4 and {kind for kind, _, _ in artifacts} == {"stage1", "stage2", "output"}
    assert all(Path(path).is_relative_to(out / "cache") and file_sha256(path) == sha for path, sha in stage_files)
    assert [status for status, _ in preparations] == ["ok", "ok"]  # one training per set
    assert all(node and "/" in node for _, node in preparations) and all(node and "/" in node for node in gan_nodes)
    assert len(list((out / "cache" / ".preparations").glob("*.json"))) == 2  # the trainings, stored by the driver
