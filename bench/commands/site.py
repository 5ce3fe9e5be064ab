"""``restorebench site``: build the static leaderboard site from a results database.

    restorebench site [--db DB] [--out DIR] [--primary-metric TASK=METRIC ...]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from restorebench.bench.commands._common import add_db
from restorebench.metrics.errors import RestoreBenchError

DEFAULT_SITE_OUT = Path("results/site")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "site",
        help="build the static leaderboard site (works offline) and print the path of index.html",
        description="Render the leaderboards, analyses, galleries, per-image pages, provenance and downloads of a "
        "results database into a static MkDocs-material site. The database is opened read-only; the site "
        "makes no request to any other host and publishes no path of this machine.",
    )
    add_db(parser)
    parser.add_argument("--out", type=Path, default=DEFAULT_SITE_OUT,
                        help=f"output folder, replaced on every build (default: {DEFAULT_SITE_OUT})")
    parser.add_argument("--keep-markdown", type=Path, default=None, metavar="DIR",
                        help="also keep the generated Markdown and mkdocs.yml in DIR (for debugging)")
    parser.add_argument("--primary-metric", action="append", default=[], metavar="TASK=METRIC",
                        help="the metric that orders TASK's overall leaderboard (deblur, sr, …); repeatable; "
                        "default: the first metric the task's latest run or import lists")
    parser.set_defaults(handler=handle)


def primary_metrics(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        task, _, metric = pair.partition("=")
        if not task.strip() or not metric.strip():
            raise RestoreBenchError(f"--primary-metric expects TASK=METRIC (e.g. sr=maniqa), got '{pair}'")
        out[task.strip()] = metric.strip()
    return out


def handle(args: argparse.Namespace) -> int:
    from restorebench.reports.site import SiteOptions, build_site

    options = SiteOptions(primary_metrics=primary_metrics(args.primary_metric))
    index = build_site(args.db, args.out, work_dir=args.keep_markdown, options=options)
    print(index)
    return 0
