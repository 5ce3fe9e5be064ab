"""The home page: the hand-written introduction, each task's overall leaderboard (its primary
metric), what was run and on what machine, links to the pages that exist, the latest runs.
Built last, so that it links only to pages that were built."""
from __future__ import annotations

from restorebench.reports import markdown as md
from restorebench.reports.site.context import TASK_TITLES, Page, SiteContext, flat_items, jsonable, when
from restorebench.reports.site.pages.leaderboards import overall_table
from restorebench.reports.site.pages.provenance import status_counts

ANALYSES = (("analyses/correlation.md", "correlations"), ("analyses/behaviour.md", "behaviour of the top two methods"),
            ("analyses/sharpness.md", "sharpness of the best and worst images"), ("analyses/sweeps.md", "parameter sweeps"))


def build(ctx: SiteContext) -> None:
    data = ctx.data
    page = Page("index.md", "Home", None)
    runs = data.runs
    # "What was run": the latest benchmark run, on the machine that computed it; imports were
    # computed elsewhere and claim no machine.
    benchmark = runs[runs["kind"] != "import"] if len(runs) else runs
    latest = benchmark.iloc[-1].to_dict() if len(benchmark) else None
    boards = []
    for task in data.tasks:
        table, notes = overall_table(ctx, page=page.path, task=task, compact=True)
        if table:
            boards.append({"title": TASK_TITLES.get(task, task), "link": ctx.links.leaderboard(task), "table": table,
                           "notes": notes, "primary": ctx.analyses.primary.get(task)})
    run_rows = [[md.escape(r["run_id"]), r["kind"], r["spec_name"], when(r["started_at"]), r["status"],
                 ", ".join(f"{s} {n}" for s, n in status_counts(ctx, r["run_id"])) or "—"]
                for r in runs.tail(10).iloc[::-1].to_dict("records")]
    ctx.render(
        page, "index.md.j2", intro=md.Markup(ctx.intro), boards=boards, alpha=ctx.options.alpha,
        n_runs=int((runs["kind"] != "import").sum()) if len(runs) else 0, n_imports=len(data.imports),
        n_cases=data.n_cases, n_scores=data.n_scores,
        n_problems=int(data.problems["n"].sum()) if len(data.problems) else 0,
        latest=latest, machine=flat_items(jsonable(latest.get("machine"))) if latest else [],
        datasets=[(d, ctx.links.dataset(d)) for d in data.all_datasets],
        methods=data.all_labels, metrics=sorted(data.directions),
        analyses=[(title, path) for path, title in ANALYSES if ctx.has_page(path)],
        runs_table=md.table(["run", "kind", "spec", "started", "status", "cases"], run_rows),
    )
