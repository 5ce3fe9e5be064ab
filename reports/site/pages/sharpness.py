"""Best and worst images: for each of the two best methods on a quality metric, its best and
worst output of every set, shown (thumbnails linking to the drill-down) with the value of every
metric that declares it measures sharpness — and a chart per sharpness metric. Plugged in by the
data: the page exists when a metric measuring ``sharpness`` has scores."""
from __future__ import annotations

import math
from typing import Any

from markupsafe import Markup

from restorebench.reports import markdown as md
from restorebench.reports import queries
from restorebench.reports.site import charts
from restorebench.reports.site.analyses import measure_values
from restorebench.reports.site.context import TASK_TITLES, Page, SiteContext, relative, set_name, short_hash

PAGE = "analyses/sharpness.md"


def build(ctx: SiteContext) -> None:
    measures = ctx.data.metrics_measuring("sharpness")
    sections = []
    for (task, metric), extremes in sorted(ctx.analyses.extremes.items()):
        present = [m for m in measures if m in ctx.analyses.metrics_by_task.get(task, [])]
        if not present or extremes.empty:
            continue
        sections.append(section(ctx, task=task, metric=metric, extremes=extremes, measures=present))
    if sections:
        ctx.render(Page(PAGE, "Sharpness of the best and worst images", "Analyses", nav_title="Sharpness", hide_toc=True),
                   "sharpness.md.j2", sections=sections, measures=measures)


def section(ctx: SiteContext, *, task: str, metric: str, extremes: Any, measures: list[str]) -> dict[str, Any]:
    labels = list(dict.fromkeys(str(v) for v in extremes["label"]))
    values = {}  # (measure, label) → {image: value}
    for measure in measures:
        for label in labels:
            images = [int(i) for which in ("best", "worst") for i in extremes.loc[extremes["label"].astype(str) == label, f"{which}_image"].dropna()]
            values[(measure, label)] = measure_values(ctx.store, task=task, metric=measure, label=label, images=images)
    thumbs = thumbnails(ctx, extremes)
    headers = ["set"]
    for label in labels:
        headers += [f"{label}: best by {metric}", *measures, f"{label}: worst by {metric}", *measures]
    rows = []
    series: dict[str, list[tuple[str, list[tuple[str, float, float]]]]] = {m: [] for m in measures}
    by_set = {}
    for r in extremes.to_dict("records"):
        by_set.setdefault((r["dataset"], r["group_name"]), {})[str(r["label"])] = r
    for (dataset, group), per_label in sorted(by_set.items()):
        row: list[Any] = [set_name(dataset, group)]
        for measure in measures:
            points = []
            for label in labels:
                r = per_label.get(label)
                if r:
                    got = values[(measure, label)]
                    points.append((label, got.get(_int(r["best_image"]), math.nan), got.get(_int(r["worst_image"]), math.nan)))
            series[measure].append((set_name(dataset, group), points))
        for label in labels:
            r = per_label.get(label)
            if r is None:
                row += ["—"] * (2 + 2 * len(measures))
                continue
            for which in ("best", "worst"):
                row.append(image_cell(ctx, thumbs, dataset, group, r[f"{which}_item"], label, r[f"{which}_image"], r[f"{which}_score"]))
                row += [md.number(values[(m, label)].get(_int(r[f"{which}_image"]), math.nan), digits=2) for m in measures]
        rows.append(row)
    plots = []
    for measure in measures:
        title = f"{measure} of the best and worst image by {metric} ({TASK_TITLES.get(task, task)})"
        path = ctx.write_asset(f"plots/extremes-{short_hash(task, metric, measure)}.svg",
                               charts.extremes_svg(series[measure], title=title, x_label=measure))
        plots.append({"path": path, "alt": f"{title}: per set, one line per method from its best (filled) to its worst (hollow) image"})
    return {"task": TASK_TITLES.get(task, task), "metric": metric, "labels": labels, "plots": plots,
            "table": md.table(headers, rows, align=["l"] + ["l"] * (len(headers) - 1))}


def _int(value: Any) -> int | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else int(value)


def thumbnails(ctx: SiteContext, extremes: Any) -> dict[tuple[str, int], str]:
    """``(label, image) → thumbnail`` of the outputs in the table (datasets with images)."""
    out = {}
    for (dataset, label), frame in extremes.groupby(["dataset", "label"], observed=True):
        images = [int(i) for which in ("best", "worst") for i in frame[f"{which}_image"].dropna()]
        for r in ctx.store.query(queries.OUTPUTS, [dataset, str(label), images]).to_pylist():
            thumb = ctx.images.thumbnail(r["output_path"])
            if thumb:
                out[(str(label), int(r["image"]))] = thumb
    return out


def image_cell(ctx: SiteContext, thumbs: dict, dataset: str, group: str, item: str, label: str, image: Any, score: float) -> Markup:
    """The image's name and score, its thumbnail when there is one, linked to its drill-down."""
    text = md.escape(f"{item} ({md.number(score)})")
    target = ctx.item_pages.get((dataset, group, item))
    thumb = thumbs.get((label, _int(image))) if image is not None else None
    if thumb:
        text = md.image(f"{label} output {item}", relative(PAGE, thumb), lazy=True) + Markup("<br>") + text
    return md.link(text, relative(PAGE, target)) if target else text
