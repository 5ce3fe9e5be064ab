"""``restorebench leaderboard``: method × metric means per dataset, in the terminal."""
from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from restorebench.bench.commands._common import add_db

QUERY = """
SELECT dataset, label, metric, any_value(higher_is_better) AS higher_is_better,
       count(*) AS n,
       count(*) FILTER (WHERE status = 'ok') AS n_ok,
       avg(value) FILTER (WHERE status = 'ok') AS mean,
       list(DISTINCT error ORDER BY error) FILTER (WHERE status IN ('unavailable', 'case_unavailable')) AS unavailable
FROM results
WHERE status <> 'not_applicable'
GROUP BY dataset, label, metric
ORDER BY dataset, label, metric
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leaderboard", help="print method × metric means per dataset (best in bold)")
    add_db(p)
    p.add_argument("--dataset", default=None, help="only this dataset")
    p.add_argument("--failures", action="store_true", help="list the cases that did not succeed")
    p.set_defaults(handler=handle)


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.1f}"


def render(rows: list[dict[str, Any]], *, bold: bool) -> str:
    """Plain-text tables, one per dataset; the best mean per metric is bold (ANSI) or starred."""
    out: list[str] = []
    notes: list[str] = []
    for dataset in sorted({r["dataset"] for r in rows}):
        subset = [r for r in rows if r["dataset"] == dataset]
        labels = sorted({r["label"] for r in subset})
        metric_names = sorted({r["metric"] for r in subset})
        cell = {(r["label"], r["metric"]): r for r in subset}
        best: dict[str, float] = {}
        for m in metric_names:
            means = [cell[(l, m)]["mean"] for l in labels if (l, m) in cell and cell[(l, m)]["mean"] is not None]
            hib = next(r["higher_is_better"] for r in subset if r["metric"] == m)
            if means:
                best[m] = max(means) if hib else min(means)
        header = ["method", "n"] + [f"{m} {'↑' if next(r['higher_is_better'] for r in subset if r['metric'] == m) else '↓'}" for m in metric_names]
        table = [header]
        for label in labels:
            counts = [cell[(label, m)] for m in metric_names if (label, m) in cell]
            n_ok = max((c["n_ok"] for c in counts), default=0)
            n_all = max((c["n"] for c in counts), default=0)
            line = [label, f"{n_ok}/{n_all}" if n_ok != n_all else str(n_all)]
            for m in metric_names:
                c = cell.get((label, m))
                text = _fmt(c["mean"] if c else None)
                missing = [note for note in (c["unavailable"] or []) if note] if c else []
                if c and c["mean"] is not None and m in best and c["mean"] == best[m]:
                    text = f"\033[1m{text}\033[0m" if bold else f"{text}*"
                if missing:  # all or some of the cell's cases lack weights: say which files
                    for note in missing:
                        if note not in notes:
                            notes.append(note)
                    text += "[" + ",".join(str(notes.index(note) + 1) for note in missing) + "]"
                line.append(text)
            table.append(line)
        widths = [max(len(_visible(row[i])) for row in table) for i in range(len(header))]
        out.append(f"\n{dataset}")
        for j, row in enumerate(table):
            out.append("  ".join(_visible_ljust(c, widths[i]) if i == 0 else _visible_rjust(c, widths[i]) for i, c in enumerate(row)))
            if j == 0:
                out.append("  ".join("-" * w for w in widths))
    if not bold:
        out.append("\n* best mean of the column")
    for i, note in enumerate(notes, 1):
        out.append(f"[{i}] unavailable: {note}")
    return "\n".join(out)


def _visible(text: str) -> str:
    return text.replace("\033[1m", "").replace("\033[0m", "")


def _visible_ljust(text: str, width: int) -> str:
    return text + " " * (width - len(_visible(text)))


def _visible_rjust(text: str, width: int) -> str:
    return " " * (width - len(_visible(text))) + text


def handle(args: argparse.Namespace) -> int:
    from restorebench.bench.store import Store

    with Store(args.db, read_only=True) as store:
        rows = store.query(QUERY).to_pylist()
        if args.dataset:
            rows = [r for r in rows if r["dataset"] == args.dataset]
        if not rows:
            print(f"no scores in {args.db}")
            return 0
        print(render(rows, bold=sys.stdout.isatty()))
        if args.failures:
            failures = store.query(
                "SELECT dataset, item, label, status, error FROM current_cases WHERE status <> 'ok' ORDER BY 1, 3, 2"
            ).to_pylist()
            print(f"\n{len(failures)} case(s) did not succeed")
            for f in failures:
                print(f"  {f['dataset']} / {f['label']} / {f['item']}: {f['status']}: {f['error']}")
    return 0
