"""Correlations: metric–metric across images and method–method per metric, with heatmaps whose
cells without data are hatched. Left out of the site when there is nothing to correlate."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from markupsafe import Markup

from restorebench.reports import markdown as md
from restorebench.reports.site import charts
from restorebench.reports.site.context import TASK_TITLES, Page, SiteContext, short_hash

PAGE = "analyses/correlation.md"


def build(ctx: SiteContext) -> None:
    a = ctx.analyses
    sections = []
    for task in ctx.data.tasks:
        metric_corr = a.metric_correlations.get(task)
        metric_plot = None
        if metric_corr is not None and len(metric_corr):
            metrics = list(dict.fromkeys(list(metric_corr["a"]) + list(metric_corr["b"])))
            metric_plot = ctx.write_asset(f"plots/metric-correlation-{short_hash(task)}.svg", charts.heatmap_svg(
                matrix(metric_corr, metrics, "spearman_rho"), labels=metrics, title=f"Spearman ρ across images ({task})"))
        method_sections = []
        for (t, metric), corr in sorted(a.method_correlations.items()):
            if t != task or corr.empty:
                continue
            labels = sorted(set(corr["a"]) | set(corr["b"]), key=str.lower)
            plot = ctx.write_asset(f"plots/method-correlation-{short_hash(task, metric)}.svg", charts.heatmap_svg(
                matrix(corr, labels, "spearman_rho"), labels=labels, title=f"{metric}: Spearman ρ of per-image scores"))
            method_sections.append({"metric": metric, "table": correlation_table(corr), "plot": plot,
                                    "alt": f"Heatmap of Spearman correlations between {len(labels)} methods on {metric}"})
        if metric_plot or method_sections:
            sections.append({"title": TASK_TITLES.get(task, task), "metric_plot": metric_plot,
                             "metric_table": correlation_table(metric_corr) if metric_corr is not None else Markup(""),
                             "methods": method_sections})
    if sections:
        ctx.render(Page(PAGE, "Correlations", "Analyses"), "correlation.md.j2", sections=sections)


def matrix(corr: pd.DataFrame, names: Sequence[str], column: str) -> np.ndarray:
    index = {n: i for i, n in enumerate(names)}
    out = np.full((len(names), len(names)), np.nan)
    np.fill_diagonal(out, 1.0)
    for r in corr.to_dict("records"):
        if r["a"] in index and r["b"] in index:
            out[index[r["a"]], index[r["b"]]] = out[index[r["b"]], index[r["a"]]] = r[column]
    return out


def correlation_table(corr: pd.DataFrame) -> Markup:
    rows = [[r["a"], r["b"], str(r["n"]), md.number(r["pearson_r"]), md.p_value(r["pearson_p"]), md.number(r["spearman_rho"]),
             md.p_value(r["spearman_p"]), md.number(r["kendall_tau"]), md.p_value(r["kendall_p"])] for r in corr.to_dict("records")]
    return md.table(["a", "b", "n", "Pearson r", "p", "Spearman ρ", "p", "Kendall τ", "p"], rows, align=list("llrrrrrrr"))
