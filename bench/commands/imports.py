"""``restorebench import``: per-image scores published elsewhere, into the results database.

    restorebench import long FILE.csv [--db DB] [--match-stem REGEX | --map MAP.csv] [--source TEXT] [--paper TEXT]
    restorebench import maniqa FILE.csv --dataset D --method M [--domain X] [--metric maniqa] [--db DB] [same options]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import sys

from restorebench.bench.commands._common import add_db


def add_provenance_and_pairing(parser: argparse.ArgumentParser) -> None:
    pairing = parser.add_mutually_exclusive_group()
    pairing.add_argument("--match-stem", metavar="REGEX", default=None,
                         help="pair image names by this regular expression's first group (or whole match), "
                         "e.g. '(\\d+)' makes 0001_res.png and 0001.png the same image")
    pairing.add_argument("--map", type=Path, metavar="MAP.csv", default=None,
                         help="pair image names with a CSV of header image,item (unlisted names stay as they are)")
    parser.add_argument("--source", default=None, metavar="TEXT", help="where the scores were published (shown on the site)")
    parser.add_argument("--paper", default=None, metavar="TEXT", help="the paper that reports them (shown on the site)")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import",
        help="import per-image scores (long CSV or MANIQA output) into the results database",
        description="Import per-image scores into the results database. Imported rows are marked "
        "origin=import with the source file's sha256; importing the same file twice changes nothing.",
    )
    formats = parser.add_subparsers(dest="format", metavar="FORMAT", required=True)

    long = formats.add_parser(
        "long",
        help="CSV with header dataset,method,image,metric,value[,domain,task]",
        description="Import a CSV with header dataset,method,image,metric,value and optional "
        "domain and task columns (task: deblur or sr), one score per line.",
    )
    long.add_argument("file", type=Path, metavar="FILE.csv")
    add_db(long)
    add_provenance_and_pairing(long)
    long.set_defaults(handler=_run_long)

    maniqa = formats.add_parser(
        "maniqa",
        help="MANIQA inference output (filename,score lines) of one set and technique",
        description="Import MANIQA's inference output: 'filename,score' lines without a header, "
        "one file per (set, technique).",
    )
    maniqa.add_argument("file", type=Path, metavar="FILE.csv")
    maniqa.add_argument("--dataset", required=True, help="the set the images belong to (e.g. an LR set name)")
    maniqa.add_argument("--method", required=True, help="the technique that produced the images")
    maniqa.add_argument("--domain", default=None, help="the set's domain (e.g. aerial, medical)")
    maniqa.add_argument("--metric", default="maniqa", help="metric name to store the scores under (default: maniqa)")
    maniqa.add_argument("--task", choices=("deblur", "sr"), default=None,
                        help="task (default: the dataset's task if the database knows it, else sr)")
    add_db(maniqa)
    add_provenance_and_pairing(maniqa)
    maniqa.set_defaults(handler=_run_maniqa)


def _matcher(args: argparse.Namespace):
    from restorebench.reports.import_names import NameMatcher

    return NameMatcher.from_options(match_stem=args.match_stem, map_file=args.map)


def _report(result, db: Path) -> int:
    print(result.message(db))
    for warning in result.warnings:
        print(f"restorebench: warning: {warning}", file=sys.stderr)
    return 0


def _run_long(args: argparse.Namespace) -> int:
    from restorebench.reports.importing import import_long

    return _report(import_long(args.db, args.file, matcher=_matcher(args), source=args.source, paper=args.paper), args.db)


def _run_maniqa(args: argparse.Namespace) -> int:
    from restorebench.reports.importing import import_maniqa

    result = import_maniqa(args.db, args.file, dataset=args.dataset, method=args.method, metric=args.metric,
                           domain=args.domain, task=args.task, matcher=_matcher(args), source=args.source, paper=args.paper)
    return _report(result, args.db)
