"""``restorebench score --metric NAME [--ref REF] IMAGE...``: score files with one metric."""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from restorebench.bench.commands._common import json_text
from restorebench.metrics.errors import RestoreBenchError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score image files with a metric (path<TAB>value per line)")
    p.add_argument("images", type=Path, nargs="+")
    p.add_argument("--metric", required=True)
    p.add_argument("--ref", type=Path, action="append", default=None,
                   help="reference image (full-reference metrics); once, or once per image")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="metric option, e.g. crop_border=4")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=handle)


def _parse_options(pairs: list[str]) -> dict:
    import yaml

    options = {}
    for pair in pairs:
        if "=" not in pair:
            raise RestoreBenchError(f"--option expects KEY=VALUE, got '{pair}'")
        key, value = pair.split("=", 1)
        try:
            options[key] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise RestoreBenchError(f"--option {pair}: the value is not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    return options


def handle(args: argparse.Namespace) -> int:
    from restorebench import metrics
    from restorebench.metrics.imageio import load_image

    metric = metrics.get(args.metric, **_parse_options(args.option))
    refs = args.ref or []
    if metric.kind == "FR" and len(refs) not in (1, len(args.images)):
        raise RestoreBenchError(f"metric '{metric.name}' is full-reference: give --ref once, or once per image")
    if metric.kind == "NR" and refs:
        raise RestoreBenchError(f"metric '{metric.name}' is no-reference: it takes no --ref")
    results, failed = [], 0
    for i, path in enumerate(args.images):
        ref_path = (refs[0] if len(refs) == 1 else refs[i]) if refs else None
        try:
            # Load errors name their file; a metric's own complaint (too small, sizes differ) is
            # about this image, so it is prefixed with the image (and its reference).
            image, ref = load_image(path), (load_image(ref_path) if ref_path else None)
            try:
                value = metric(image, ref)
            except RestoreBenchError as exc:
                where = f"{path} (reference {ref_path})" if ref_path else f"{path}"
                raise RestoreBenchError(f"{where}: {exc}") from exc
            results.append({"path": str(path), "metric": metric.name, "value": value})
        except RestoreBenchError as exc:
            failed += 1
            results.append({"path": str(path), "metric": metric.name, "value": None, "error": str(exc)})
            print(f"restorebench: {exc}", file=sys.stderr)
    if args.json:
        print(json_text(results))
    else:
        for r in results:
            if r["value"] is not None:
                print(f"{r['path']}\t{'inf' if math.isinf(r['value']) else repr(r['value'])}")
    return 1 if failed else 0
