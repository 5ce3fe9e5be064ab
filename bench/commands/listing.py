"""``restorebench list datasets|methods|metrics [--json]``."""
from __future__ import annotations

import argparse
from typing import Any

from restorebench.bench.commands._common import json_text


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list the known datasets kinds, methods or metrics")
    p.add_argument("what", choices=["datasets", "methods", "metrics"])
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=handle)


def _describe(registry_get, name: str) -> dict[str, Any]:
    """``describe()`` of the component built with its defaults (what a spec gets without options)."""
    from restorebench.metrics.component import ParameterError

    cls = registry_get(name)
    try:
        return cls().describe()
    except ParameterError:  # required parameters: describe the class alone
        return {"name": name, "summary": cls.summary, "parameters": cls.parameter_schema(), "networks": cls.networks(),
                "weights": [{"key": k} for k in cls.weights]}


def _methods() -> list[dict[str, Any]]:
    from restorebench import models

    return [_describe(models.method_class, name) for name in models.available()]


def _metrics() -> list[dict[str, Any]]:
    from restorebench import metrics

    return [_describe(metrics.REGISTRY.get, name) for name in metrics.available()]


def _datasets() -> list[dict[str, Any]]:
    from restorebench.bench.datasets import builtin

    return [
        {"kind": "blur_triplets", "task": "deblur", "layout": "sharp/, motion_blurred/, defocused_blurred/ with {id}_{DEVICE}_{S|M|F}.{jpg|png}",
         "builtin": f"{len(builtin.TRIPLET_SOURCES)} triplets of {builtin.TRIPLET_SIZE}×{builtin.TRIPLET_SIZE}"},
        {"kind": "lr_sets", "task": "sr", "layout": "<domain>/<set>/*.png with optional <set>/HR/",
         "builtin": [f"{s.domain}/{s.name}" for s in builtin.LR_SETS]},
    ]


def handle(args: argparse.Namespace) -> int:
    rows = {"datasets": _datasets, "methods": _methods, "metrics": _metrics}[args.what]()
    if args.json:
        print(json_text(rows))
        return 0
    for row in rows:
        if args.what == "methods":
            weights = "; ".join(f"{w['key']}: {w.get('status', '?')}" for w in row["weights"]) or "no weights"
            print(f"{row['name']:<18} {'/'.join(row.get('tasks', [])):<10} {row['summary']} [{weights}]")
            for key, field in row["parameters"].items():
                default = "required" if field["required"] else f"default {field['default']!r}"
                print(f"{'':<20}{key}: {field['type']}, {default}" + (f" — {field['description']}" if field["description"] else ""))
        elif args.what == "metrics":
            arrow = "↑" if row["higher_is_better"] else "↓"
            print(f"{row['name']:<12} {row['kind']} {arrow}  range {row['range']}  min size {row['min_size']}  {row['conventions']}")
            for key, field in row["parameters"].items():
                print(f"{'':<14}{key}: {field['type']}, default {field['default']!r}" + (f" — {field['description']}" if field["description"] else ""))
        else:
            print(f"{row['kind']:<14} {row['task']:<7} {row['layout']}")
            builtin = row["builtin"]
            print(f"{'':<22} builtin: {', '.join(builtin) if isinstance(builtin, list) else builtin}")
    return 0
