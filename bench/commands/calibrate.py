"""``restorebench calibrate DIR [--official CSV]``: our metric values vs the authors' official ones."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate", help="score calibration pairs (DIR/ref, DIR/dist) and compare with official values",
        description="DIR holds ref/X.bmp and dist/X.bmp pairs (same stems) and official.csv: header "
        "'metric,X,Y,…', one row per metric with the values its authors' code gives on dist/X "
        "(compared with ref/X for full-reference metrics). The project's own folder is ../shared/calibration "
        "(TID2013 pairs with the authors' values).")
    p.add_argument("directory", type=Path)
    p.add_argument("--official", type=Path, default=None, help="CSV of official values (default: DIR/official.csv)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from restorebench import metrics
    from restorebench.metrics.calibration import calibrate, format_table, read_official
    from restorebench.metrics.errors import RestoreBenchError

    official_csv = args.official or args.directory / "official.csv"
    for needed in (args.directory / "ref", args.directory / "dist", official_csv):
        if not needed.exists():
            raise RestoreBenchError(f"{needed} does not exist: a calibration folder holds ref/, dist/ and official.csv (see --help)")
    try:
        rows = calibrate(args.directory, args.official)
        listed = set(read_official(official_csv))
    except (ValueError, FileNotFoundError) as exc:
        raise RestoreBenchError(str(exc)) from None
    skipped = sorted(listed - set(metrics.available()))
    if skipped:
        print(f"official values of metrics this project does not implement (not compared): {', '.join(skipped)}")
    print(format_table(rows))  # last, so that the verdict is the last line
    return 0 if all(r.get("within_tolerance", True) is not False for r in rows) else 1
