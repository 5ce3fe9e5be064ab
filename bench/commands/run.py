"""``restorebench run SPEC``: run a benchmark into the database (resumes by default)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from restorebench.bench.commands._common import DEFAULT_OUT, add_db
from restorebench.bench.plan import DEFAULT_MAX_CASES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a benchmark spec (skips cases already stored OK)")
    p.add_argument("spec", type=Path)
    add_db(p)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for outputs and caches (default: results)")
    p.add_argument("--fresh", action="store_true", help="recompute every case (and every stage of a chain), replacing stored results")
    p.add_argument("--limit", type=int, default=None, help="at most N items per dataset")
    p.add_argument("--workers", type=int, default=None, help="worker processes (0: in this process); default: the spec's")
    p.add_argument("--timeout", type=float, default=None, help="seconds per case; default: the spec's")
    p.add_argument("--prepare-timeout", type=float, default=None,
                   help="seconds for a shared preparation (training once for several cases); default: the spec's")
    p.add_argument("--max-cases", type=int, default=None, metavar="N",
                   help=f"refuse specs that plan more than N cases (default {DEFAULT_MAX_CASES:,})")
    p.add_argument("--executor", choices=("local", "ray"), default=None,
                   help="local: worker processes on this machine; ray: a Ray cluster (needs `pip install 'restorebench[ray]'`); default: the spec's")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="ray: the cluster to join (host:port, or 'auto' for the one this machine belongs to); "
                        "without it a Ray instance is started on this machine for the run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Exit status: 0 every case ok (or unavailable: checkpoints not installed), 1 some cases or
    scores failed, 2 the run could not run (invalid spec, database or outputs not writable)."""
    from restorebench.bench.runner import RunOptions, run
    from restorebench.bench.spec import load_spec

    loaded = load_spec(args.spec)
    if args.address is not None and (args.executor or loaded.spec.executor) != "ray":
        print("restorebench: error: --address is for the Ray executor: add --executor ray (or `executor: ray` in the spec)", file=sys.stderr)
        return 2
    options = RunOptions(
        db=args.db, out_dir=args.out, fresh=args.fresh, limit=args.limit, workers=args.workers,
        timeout=args.timeout, prepare_timeout=args.prepare_timeout, progress=not args.no_progress, max_cases=args.max_cases or DEFAULT_MAX_CASES,
        executor=args.executor, address=args.address,
    )
    summary = run(loaded, options)
    print(describe(summary, args.db), flush=True)
    if summary.unavailable or summary.skipped_unavailable:
        print(f"{summary.unavailable + summary.skipped_unavailable} case(s) need checkpoint files that are not installed; "
              f"see `restorebench weights list`", file=sys.stderr)
    if summary.failed or summary.scores_failed:
        for what, status, message in summary.problems:
            print(f"  {status}: {what}: {message}", file=sys.stderr)
        what = [f"{summary.failed} case(s)"] * bool(summary.failed) + [f"{summary.scores_failed} score(s)"] * bool(summary.scores_failed)
        more = " (the first shown above)" if summary.failed + summary.scores_failed > len(summary.problems) else ""
        print(f"{' and '.join(what)} failed{more}; all of them: `restorebench leaderboard --db {args.db} --failures`", file=sys.stderr)
        return 1
    return 0


def describe(summary, db) -> str:
    """One line: what the run found stored, what it ran, what it rescored, with outcomes."""
    stored = f"{summary.skipped} already stored"
    if summary.skipped_unavailable:
        stored += f" ({summary.skipped_unavailable} of them unavailable: checkpoints still missing)"
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.status_counts.items()))
    ran = f"{summary.executed} run" + (f" ({counts})" if counts else "")
    rescored = f", {summary.rescored} rescored (new or changed metrics)" if summary.rescored else ""
    if summary.executed == 0 and summary.rescored == 0:
        ran = "nothing to run"
    return f"run {summary.run_id}: {summary.planned} cases planned, {stored}, {ran}{rescored} in {summary.seconds:.1f} s → {db}"
