"""``restorebench init [--db DB]``: create an empty results database (the schema, nothing else).

A site built from it says that it is empty; ``run`` and ``import`` fill it.
"""
from __future__ import annotations

import argparse

from restorebench.bench.commands._common import add_db


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="create an empty results database (or check that DB is one)")
    add_db(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from restorebench.bench.store import Store

    existed = args.db.exists()
    with Store(args.db) as store:  # creates the schema; refuses a database restorebench did not make
        n_runs = store.query("SELECT count(*) AS n FROM runs").to_pylist()[0]["n"]
    if existed:
        print(f"{args.db} is already a restorebench database ({n_runs} run(s) and import(s)); nothing changed")
    else:
        print(f"created an empty restorebench database: {args.db}")
    return 0
