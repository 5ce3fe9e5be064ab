"""Performance-regression check: the speed benchmarks of two revisions, measured in one run.

Absolute times on a shared machine are noise from one day to the next, so a saved baseline is a
weak reference. This script checks the base revision out into a temporary git worktree and runs
the same pytest-benchmark files on the base and on the working tree alternately, ``--passes``
times each, on the same machine within a few minutes. For every benchmark both revisions have,
it compares the best (minimum) time of each revision over all passes:

    ratio = min_t(head) / min_t(base)

and fails (exit 1) when a ratio exceeds ``1 + threshold``. The minimum is the statistic least
disturbed by other load; alternating the revisions spreads slow phases of the machine over both.

    .venv/bin/python tests/perf/compare_revisions.py [--base HEAD~1] [--threshold 0.5] [--passes 3]

(``make perf-compare BASE=<rev>``; ``.ci/run`` runs it against the tip's parent.) A base that
git cannot resolve (a shallow clone, a first commit) is reported and the check passes: there is
nothing to compare with.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Quick, CPU-bound benchmarks (about a minute per pass and revision). The site build over 100k
# scores and DAN's memory benchmark are left to `make perf`.
BENCHMARK_FILES = [
    "tests/perf/test_metrics_perf.py",
    "tests/perf/test_runner_perf.py",
    "tests/perf/test_singan_perf.py",
]


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def resolve(revision: str) -> str | None:
    try:
        return git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    except subprocess.CalledProcessError:
        return None


class BenchmarksFailed(Exception):
    """The benchmark session of one revision did not pass (its output's tail is the message)."""


def run_benchmarks(tree: Path, out: Path) -> dict[str, float]:
    """Run the benchmark files that exist in ``tree`` with ``tree``'s own code; return
    ``{benchmark fullname: min seconds}``. Raises :class:`BenchmarksFailed`."""
    files = [f for f in BENCHMARK_FILES if (tree / f).exists()]
    if not files:
        return {}
    env = dict(os.environ)
    # The tree's packages come first on the path (the venv's editable install points at ROOT),
    # and every revision starts from an empty cache.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), env.get("PYTHONPATH", "")]))
    env["RESTOREBENCH_CACHE"] = str(out.with_suffix(".cache"))
    env["RESTOREBENCH_PERF_RELATIVE_ONLY"] = "1"  # benchmarks skip their absolute time bounds
    command = [sys.executable, "-m", "pytest", "-m", "perf", *files, "-q",
               "--benchmark-only", f"--benchmark-json={out}"]
    result = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise BenchmarksFailed(tail)
    report = json.loads(out.read_text())
    return {b["fullname"]: float(b["stats"]["min"]) for b in report["benchmarks"]}


def best_of(runs: list[dict[str, float]]) -> dict[str, float]:
    best: dict[str, float] = {}
    for times in runs:
        for name, seconds in times.items():
            best[name] = min(seconds, best.get(name, float("inf")))
    return best


def compare(base: dict[str, float], head: dict[str, float], *, threshold: float) -> tuple[list[tuple[str, float, float, float]], list[str]]:
    """Rows ``(name, base s, head s, head/base)`` for the benchmarks both have, and the names
    whose ratio exceeds ``1 + threshold``."""
    rows = [(name, base[name], head[name], head[name] / base[name]) for name in sorted(set(base) & set(head))]
    slower = [name for name, _, _, ratio in rows if ratio > 1.0 + threshold]
    return rows, slower


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="HEAD~1", help="revision to compare the working tree with (default HEAD~1)")
    # Identical code measured this way gave ratios of 0.76–1.06 (3 passes): the threshold sits
    # well above that noise, so it catches a real slow-down without failing CI at random.
    parser.add_argument("--threshold", type=float, default=0.5, help="allowed slow-down of the minimum time (default 0.5 = 50 %%)")
    parser.add_argument("--passes", type=int, default=3, help="alternating runs per revision (default 3)")
    args = parser.parse_args(argv)

    commit = resolve(args.base)
    if commit is None:
        print(f"compare_revisions: '{args.base}' is not a commit of this clone (shallow or first commit): nothing to compare")
        return 0
    with tempfile.TemporaryDirectory(prefix="restorebench-perf-") as scratch:
        base_tree = Path(scratch) / "base"
        git("worktree", "add", "--detach", "--force", str(base_tree), commit)
        try:
            base_runs, head_runs = [], []
            for i in range(args.passes):
                print(f"pass {i + 1}/{args.passes}: base {commit[:10]} …", flush=True)
                try:
                    base_runs.append(run_benchmarks(base_tree, Path(scratch) / f"base-{i}.json"))
                except BenchmarksFailed as failure:
                    # Not the working tree's fault: report it and compare nothing.
                    print(f"compare_revisions: the base's benchmarks failed, nothing to compare:\n{failure}")
                    return 0
                print(f"pass {i + 1}/{args.passes}: working tree …", flush=True)
                try:
                    head_runs.append(run_benchmarks(ROOT, Path(scratch) / f"head-{i}.json"))
                except BenchmarksFailed as failure:
                    print(f"compare_revisions: the working tree's benchmarks failed:\n{failure}")
                    return 1
        finally:
            git("worktree", "remove", "--force", str(base_tree))
    rows, slower = compare(best_of(base_runs), best_of(head_runs), threshold=args.threshold)
    width = max((len(name) for name, *_ in rows), default=10)
    print(f"\n{'benchmark':<{width}}  {'base min':>10}  {'head min':>10}  {'head/base':>9}")
    for name, base_s, head_s, ratio in rows:
        flag = "  SLOWER" if name in slower else ""
        print(f"{name:<{width}}  {base_s * 1e3:>8.2f}ms  {head_s * 1e3:>8.2f}ms  {ratio:>9.2f}{flag}")
    if not rows:
        print("no benchmark in common: nothing to compare")
        return 0
    if slower:
        print(f"\n{len(slower)} benchmark(s) more than {args.threshold:.0%} slower than {args.base} ({commit[:10]})")
        return 1
    print(f"\nno benchmark more than {args.threshold:.0%} slower than {args.base} ({commit[:10]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
