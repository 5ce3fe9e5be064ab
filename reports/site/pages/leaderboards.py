"""Leaderboards, one page per task: the overall table (micro and macro means, wins and losses
over sets, ordered by the task's primary metric), per-domain summary rows, a chart per metric,
the comparisons with the best, then one table per dataset."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd
from markupsafe import Markup

from restorebench.reports import markdown as md
from restorebench.reports.site import charts
from restorebench.reports.site.cells import (Notes, arrow, cell_notes, comparisons_table, header, leaderboard_table,
                                             rank_text, stat_cell, unavailable_note)
from restorebench.reports.site.context import TASK_TITLES, Page, SiteContext, relative, short_hash

EXAMPLE_ITEMS = 3


def build(ctx: SiteContext) -> None:
    for task in ctx.data.tasks:
        title = TASK_TITLES.get(task, task)
        page = Page(ctx.links.leaderboard(task), f"Leaderboard: {title}", "Leaderboards", nav_title=title, hide_toc=True)
        primary = ctx.analyses.primary.get(task)
        overall, notes = overall_table(ctx, page=page.path, task=task)
        sections = [dataset_section(ctx, page=page.path, task=task, dataset=d) for d in datasets_of(ctx, task)]
        ctx.render(page, "leaderboard.md.j2", task=task, task_title=title, primary=primary, overall=overall,
                   overall_notes=notes, hidden=overall_hidden(ctx, task), domains=domain_summary(ctx, page=page.path, task=task),
                   charts=metric_charts(ctx, task=task, level="task"),
                   comparisons=comparisons_table(ctx, page=page.path, board=ctx.analyses.board("task", task=task),
                                                 confidence=confidence(ctx)),
                   sections=sections, alpha=ctx.options.alpha, confidence=confidence(ctx))


def confidence(ctx: SiteContext) -> int:
    return int(round(ctx.options.confidence * 100))


def datasets_of(ctx: SiteContext, task: str) -> list[str]:
    return sorted(set(ctx.data.case_status.loc[ctx.data.case_status["task"] == task, "dataset"]))


def task_metrics(ctx: SiteContext, task: str) -> list[str]:
    """The task's metrics: the primary one first, then the others by name (with the metrics
    that have no score at all, which the tables hide at first)."""
    scored = ctx.analyses.metrics_by_task.get(task, [])
    missing = set(ctx.data.problems.loc[ctx.data.problems["task"] == task, "metric"]) - set(scored)
    primary = ctx.analyses.primary.get(task)
    return ([primary] if primary else []) + sorted((set(scored) | missing) - {primary})


def overall_table(ctx: SiteContext, *, page: str, task: str, compact: bool = False) -> tuple[Markup, Markup]:
    """One row per method over every image of the task: rank by the primary metric (ties as
    ``=k``), the mean over images (micro) and over sets (macro) with intervals, head-to-head
    wins and losses over sets, the number of images; then the other metrics (micro means)."""
    a = ctx.analyses
    primary = a.primary.get(task)
    board = a.board("task", task=task)
    if primary is None or board.empty:
        return Markup(""), Markup("")
    metrics = task_metrics(ctx, task)
    others = [] if compact else metrics[1:]
    cells = {(str(r["label"]), r["metric"]): r for r in board.to_dict("records")}
    macro = {str(r["label"]): r for r in a.board("macro", task=task, metric=primary).to_dict("records")}
    wins = {str(r["label"]): r for r in a.wins[(a.wins["task"] == task) & (a.wins["metric"] == primary)].to_dict("records")} if len(a.wins) else {}
    labels = sorted({label for label, _ in cells} | set(ctx.data.problems.loc[ctx.data.problems["task"] == task, "label"]), key=str.lower)
    labels.sort(key=lambda v: (_rank(cells.get((v, primary))), v.lower()))
    problems = ctx.data.problems[ctx.data.problems["task"] == task]
    by_cell = {key: frame for key, frame in problems.groupby(["label", "metric"])} if len(problems) else {}
    notes = Notes()
    rows = []
    direction = ctx.data.directions.get(primary)
    for label in labels:
        main = cells.get((label, primary))
        w = wins.get(label)
        record = [ctx.method_cell(page, label), rank_text(main["rank"], main["tied"]) if main else "—",
                  str(int(main["n"])) if main else "0",
                  stat_cell(main, note=cell_notes(notes, by_cell.get((label, primary), problems.iloc[0:0]), label=label, metric=primary)),
                  stat_cell(macro.get(label), n_expected=macro.get(label, {}).get("n")),
                  "—" if not w else f"{w['wins']}–{w['losses']}" + (f" ({w['ties']} tied)" if w["ties"] else "")]
        for metric in others:
            record.append(stat_cell(cells.get((label, metric)),
                                    note=cell_notes(notes, by_cell.get((label, metric), problems.iloc[0:0]), label=label, metric=metric),
                                    n_expected=main["n"] if main else None))
        rows.append(record)
    headers = ["method", "rank", "images", header(f"{primary} (mean over images)", direction),
               header(f"{primary} (mean over sets)", direction), "sets won–lost"]
    headers += [header(m, ctx.data.directions.get(m)) for m in others]
    return md.table(headers, rows, align=["l", "r", "r", "r", "r", "r"] + ["r"] * len(others)), notes.markdown()


def _rank(row: Any) -> float:
    return math.inf if row is None or pd.isna(row["rank"]) else float(row["rank"])


def overall_hidden(ctx: SiteContext, task: str) -> list[str]:
    problems = ctx.data.problems[ctx.data.problems["task"] == task]
    return unavailable_note(ctx.analyses.board("task", task=task), problems, task_metrics(ctx, task))


def domain_summary(ctx: SiteContext, *, page: str, task: str) -> Markup:
    """The primary metric per domain: one row per domain, one column per method."""
    primary = ctx.analyses.primary.get(task)
    board = ctx.analyses.board("domain", task=task, metric=primary)
    board = board[board["domain"].notna()] if len(board) else board
    if board.empty or board["domain"].nunique() < 2:
        return Markup("")
    labels = sorted(set(board["label"].astype(str)), key=str.lower)
    cells = {(r["domain"], str(r["label"])): r for r in board.to_dict("records")}
    rows = []
    for domain in sorted(set(board["domain"])):
        row: list[Any] = [md.link(domain, relative(page, ctx.links.domain(domain)))]
        row += [stat_cell(cells.get((domain, label))) for label in labels]
        rows.append(row)
    return md.table(["domain"] + [ctx.method_cell(page, label) for label in labels], rows, align=["l"] + ["r"] * len(labels))


def metric_charts(ctx: SiteContext, *, task: str, level: str, domain: str | None = None) -> list[dict[str, str]]:
    """A mean ± interval chart per metric (at the task or domain level), as assets."""
    where = {"task": task} if domain is None else {"task": task, "domain": domain}
    board = ctx.analyses.board(level, **where)
    out = []
    for metric in task_metrics(ctx, task):
        rows = board[board["metric"] == metric].sort_values(["rank", "label"], na_position="last") if len(board) else board
        if rows.empty:
            continue
        data = [(str(r["label"]), r["mean"], r["ci_low"], r["ci_high"], r["rank"] == 1, r["significant"] is True)
                for r in rows.to_dict("records")]
        where_text = TASK_TITLES.get(task, task) + (f", domain {domain}" if domain else "")
        title = f"{metric}{arrow(ctx.data.directions.get(metric))} — {where_text}"
        name = f"plots/means-{short_hash(level, task, domain, metric)}.svg"
        ctx.write_asset(name, charts.intervals_svg(data, title=title, x_label=f"{metric}: mean and {confidence(ctx)} % interval"))
        best = data[0]
        alt = (f"{metric} ({where_text}): mean and {confidence(ctx)} % interval of {len(data)} methods; best {best[0]} "
               f"({md.number(best[1])}); * significantly different from the best")
        out.append({"metric": metric, "path": name, "alt": alt})
    return out


def dataset_section(ctx: SiteContext, *, page: str, task: str, dataset: str) -> dict[str, Any]:
    data, a = ctx.data, ctx.analyses
    board = a.board("dataset", task=task, dataset=dataset)
    problems = data.problems[(data.problems["task"] == task) & (data.problems["dataset"] == dataset)]
    metrics = [m for m in task_metrics(ctx, task) if m in set(board["metric"] if len(board) else []) | set(problems["metric"])]
    status = data.case_status[(data.case_status["task"] == task) & (data.case_status["dataset"] == dataset)]
    labels = sorted(set(board["label"].astype(str) if len(board) else []) | set(problems["label"]) | set(status["label"]), key=str.lower)
    table, notes = leaderboard_table(ctx, page=page, board=board, problems=problems, metrics=metrics, labels=labels)
    return {
        "dataset": dataset, "link": ctx.links.dataset(dataset), "table": table, "notes": notes,
        "hidden": unavailable_note(board, problems, metrics),
        "failed": failed_cases(status), "warnings": pairing_warnings(ctx, task=task, dataset=dataset),
        "comparisons": comparisons_table(ctx, page=page, board=board, confidence=confidence(ctx)),
        "gallery": ctx.links.gallery(dataset) if ctx.has_page(ctx.links.gallery(dataset)) else None,
        "examples": example_items(ctx, page=page, dataset=dataset),
    }


def failed_cases(status: pd.DataFrame) -> list[str]:
    """Cases that did not run, by method, status and message — unavailable (weights missing) is
    not failed, and says so."""
    bad = status[status["status"] != "ok"]
    lines = []
    for (label, state, error), frame in bad.groupby(["label", "status", "error"], sort=True):
        lines.append(f"{label}: {state} ×{int(frame['n'].sum())}" + (f" — {error}" if error else ""))
    return lines


def pairing_warnings(ctx: SiteContext, *, task: str, dataset: str) -> list[str]:
    """Methods (or metrics) of a dataset whose image names never match: their comparisons are
    unpaired, and an output scored by two differently named metrics counts twice."""
    out = []
    methods = ctx.analyses.unpaired_methods
    if len(methods):
        rows = methods[(methods["task"] == task) & (methods["dataset"] == dataset)]
        for (a, b), frame in rows.groupby(["a", "b"], sort=True):
            out.append(f"{a} and {b} share no image name ({', '.join(sorted(frame['metric']))}): their outputs do not pair, "
                       f"so they are compared with an unpaired test")
    metrics = ctx.analyses.unpaired_metrics
    if len(metrics):
        rows = metrics[(metrics["task"] == task) & (metrics["dataset"] == dataset)]
        for r in rows.to_dict("records"):
            out.append(f"{r['label']}: metrics {r['a']} ({r['n_a']} images) and {r['b']} ({r['n_b']} images) share no image "
                       f"name, so each output may be counted twice; re-import with --match-stem or --map to pair them")
    return out


def example_items(ctx: SiteContext, *, page: str, dataset: str) -> Markup:
    """Links to the drill-down pages of the dataset's first images."""
    items = ctx.drilldown.get(dataset, [])[:EXAMPLE_ITEMS]
    return Markup(", ").join(md.link(i if g == dataset else f"{g} / {i}", relative(page, path)) for g, i, path in items)
