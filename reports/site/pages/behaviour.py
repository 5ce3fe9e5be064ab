"""The behaviour of the two best methods (the blind-SR study's analysis): overlaps of their k
lowest and k highest images per set, statistics across sets — and, said on the page, every
metric that was left out and why, and every set refused because k ≥ its images."""
from __future__ import annotations

from restorebench.reports import markdown as md
from restorebench.reports.site.context import TASK_TITLES, Page, SiteContext, set_name

PAGE = "analyses/behaviour.md"


def build(ctx: SiteContext) -> None:
    data = ctx.data
    k = ctx.options.k
    sections, dropped = [], []
    analysed = {(b["task"], b["metric"]) for b in ctx.analyses.behaviour}
    for task, metrics in sorted(ctx.analyses.metrics_by_task.items()):
        for metric in metrics:
            if (task, metric) in analysed:
                continue
            if data.measures.get(metric):
                dropped.append(f"{TASK_TITLES.get(task, task)}: {metric} — measures {data.measures[metric]}, not image quality")
            elif data.directions.get(metric) is None:
                dropped.append(f"{TASK_TITLES.get(task, task)}: {metric} — its direction (higher or lower is better) is unknown")
    for b in ctx.analyses.behaviour:
        title = TASK_TITLES.get(b["task"], b["task"])
        if b["dropped"]:
            dropped.append(f"{title}: {b['metric']} — {b['dropped']}")
            continue
        overlaps = b["overlaps"]
        rows = [[set_name(r["dataset"], r["group_name"]), str(r["n_common"]), str(r["k"]),
                 "—" if r["refused"] else str(int(r["low_overlap"])), "—" if r["refused"] else str(int(r["high_overlap"])),
                 r["refused"] or ""] for r in overlaps.to_dict("records")]
        s = b["statistics"]
        stat_rows = [
            ["Shapiro–Wilk W, lowest-k overlap", md.number(s["shapiro_low_w"]), md.p_value(s["shapiro_low_p"])],
            ["Shapiro–Wilk W, highest-k overlap", md.number(s["shapiro_high_w"]), md.p_value(s["shapiro_high_p"])],
            ["Kendall τ (lowest vs highest)", md.number(s["kendall_tau"]), md.p_value(s["kendall_p"])],
            ["Pearson r (lowest vs highest)", md.number(s["pearson_r"]), md.p_value(s["pearson_p"])],
            ["Spearman ρ (lowest vs highest)", md.number(s["spearman_rho"]), md.p_value(s["spearman_p"])],
        ]
        va, vb = b["variants"]
        sections.append({
            "task": title, "metric": b["metric"], "k": k, "n_sets": s["n_sets"], "a": va, "b": vb,
            "n_refused": int(overlaps["refused"].notna().sum()),
            "table": md.table(["set", "images in common", "k", f"lowest-{k} overlap", f"highest-{k} overlap", "refused"],
                              rows, align=list("lrrrrl")),
            "statistics": md.table(["test across sets", "statistic", "p"], stat_rows, align=list("lrr")),
        })
    if sections or dropped:
        ctx.render(Page(PAGE, "Behaviour of the top two", "Analyses"), "behaviour.md.j2", sections=sections, dropped=dropped, k=k)
