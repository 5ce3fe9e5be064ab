"""Defaults shared by the sub-commands."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

DEFAULT_DB = Path("results/restorebench.duckdb")
DEFAULT_OUT = Path("results")


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"results database (default: {DEFAULT_DB})")


def json_text(value: Any) -> str:
    """JSON that every parser accepts: non-finite floats (a PSNR of identical images is +inf)
    become the strings "inf", "-inf" and "nan" instead of the invalid tokens Infinity and NaN."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(value), indent=2, default=str, allow_nan=False)
