"""``restorebench calibrate DIR [--official CSV]``: our metric values vs the authors' official ones."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="score calibration pairs (DIR/ref, DIR/dist) and compare with official values")
    p.add_argument("directory", type=Path)
    p.add_argument("--official", type=Path, default=None, help="CSV of official values (default: DIR/official.csv)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from restorebench.metrics.calibration import calibrate, format_table

    rows = calibrate(args.directory, args.official)
    print(format_table(rows))
    return 0 if all(r.get("within_tolerance", True) is not False for r in rows) else 1
