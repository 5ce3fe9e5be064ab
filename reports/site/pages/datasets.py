"""A page per dataset (one table per set or blur kind, with the same stars as the leaderboard)
and the datasets index; a page per domain (mean ± std per set, as the blind-SR study showed
them, each method's best and worst set, and a chart per metric)."""
from __future__ import annotations

from typing import Any

from restorebench.reports import analysis as an
from restorebench.reports import markdown as md
from restorebench.reports.site.cells import arrow, domain_cell, leaderboard_table, unavailable_note
from restorebench.reports.site.context import TASK_TITLES, Page, SiteContext, flat_items, relative
from restorebench.reports.site.pages.leaderboards import metric_charts, pairing_warnings, task_metrics


def build(ctx: SiteContext) -> None:
    build_datasets(ctx)
    build_domains(ctx)


def build_datasets(ctx: SiteContext) -> None:
    data, a = ctx.data, ctx.analyses
    described = {r["name"]: r for r in data.datasets.to_dict("records")}
    index_rows = []
    for dataset in data.all_datasets:
        page = Page(ctx.links.dataset(dataset), f"Dataset {dataset}", "Datasets", nav_title=dataset, hide_toc=True)
        info = described.get(dataset, {})
        sizes = data.set_sizes[data.set_sizes["dataset"] == dataset]
        tasks = sorted(set(sizes["task"]))
        groups = []
        for r in sizes.to_dict("records"):
            board = a.board("set", task=r["task"], dataset=dataset, group_name=r["group_name"])
            problems = data.problems[(data.problems["task"] == r["task"]) & (data.problems["dataset"] == dataset)
                                     & (data.problems["group_name"] == r["group_name"])]
            metrics = [m for m in task_metrics(ctx, r["task"]) if m in set(board["metric"] if len(board) else []) | set(problems["metric"])]
            status = data.case_status[(data.case_status["dataset"] == dataset) & (data.case_status["group_name"] == r["group_name"])]
            labels = sorted(set(status["label"]) | set(board["label"].astype(str) if len(board) else []), key=str.lower)
            table, notes = leaderboard_table(ctx, page=page.path, board=board, problems=problems, metrics=metrics, labels=labels)
            groups.append({"name": r["group_name"], "table": table, "notes": notes, "domain": r["domain"],
                           "n_images": int(r["n_items"]), "hidden": unavailable_note(board, problems, metrics)})
        warnings = [w for task in tasks for w in pairing_warnings(ctx, task=task, dataset=dataset)]
        gallery = ctx.links.gallery(dataset)
        ctx.render(page, "dataset.md.j2", dataset=dataset, info=flat_items({k: v for k, v in info.items() if k != "name"}),
                   groups=groups, tasks=[(TASK_TITLES.get(t, t), ctx.links.leaderboard(t)) for t in tasks], warnings=warnings,
                   gallery=gallery if ctx.has_page(gallery) else None, alpha=ctx.options.alpha)
        index_rows.append([md.link(dataset, relative("datasets/index.md", page.path)), info.get("kind"),
                           ", ".join(TASK_TITLES.get(t, t) for t in tasks), str(len(sizes)), str(int(sizes["n_items"].sum())),
                           str(int(data.case_status.loc[data.case_status["dataset"] == dataset, "label"].nunique()))])
    ctx.render(Page("datasets/index.md", "Datasets", "Datasets", nav_title="All datasets"), "datasets_index.md.j2",
               table=md.table(["dataset", "kind", "task", "sets", "images", "methods"], index_rows, align=list("lllrrr")))


def build_domains(ctx: SiteContext) -> None:
    data, a = ctx.data, ctx.analyses
    sets = a.board("set")
    sets = sets[sets["domain"].notna()] if len(sets) else sets
    if sets.empty:
        return
    extremes = an.domain_extremes(sets, directions=data.directions)
    index_rows = []
    for domain in sorted(set(sets["domain"])):
        page = Page(ctx.links.domain(domain), f"Domain {domain}", "Domains", nav_title=domain, hide_toc=True)
        sub = sets[sets["domain"] == domain]
        sections, charts = [], []
        for task in sorted(set(sub["task"])):
            for metric in task_metrics(ctx, task):
                m = sub[(sub["task"] == task) & (sub["metric"] == metric)]
                if len(m):
                    ext = extremes[(extremes["domain"] == domain) & (extremes["metric"] == metric) & (extremes["task"] == task)]
                    sections.append(_domain_section(ctx, page.path, m, ext, metric))
            charts += metric_charts(ctx, task=task, level="domain", domain=domain)
        ctx.render(page, "domain.md.j2", domain=domain, sections=sections, charts=charts)
        index_rows.append([md.link(domain, relative("domains/index.md", page.path)),
                           str(len({(r["dataset"], r["group_name"]) for r in sub.to_dict("records")})),
                           ", ".join(TASK_TITLES.get(t, t) for t in sorted(set(sub["task"])))])
    ctx.render(Page("domains/index.md", "Domains", "Domains", nav_title="All domains"), "domains_index.md.j2",
               table=md.table(["domain", "sets", "task"], index_rows, align=["l", "r", "l"]))


def _domain_section(ctx: SiteContext, page: str, m: Any, extremes: Any, metric: str) -> dict[str, Any]:
    labels = sorted(set(m["label"].astype(str)), key=str.lower)
    cell = {(r["dataset"], r["group_name"], str(r["label"])): r for r in m.to_dict("records")}
    rows = []
    for dataset, group in sorted({(r["dataset"], r["group_name"]) for r in m.to_dict("records")}):
        best = {label for label in labels if (dataset, group, label) in cell and cell[(dataset, group, label)]["rank"] == 1}
        name = group if group == dataset else f"{dataset} / {group}"
        row: list[Any] = [md.link(name, relative(page, ctx.links.dataset(dataset)))]
        row += [domain_cell(cell.get((dataset, group, label)), best=label in best) for label in labels]
        rows.append(row)
    ext_rows = [[ctx.method_cell(page, str(r["label"])), r["best_set"], md.number(r["best_mean"]), r["worst_set"], md.number(r["worst_mean"])]
                for r in extremes.to_dict("records")]
    return {"metric": metric, "direction": arrow(ctx.data.directions.get(metric)),
            "table": md.table(["set"] + [ctx.method_cell(page, label) for label in labels], rows, align=["l"] + ["r"] * len(labels)),
            "extremes": md.table(["method", "best set", "mean", "worst set", "mean"], ext_rows, align=list("llrlr"))}
