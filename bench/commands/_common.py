"""Defaults shared by the sub-commands."""
from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_DB = Path("results/restorebench.duckdb")
DEFAULT_OUT = Path("results")


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"results database (default: {DEFAULT_DB})")
