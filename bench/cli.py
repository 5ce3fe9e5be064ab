"""``restorebench``: the command line. Sub-commands live in :mod:`bench.commands`."""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from restorebench.metrics.errors import RestoreBenchError


def build_parser() -> argparse.ArgumentParser:
    from restorebench.bench import commands

    parser = argparse.ArgumentParser(
        prog="restorebench",
        description="Benchmark image restoration methods with faithful image-quality metrics.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except RestoreBenchError as exc:
        # Expected failures (bad input, missing weights, database in use) get one clear line.
        print(f"restorebench: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` & co.: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as exc:
        from restorebench.bench.runner import Terminated

        if isinstance(exc, Terminated):
            print("restorebench: stopped by SIGTERM; finished cases are stored (run the same command to resume)", file=sys.stderr)
            return 143
        print("restorebench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
