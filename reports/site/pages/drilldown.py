"""Per-image drill-down: a page for each item of a dataset with images — the input, the reference
and every method's output side by side at native size, zoom crops that follow the pointer on all
of them at once, and every score of the image.

These pages are plain HTML written straight into the site (an HTML template with
autoescaping), not MkDocs pages: a dataset may have tens of thousands of images, and MkDocs
spends milliseconds on each page; they are not in the navigation or the search index, and are
reached from the galleries, the leaderboards and the best/worst lists. Items are read from the
database one page-load of them at a time.
"""
from __future__ import annotations

import math
import posixpath
from typing import Any

import jinja2
import pandas as pd

from restorebench.reports import queries
from restorebench.reports.site.context import TEMPLATES_DIR, SiteContext, relative

CHUNK = 200  # items read from the database at a time
ZOOM = 4


def html_environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), undefined=jinja2.StrictUndefined,
                              autoescape=True, trim_blocks=True, lstrip_blocks=True)


def html_href(from_page: str, to_page: str) -> str:
    """A link from a plain HTML page to a page of the site (``.md`` pages are served as ``.html``)."""
    target = to_page[:-3] + ".html" if to_page.endswith(".md") else to_page
    return relative(from_page, target)


def datasets_with_images(ctx: SiteContext) -> list[str]:
    sizes = ctx.data.set_sizes
    return sorted(set(sizes.loc[sizes["has_images"].fillna(False).astype(bool), "dataset"]))


def items_of(ctx: SiteContext, dataset: str) -> pd.DataFrame:
    return ctx.store.query(queries.ITEMS, [dataset]).to_pandas()


def build(ctx: SiteContext) -> None:
    template = html_environment().get_template("item.html.j2")
    for dataset in datasets_with_images(ctx):
        items = items_of(ctx, dataset)
        paths = [ctx.links.item(dataset, r["group_name"], r["item"]) for r in items.to_dict("records")]
        ctx.drilldown[dataset] = [(r["group_name"], r["item"], p) for r, p in zip(items.to_dict("records"), paths)]
        for r, p in zip(items.to_dict("records"), paths):
            ctx.item_pages[(dataset, r["group_name"], r["item"])] = p
        for start in range(0, len(items), CHUNK):
            chunk = items.iloc[start:start + CHUNK]
            cases, scores = item_rows(ctx, dataset, chunk)
            for position, r in zip(range(start, start + len(chunk)), chunk.to_dict("records")):
                key = (r["group_name"], r["item"])
                page = paths[position]
                html = template.render(**item_context(ctx, dataset, r, page, cases.get(key, []), scores.get(key, {}),
                                                      previous=paths[position - 1] if position else None,
                                                      following=paths[position + 1] if position + 1 < len(paths) else None,
                                                      gallery_page=position // ctx.options.page_items + 1))
                ctx.write_asset(page, html)


def item_rows(ctx: SiteContext, dataset: str, chunk: pd.DataFrame) -> tuple[dict, dict]:
    """The cases (one per method: first seed and sample) and per-image scores of a chunk of items."""
    images = [int(h) for h in chunk["image"]]
    cases: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in ctx.store.query(queries.ITEM_CASES, [dataset, images]).to_pylist():
        cases.setdefault((row["group_name"], row["item"]), []).append(row)
    scores: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
    for row in ctx.store.query(queries.ITEM_SCORES, [dataset, images]).to_pylist():
        scores.setdefault((row["group_name"], row["item"]), {}).setdefault(row["label"], {})[row["metric"]] = row["value"]
    return cases, scores


def item_context(ctx: SiteContext, dataset: str, item: dict[str, Any], page: str, cases: list[dict[str, Any]],
                 scores: dict[str, dict[str, float]], *, previous: str | None, following: str | None, gallery_page: int) -> dict[str, Any]:
    directions = ctx.data.directions
    metrics = sorted({m for per in scores.values() for m in per})
    best = {}
    for metric in metrics:
        values = {label: per[metric] for label, per in scores.items() if metric in per and not math.isnan(per[metric])}
        if values and directions.get(metric) is not None:
            target = max(values.values()) if directions[metric] else min(values.values())
            best[metric] = {label for label, v in values.items() if v == target}
    panels = []
    first = cases[0] if cases else {}
    for kind, path in (("input", first.get("input_path")), ("reference", first.get("reference_path"))):
        if path:
            panels.append(panel(ctx, page, kind, path, status="ok", error=None, scores=[]))
    for case in sorted(cases, key=lambda c: str(c["label"]).lower()):
        label = str(case["label"])
        rows = [{"metric": m, "arrow": {True: "↑", False: "↓"}.get(directions.get(m), ""), "value": _number(scores.get(label, {}).get(m)),
                 "best": label in best.get(m, ())} for m in metrics if m in scores.get(label, {})]
        panels.append(panel(ctx, page, label, case["output_path"], status=case["status"], error=case["error"], scores=rows,
                            method_page=html_href(page, ctx.links.method(label))))
    group = item["group_name"]
    return {
        "item": item["item"], "dataset": dataset, "group": group if group != dataset else None, "panels": panels,
        "zoom": ZOOM, "root": posixpath.relpath(".", posixpath.dirname(page)) + "/",
        "home": html_href(page, "index.md"), "dataset_page": html_href(page, ctx.links.dataset(dataset)),
        "gallery": html_href(page, ctx.links.gallery(dataset, gallery_page)),
        "previous": relative(page, previous) if previous else None, "following": relative(page, following) if following else None,
        "metrics": metrics,
        "score_rows": [{"label": label, "href": html_href(page, ctx.links.method(label)),
                        "cells": [{"value": _number(per.get(m)), "best": label in best.get(m, ())} for m in metrics]}
                       for label, per in sorted(scores.items(), key=lambda kv: str(kv[0]).lower())],
        "headers": [f"{m} {({True: '↑', False: '↓'}.get(directions.get(m), ''))}".strip() for m in metrics],
    }


def panel(ctx: SiteContext, page: str, title: str, path: Any, *, status: str, error: Any, scores: list,
          method_page: str | None = None) -> dict[str, Any]:
    native = ctx.images.native(path) if path else None
    note = None
    if native is None:
        note = (f"{status}: {ctx.data.scrub.text(error)}" if error else status) if status != "ok" else "image file missing"
    return {"title": title, "src": relative(page, native[0]) if native else None, "width": native[1] if native else None,
            "height": native[2] if native else None, "note": note, "scores": scores, "method_page": method_page}


def _number(value: Any) -> str:
    from restorebench.reports.markdown import number

    return number(value) if value is not None else "—"
