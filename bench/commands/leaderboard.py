"""``restorebench leaderboard``: method × metric means per dataset, in the terminal.

The numbers come from :func:`restorebench.reports.tables.dataset_leaderboard`, the function every
table of the site uses: per-image means (samples averaged), ranks by each metric's direction, and
``*`` for a method significantly different from the best of its column — the same on both.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from restorebench.bench.commands._common import add_db

LEGEND = ("(k) rank in the column, (=k) a shared rank; * significantly different from the best of the column "
          "(Wilcoxon signed-rank where the images pair, Mann–Whitney U where they do not; Holm-adjusted p < {alpha}); "
          "n = images scored / images of the dataset")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leaderboard", help="print method × metric means per dataset, with ranks and significance")
    add_db(p)
    p.add_argument("--dataset", default=None, help="only this dataset")
    p.add_argument("--json", action="store_true", help="one JSON object per (dataset, metric, method) instead of tables")
    p.add_argument("--failures", action="store_true", help="list the cases that did not succeed")
    p.set_defaults(handler=handle)


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.1f}"


def _rank(row: dict[str, Any]) -> str:
    if row["rank"] is None or math.isnan(row["rank"]):
        return ""
    return f" ({'=' if row['tied'] else ''}{int(row['rank'])})"


def render(rows: list[dict[str, Any]], *, items: dict[tuple[str, str], int], problems: list[dict[str, Any]], bold: bool,
           alpha: float) -> str:
    """Plain-text tables, one per dataset: rows = methods by mean rank, cells = mean (rank) and
    ``*``; the best of each column bold (ANSI) on a terminal; unavailable scores as numbered notes."""
    out: list[str] = []
    notes: list[str] = []
    datasets = sorted({r["dataset"] for r in rows} | {p["dataset"] for p in problems})
    for dataset in datasets:
        subset = [r for r in rows if r["dataset"] == dataset]
        missing = [p for p in problems if p["dataset"] == dataset]
        metrics = sorted({r["metric"] for r in subset} | {p["metric"] for p in missing})
        labels = sorted({r["label"] for r in subset} | {p["label"] for p in missing}, key=str.lower)
        cell = {(r["label"], r["metric"]): r for r in subset}
        directions = {r["metric"]: r.get("higher_is_better") for r in subset}
        mean_rank = {}
        for label in labels:
            ranks = [cell[(label, m)]["rank"] for m in metrics if (label, m) in cell and not math.isnan(cell[(label, m)]["rank"])]
            mean_rank[label] = sum(ranks) / len(ranks) if ranks else math.inf
        labels.sort(key=lambda v: (mean_rank[v], v.lower()))
        header = ["method", "n"] + [f"{m} {({True: '↑', False: '↓'}.get(directions.get(m), ''))}".rstrip() for m in metrics]
        table = [header]
        for label in labels:
            n = max((cell[(label, m)]["n"] for m in metrics if (label, m) in cell), default=0)
            total = items.get((dataset, label), n)
            line = [label, f"{n}/{total}" if n != total else str(n)]
            for m in metrics:
                c = cell.get((label, m))
                text = "—" if c is None else _fmt(c["mean"]) + _rank(c) + ("*" if c["significant"] is True else "")
                if c is not None and c["rank"] == 1 and bold:
                    text = f"\033[1m{text}\033[0m"
                reasons = sorted({p["error"] for p in missing if p["label"] == label and p["metric"] == m and p["error"]})
                for note in reasons:
                    if note not in notes:
                        notes.append(note)
                if reasons:
                    text += "[" + ",".join(str(notes.index(note) + 1) for note in reasons) + "]"
                line.append(text)
            table.append(line)
        widths = [max(len(_visible(row[i])) for row in table) for i in range(len(header))]
        out.append(f"\n{dataset}")
        for j, row in enumerate(table):
            out.append("  ".join(_visible_ljust(c, widths[i]) if i == 0 else _visible_rjust(c, widths[i]) for i, c in enumerate(row)))
            if j == 0:
                out.append("  ".join("-" * w for w in widths))
    out.append("\n" + LEGEND.format(alpha=alpha))
    for i, note in enumerate(notes, 1):
        out.append(f"[{i}] unavailable: {note}")
    return "\n".join(out)


def _visible(text: str) -> str:
    return text.replace("\033[1m", "").replace("\033[0m", "")


def _visible_ljust(text: str, width: int) -> str:
    return text + " " * (width - len(_visible(text)))


def _visible_rjust(text: str, width: int) -> str:
    return " " * (width - len(_visible(text))) + text


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def handle(args: argparse.Namespace) -> int:
    from restorebench.bench.store import Store
    from restorebench.reports import queries
    from restorebench.reports.tables import TableOptions, dataset_leaderboard, directions

    options = TableOptions(n_resamples=0)  # the terminal shows no intervals
    with Store(args.db, read_only=True) as store:
        queries.prepare(store)
        board = dataset_leaderboard(store, options=options, dataset=args.dataset)
        dirs = directions(store)
        problems = [p for p in store.query(queries.PROBLEMS).to_pylist()
                    if p["status"] in ("unavailable", "case_unavailable") and (args.dataset is None or p["dataset"] == args.dataset)]
        items = {(r["dataset"], r["label"]): r["n_items"] for r in store.query(queries.DATASET_ITEMS).to_pylist()}
        failures = store.query(queries.FAILURES).to_pylist() if args.failures else []
    rows = [{**r, "label": str(r["label"]), "higher_is_better": dirs.get(r["metric"])} for r in board.to_dict("records")]
    if args.json:
        keys = ("task", "dataset", "metric", "label", "n", "mean", "rank", "tied", "significant", "test", "n_pairs", "p_adjusted")
        print(json.dumps([{k: _json_value(r[k]) for k in keys} for r in rows], indent=1, default=str))
    elif not rows and not problems:
        print(f"no scores in {args.db}")
    else:
        print(render(rows, items=items, problems=problems, bold=sys.stdout.isatty(), alpha=options.alpha))
    if args.failures:
        print(f"\n{len(failures)} case(s) did not succeed")
        for f in failures:
            print(f"  {f['dataset']} / {f['label']} / {f['item']}: {f['status']}: {f['error']}")
    return 0
