"""Cells and tables shared by the pages: a mean with its interval and star, numbered notes,
leaderboard tables (one row per method, one column per metric) and the comparisons table.

The star means one thing on every page: ``*`` = significantly different from the best method of
the column (:func:`restorebench.reports.tables.star`).
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from markupsafe import Markup

from restorebench.reports import markdown as md
from restorebench.reports.site.context import SiteContext
from restorebench.reports.tables import star, verdict

def arrow(direction: bool | None) -> str:
    return {True: " ↑", False: " ↓"}.get(direction, "")


def header(metric: str, direction: bool | None) -> Markup:
    """A metric's column header; ``data-rb-dir`` tells the table script which way sorts first."""
    key = {True: "desc", False: "asc"}.get(direction, "")
    return Markup(f'<span data-rb-dir="{key}">') + md.escape(metric + arrow(direction)) + Markup("</span>")


def rank_text(rank: Any, tied: bool) -> str:
    """``1``, or ``=2`` for a rank shared with another method."""
    if rank is None or (isinstance(rank, float) and math.isnan(rank)):
        return "—"
    return ("=" if tied else "") + str(int(rank))


def stat_cell(row: Mapping[str, Any] | None, *, note: Sequence[int] = (), n_expected: int | None = None,
              digits: int = 3, interval: bool = True) -> Markup:
    """The mean (bold when best, ``*`` when significantly different from the best), a note
    number, and below it in small type the interval ``[low, high]``, ``(n=…)`` when the count
    differs from the row's, and ``+k×∞`` for infinite values left out of the mean. The mean comes
    first so that the table script sorts by it."""
    if row is None or row["n"] == 0:
        text, details = Markup("—"), Markup("")
    else:
        mean = md.number(row["mean"], digits=digits)
        best = row.get("rank") == 1
        text = (md.bold(mean) if best else md.escape(mean)) + md.escape(star(row))
        if best and row.get("tied"):
            text += Markup(" <small>(tie)</small>")
        parts = []
        if interval and not math.isnan(row["ci_low"]):
            parts.append(f"[{md.number(row['ci_low'], digits=digits)}, {md.number(row['ci_high'], digits=digits)}]")
        if n_expected is not None and row["n"] != n_expected:
            parts.append(f"(n={row['n']})")
        if row["n_inf"] and math.isfinite(row["mean"]):
            parts.append(f"+{row['n_inf']}×∞")
        details = Markup(f"<br><small>{md.escape(' '.join(parts))}</small>") if parts else Markup("")
    if note:
        text += Markup(f"<sup>[{','.join(str(n) for n in note)}]</sup>")
    return text + details


class Notes:
    """Numbered notes under a table (missing or failed scores, with their messages). Every
    note is data (method names, error messages): it is escaped when written."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, text: str) -> int:
        if text not in self.items:
            self.items.append(text)
        return self.items.index(text) + 1

    def markdown(self) -> Markup:
        return Markup("\n".join(f"{i}. {md.escape(t)}" for i, t in enumerate(self.items, start=1)))


def problem_text(problems: pd.DataFrame, *, counts: bool = True) -> str:
    """One line per (status, message): ``unavailable ×20: weights file nima.pth missing …``."""
    parts = []
    for (status, error), frame in problems.groupby(["status", "error"], sort=True):
        parts.append(status + (f" ×{int(frame['n'].sum())}" if counts else "") + (f": {error}" if error else ""))
    return "; ".join(parts)


def cell_notes(notes: Notes, problems: pd.DataFrame, *, label: str, metric: str) -> list[int]:
    """Note numbers for one cell's missing scores. A case that did not run (``case_*``: method
    failed or its weights are missing) is one note per method, a metric that could not score is
    one note per metric — not one per cell, which would repeat each message many times."""
    if problems.empty:
        return []
    case_level = problems["status"].astype(str).str.startswith("case_")
    numbers = []
    if case_level.any():
        numbers.append(notes.add(f"{label}: {problem_text(problems[case_level])}"))
    if (~case_level).any():
        numbers.append(notes.add(f"{metric}: {problem_text(problems[~case_level], counts=False)}"))
    return numbers


def mean_ranks(cells: Mapping[tuple[str, str], Mapping[str, Any]], labels: Sequence[str], metrics: Sequence[str]) -> dict[str, float]:
    out = {}
    for label in labels:
        ranks = [cells[(label, m)]["rank"] for m in metrics if (label, m) in cells and not pd.isna(cells[(label, m)]["rank"])]
        out[label] = float(np.mean(ranks)) if ranks else math.nan
    return out


def leaderboard_table(
    ctx: SiteContext,
    *,
    page: str,
    board: pd.DataFrame,
    problems: pd.DataFrame,
    metrics: Sequence[str],
    labels: Sequence[str],
    interval: bool = True,
) -> tuple[Markup, Markup]:
    """A leaderboard table (rows = methods ordered by mean rank, ties shown as ``=k``; columns =
    metrics) and its notes. ``board`` is a :func:`restorebench.reports.tables.board` of one
    group (one dataset, set or task)."""
    directions = ctx.data.directions
    cells = {(str(r["label"]), r["metric"]): r for r in board.to_dict("records")}
    mean_rank = mean_ranks(cells, labels, metrics)
    ordered = sorted(labels, key=lambda v: (math.isnan(mean_rank[v]), mean_rank[v], v.lower()))
    shared = pd.Series([mean_rank[v] for v in ordered]).round(9).value_counts()
    notes = Notes()
    rows = []
    by_cell = {key: frame for key, frame in problems.groupby(["label", "metric"])} if len(problems) else {}
    for label in ordered:
        counts = [cells[(label, m)]["n"] for m in metrics if (label, m) in cells]
        n_row = max(counts) if counts else 0
        tied = not math.isnan(mean_rank[label]) and shared.get(round(mean_rank[label], 9), 0) > 1
        row: list[Any] = [ctx.method_cell(page, label), str(n_row),
                          ("=" if tied else "") + md.number(mean_rank[label], digits=2)]
        for metric in metrics:
            stats = cells.get((label, metric))
            missing = by_cell.get((label, metric), problems.iloc[0:0])
            row.append(stat_cell(stats, note=cell_notes(notes, missing, label=label, metric=metric),
                                 n_expected=n_row, interval=interval))
        rows.append(row)
    headers = ["method", "n", "mean rank"] + [header(m, directions.get(m)) for m in metrics]
    table = md.table(headers, rows, align=["l", "r", "r"] + ["r"] * len(metrics))
    return table, notes.markdown()


def comparisons_table(ctx: SiteContext, *, page: str, board: pd.DataFrame, confidence: int) -> Markup:
    """Each method against the best of each column: the test used (paired where the images
    pair, unpaired where they do not), the pairs, Δ = method − best with its interval, the
    Holm-adjusted p and the verdict — "not tested" where no test applies, never "no"."""
    rows = []
    compared = board[board["test"].notna() & (board["test"] != "best")]
    best = {r["metric"]: str(r["label"]) for r in board[board["test"] == "best"].to_dict("records")}
    for r in compared.sort_values(["metric", "p_adjusted"], na_position="last").to_dict("records"):
        delta = md.number(r["mean_delta"])
        if not math.isnan(r["delta_low"]):
            delta += f" [{md.number(r['delta_low'])}, {md.number(r['delta_high'])}]"
        rows.append([r["metric"], ctx.method_cell(page, str(r["label"])), best.get(r["metric"], "—"), r["test"],
                     str(int(r["n_pairs"])) if not pd.isna(r["n_pairs"]) else "—", delta, md.p_value(r["p_adjusted"]),
                     verdict(r["significant"])])
    return md.table(["metric", "method", "best", "test", "pairs", f"Δ = method − best [{confidence} % CI]", "p (Holm)",
                     "significant"], rows, align=list("llllrlrl"))


def domain_cell(row: Mapping[str, Any] | None, *, best: bool) -> Markup:
    """Mean ± standard deviation (the statistics the blind-SR study reported per set)."""
    if row is None or row["n"] == 0:
        return Markup("—")
    mean = md.number(row["mean"])
    text = md.bold(mean) if best else md.escape(mean)
    if not math.isnan(row["std"]):
        text += md.escape(f" ± {md.number(row['std'])}")
    if row["n_inf"] and math.isfinite(row["mean"]):
        text += md.escape(f" +{row['n_inf']}×∞")
    return text


def unavailable_note(board: pd.DataFrame, problems: pd.DataFrame, metrics: Sequence[str]) -> list[str]:
    """Metrics without a single score in this table (every cell "—"): the table script hides
    their columns at first; the note says which and why."""
    scored = set(board["metric"]) if len(board) else set()
    out = []
    for metric in metrics:
        if metric not in scored:
            reasons = problems[problems["metric"] == metric]
            out.append(f"{metric}: " + (problem_text(reasons) if len(reasons) else "no scores"))
    return out
