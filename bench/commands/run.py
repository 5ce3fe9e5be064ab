"""``restorebench run SPEC``: run a benchmark into the database (resumes by default)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from restorebench.bench.commands._common import DEFAULT_OUT, add_db


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a benchmark spec (skips cases already stored OK)")
    p.add_argument("spec", type=Path)
    add_db(p)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for outputs and caches (default: results)")
    p.add_argument("--fresh", action="store_true", help="recompute every case, replacing stored results")
    p.add_argument("--limit", type=int, default=None, help="at most N items per dataset")
    p.add_argument("--workers", type=int, default=None, help="worker processes (0: in this process); default: the spec's")
    p.add_argument("--timeout", type=float, default=None, help="seconds per case; default: the spec's")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from restorebench.bench.runner import RunOptions, run
    from restorebench.bench.spec import load_spec

    loaded = load_spec(args.spec)
    options = RunOptions(
        db=args.db, out_dir=args.out, fresh=args.fresh, limit=args.limit, workers=args.workers,
        timeout=args.timeout, progress=not args.no_progress,
    )
    summary = run(loaded, options)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.status_counts.items())) or "nothing to do"
    print(
        f"run {summary.run_id}: {summary.planned} cases planned, {summary.skipped} already stored, "
        f"{summary.executed} executed, {summary.rescored} rescored ({counts}) in {summary.seconds:.1f} s → {args.db}"
    )
    unavailable = summary.status_counts.get("unavailable", 0)
    if unavailable:
        print(f"{unavailable} case(s) need checkpoint files that are not installed; see `restorebench weights list`", file=sys.stderr)
    if summary.failed > unavailable:
        print(f"{summary.failed - unavailable} case(s) failed; see `restorebench leaderboard --db {args.db} --failures`", file=sys.stderr)
    return 0
