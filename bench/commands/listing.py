"""``restorebench list datasets|methods|metrics [--json]``."""
from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list the known datasets kinds, methods or metrics")
    p.add_argument("what", choices=["datasets", "methods", "metrics"])
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=handle)


def _methods() -> list[dict[str, Any]]:
    from restorebench import models
    from restorebench.metrics import weights

    rows = []
    for name in models.available():
        cls = models.method_class(name)
        row: dict[str, Any] = {
            "name": name,
            "tasks": sorted(cls.tasks),
            "summary": cls.summary or (cls.__doc__ or "").strip().split("\n")[0],
            "stochastic": cls.stochastic,
            "params": {k: {"type": str(f.annotation), "default": f.default if f.default is not None else None, "description": f.description}
                       for k, f in cls.Params.model_fields.items()},
            "weights": [{"key": key, **weights.status(key)} for key in cls.weights if key in weights.CATALOGUE],
        }
        networks = getattr(cls, "networks", None)
        if callable(networks):
            row["networks"] = networks()
        rows.append(row)
    return rows


def _metrics() -> list[dict[str, Any]]:
    from restorebench import metrics

    return [metrics.get(name).describe() for name in metrics.available()]


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
        print(json.dumps(rows, indent=2, default=str))
        return 0
    for row in rows:
        if args.what == "methods":
            weights = "; ".join(f"{w['key']}: {w['status']}" for w in row["weights"]) or "no weights"
            print(f"{row['name']:<18} {'/'.join(row['tasks']):<10} {row['summary']} [{weights}]")
        elif args.what == "metrics":
            arrow = "↑" if row["higher_is_better"] else "↓"
            print(f"{row['name']:<12} {row['kind']} {arrow}  range {row['range']}  min size {row['min_size']}  {row['conventions']}")
        else:
            print(f"{row['kind']:<14} {row['task']:<7} {row['layout']}")
            builtin = row["builtin"]
            print(f"{'':<22} builtin: {', '.join(builtin) if isinstance(builtin, list) else builtin}")
    return 0
