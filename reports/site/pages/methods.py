"""A page per method label at a permalink made from its label (``methods/dan-v1-setting1.html``,
stable across code versions): what it is, where its scores come from (the machine that computed
them, or the file they were imported from), its scores with ranks and stars, its history over
code versions, timings and problems; and the methods index."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd
from scipy import stats

from restorebench.reports import markdown as md
from restorebench.reports import queries
from restorebench.reports.site import charts
from restorebench.reports.site.cells import arrow, rank_text, stat_cell
from restorebench.reports.site.context import Page, SiteContext, flat_items, jsonable, relative, short_hash, when
from restorebench.reports.site.pages.leaderboards import failed_cases

TIMING_COLUMNS = ("seconds_load", "seconds_prepare", "seconds_restore", "seconds_save", "seconds_total", "peak_rss_mb")


def build(ctx: SiteContext) -> None:
    data = ctx.data
    history = read_history(ctx)
    index_rows = []
    for label in data.all_labels:
        imported = data.is_imported(label)
        suffix = " (imported)" if imported else ""
        page = Page(ctx.links.method(label), f"Method {label}{suffix}", "Methods", nav_title=label + suffix, hide_toc=True)
        info = data.method_row(label)
        status = data.case_status[data.case_status["label"] == label]
        ctx.render(
            page, "method.md.j2", label=label, info=info, imported=imported,
            origins=sorted(set(status["origin"].dropna())), provenance=provenance(ctx, label),
            params=jsonable(info.get("params")), weights=jsonable(info.get("weights")),
            scores=scores_table(ctx, page.path, label), timing=timing_table(ctx, page.path, label),
            history=history_section(ctx, label, history), problems=problems_table(ctx, label), failed=failed_cases(status),
        )
        n_cases = int(status["n"].sum())
        n_ok = int(status.loc[status["status"] == "ok", "n"].sum())
        index_rows.append([ctx.method_cell("methods/index.md", label), info.get("name") or "—", str(n_cases), str(n_ok),
                           info.get("code_version") or ("imported" if imported else "—")])
    ctx.render(Page("methods/index.md", "Methods", "Methods", nav_title="All methods"), "methods_index.md.j2",
               table=md.table(["method", "name", "cases", "ok", "code version"], index_rows, align=list("llrrl")))


def provenance(ctx: SiteContext, label: str) -> dict[str, Any]:
    """Where the method's current scores were computed: the run that computed most of them and
    its machine — or, for imported scores, the files they came from and nothing more."""
    data = ctx.data
    runs = data.label_runs[data.label_runs["label"] == label]
    out: dict[str, Any] = {"run": None, "machine": [], "imports": []}
    run_rows = {r["run_id"]: r for r in data.runs.to_dict("records")}
    imports = {r["run_id"]: r for r in data.imports.to_dict("records")}
    for r in runs.to_dict("records"):
        run = run_rows.get(r["run_id"])
        if run is None:
            continue
        if run["kind"] == "import":
            source = imports.get(r["run_id"], {})
            options = jsonable(run.get("spec_text")) if isinstance(run.get("spec_text"), str) else {}
            out["imports"].append({"file": source.get("path") or run.get("spec_path"), "sha256": source.get("source_sha256"),
                                   "when": when(source.get("imported_at")), "cases": int(r["cases"]),
                                   "source": (options or {}).get("source") if isinstance(options, dict) else None,
                                   "paper": (options or {}).get("paper") if isinstance(options, dict) else None})
        elif out["run"] is None:
            out["run"] = {"run_id": run["run_id"], "spec": run["spec_name"], "started": when(run["started_at"]),
                          "git": run.get("git_sha") or "—", "cases": int(r["cases"])}
            out["machine"] = flat_items(jsonable(run.get("machine")))
    return out


def scores_table(ctx: SiteContext, page: str, label: str) -> Any:
    board = ctx.analyses.board("dataset")
    board = board[board["label"].astype(str) == label] if len(board) else board
    rows = [[md.link(r["dataset"], relative(page, ctx.links.dataset(r["dataset"]))), f"{r['metric']}{arrow(ctx.data.directions.get(r['metric']))}",
             str(r["n"]), stat_cell(r), md.number(r["std"]), md.number(r["median"]), rank_text(r["rank"], r["tied"])]
            for r in board.to_dict("records")]
    return md.table(["dataset", "metric", "n", "mean [CI]", "std", "median", "rank"], rows, align=list("llrrrrr"))


def timing_table(ctx: SiteContext, page: str, label: str) -> Any:
    timings = ctx.data.timings[ctx.data.timings["label"] == label]
    rows = [[md.link(r["dataset"], relative(page, ctx.links.dataset(r["dataset"]))), r["task"], str(r["cases"]), str(r["ok"])]
            + [md.number(r[c]) for c in TIMING_COLUMNS] for r in timings.to_dict("records")]
    return md.table(["dataset", "task", "cases", "ok", "load s", "prepare s", "restore s", "save s", "total s", "peak RSS MB"],
                    rows, align=["l", "l"] + ["r"] * 8)


def problems_table(ctx: SiteContext, label: str) -> Any:
    problems = ctx.data.problems[ctx.data.problems["label"] == label]
    rows = [[r["dataset"], r["metric"], r["status"], str(r["n"]), r["error"] or "—"] for r in problems.to_dict("records")]
    return md.table(["dataset", "metric", "status", "count", "message"], rows, align=list("lllrl"))


# -- history over code versions -------------------------------------------------------------------
def read_history(ctx: SiteContext) -> pd.DataFrame:
    """Per method label with more than one code version: its mean per version and metric."""
    several = ctx.data.labels.loc[ctx.data.labels["n_versions"] > 1, "label"].tolist()
    if not several:
        return pd.DataFrame(columns=["label", "variant_id", "task", "metric", "n", "mean", "std", "first_at", "run_id"])
    return ctx.store.query(queries.HISTORY, [several]).to_pandas()


def history_points(frame: pd.DataFrame, *, confidence: float) -> list[dict[str, Any]]:
    """Versions in time order with a normal interval ``mean ± z·σ/√n``; a version whose mean
    lies outside the previous version's interval is flagged (the score moved beyond its
    uncertainty)."""
    z = stats.norm.ppf(0.5 + confidence / 2)
    points: list[dict[str, Any]] = []
    for r in frame.sort_values("first_at").to_dict("records"):
        half = z * r["std"] / math.sqrt(r["n"]) if r["n"] > 1 and not pd.isna(r["std"]) else math.nan
        previous = points[-1] if points else None
        flagged = bool(previous and not math.isnan(previous["half"])
                       and abs(r["mean"] - previous["mean"]) > previous["half"])
        points.append({**r, "half": half, "low": r["mean"] - half, "high": r["mean"] + half, "flagged": flagged})
    return points


def history_section(ctx: SiteContext, label: str, history: pd.DataFrame) -> list[dict[str, Any]]:
    sections = []
    mine = history[history["label"] == label]
    for task, frame in mine.groupby("task", sort=True):
        metric = ctx.analyses.primary.get(task)
        frame = frame[frame["metric"] == metric]
        if len(frame) < 2:
            continue
        points = history_points(frame, confidence=ctx.options.confidence)
        versions = [(p.get("code_version") or p["variant_id"])[:8] for p in points]
        title = f"{label}: {metric} over code versions ({task})"
        path = ctx.write_asset(f"plots/history-{short_hash(label, task)}.svg", charts.history_svg(
            [(v, p["mean"], p["low"], p["high"], p["flagged"]) for v, p in zip(versions, points)], title=title,
            y_label=f"{metric}: mean and {int(ctx.options.confidence * 100)} % interval"))
        rows = [[v, when(p["first_at"]), p["run_id"] or "—", (p.get("git_sha") or "—")[:12], str(p["n"]),
                 md.number(p["mean"]) + (f" ± {md.number(p['half'])}" if not math.isnan(p["half"]) else ""),
                 "moved beyond the previous interval" if p["flagged"] else ""] for v, p in zip(versions, points)]
        sections.append({"task": task, "metric": metric, "plot": path, "n_flagged": sum(p["flagged"] for p in points),
                         "alt": f"{title}: {len(points)} versions, {sum(p['flagged'] for p in points)} flagged",
                         "table": md.table(["version", "first scored", "run", "git", "images", "mean ± half-interval", "flag"],
                                           rows, align=list("lllrrrl"))})
    return sections
