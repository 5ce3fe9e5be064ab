"""``restorebench validate SPEC``: check a spec without running it."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a spec (file:line: field: problem) and show its plan")
    p.add_argument("spec", type=Path)
    p.add_argument("--plan", action="store_true", help="also list the datasets' items and count the cases")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from restorebench.bench.spec import load_spec

    loaded = load_spec(args.spec)
    print(f"{args.spec}: valid — {len(loaded.spec.datasets)} dataset(s), {len(loaded.variants)} method variant(s), {len(loaded.spec.metrics)} metric(s)")
    for variant in loaded.variants:
        print(f"  method {variant.label}: {variant.params} ×{variant.samples} sample(s), code {variant.code_version}")
        missing = [key for key, sha256 in variant.weights if sha256 is None]
        if missing:
            print(f"    weights missing (its cases will be recorded as unavailable): {', '.join(missing)}")
    if args.plan:
        from restorebench.bench.plan import make_plan

        plan = make_plan(loaded)
        for name, items in plan.items.items():
            print(f"  dataset {name}: {len(items)} item(s)")
        print(f"  {len(plan.cases)} case(s)")
    return 0
