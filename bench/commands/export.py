"""``restorebench export``: the database's tables as CSV or Parquet files."""
from __future__ import annotations

import argparse
from pathlib import Path

from restorebench.bench.commands._common import add_db


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write results, cases, scores, runs, ... as CSV or Parquet")
    add_db(p)
    p.add_argument("--format", choices=["csv", "parquet"], default="csv")
    p.add_argument("--out", type=Path, default=Path("results/export"))
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from restorebench.bench.store import Store

    with Store(args.db, read_only=True) as store:
        for path in store.export(args.out, fmt=args.format):
            print(path)
    return 0
