"""``restorebench site``: build the static leaderboard site from a results database.

    restorebench site [--db DB] [--out DIR]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from restorebench.bench.commands._common import add_db

DEFAULT_SITE_OUT = Path("results/site")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "site",
        help="build the static leaderboard site (works offline) and print the path of index.html",
        description="Render the leaderboard, analyses, galleries, provenance and downloads of a results "
        "database into a static MkDocs-material site. The database is opened read-only; the site "
        "makes no request to any other host.",
    )
    add_db(parser)
    parser.add_argument("--out", type=Path, default=DEFAULT_SITE_OUT,
                        help=f"output folder, replaced on every build (default: {DEFAULT_SITE_OUT})")
    parser.add_argument("--keep-markdown", type=Path, default=None, metavar="DIR",
                        help="also keep the generated Markdown and mkdocs.yml in DIR (for debugging)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from restorebench.reports.site import build_site

    index = build_site(args.db, args.out, work_dir=args.keep_markdown)
    print(index)
    return 0
