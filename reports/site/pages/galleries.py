"""Galleries: per dataset with images, pages of ``page_items`` images — lazy-loaded thumbnails of
the input, the reference and every method's output with its primary score, each opening the
image's drill-down page. The first page of each dataset is in the navigation; the others are
reached through the page links."""
from __future__ import annotations

import math
from typing import Any

from markupsafe import Markup

from restorebench.reports import markdown as md
from restorebench.reports.site.context import Page, SiteContext, relative
from restorebench.reports.site.pages.drilldown import datasets_with_images, item_rows, items_of

WINDOW = 3  # page links shown on each side of the current page


def build(ctx: SiteContext) -> None:
    index_rows = []
    for dataset in datasets_with_images(ctx):
        items = items_of(ctx, dataset)
        per_page = ctx.options.page_items
        n_pages = max(1, math.ceil(len(items) / per_page))
        sizes = ctx.data.set_sizes[ctx.data.set_sizes["dataset"] == dataset]
        task = sizes["task"].iloc[0] if len(sizes) else None
        primary = ctx.analyses.primary.get(task)
        labels = sorted(set(ctx.data.case_status.loc[ctx.data.case_status["dataset"] == dataset, "label"]), key=str.lower)
        for number in range(1, n_pages + 1):
            chunk = items.iloc[(number - 1) * per_page: number * per_page]
            page = Page(ctx.links.gallery(dataset, number), f"Gallery {dataset}" + (f" (page {number})" if number > 1 else ""),
                        "Galleries", nav_title=dataset, hide_toc=True, in_nav=number == 1)
            cases, scores = item_rows(ctx, dataset, chunk)
            with_reference = any(c.get("reference_path") for per in cases.values() for c in per)
            rows = []
            for r in chunk.to_dict("records"):
                key = (r["group_name"], r["item"])
                target = relative(page.path, ctx.item_pages.get((dataset, r["group_name"], r["item"]), ctx.links.item(dataset, *key)))
                by_label = {str(c["label"]): c for c in cases.get(key, [])}
                first = next(iter(by_label.values()), {})
                name = r["item"] if r["group_name"] == dataset else f"{r['group_name']} / {r['item']}"
                row: list[Any] = [md.link(name, target), thumb(ctx, page.path, first.get("input_path"), f"input {name}", target)]
                if with_reference:
                    row.append(thumb(ctx, page.path, first.get("reference_path"), f"reference {name}", target))
                for label in labels:
                    case = by_label.get(label)
                    score = scores.get(key, {}).get(label, {}).get(primary) if primary else None
                    caption = md.escape(f"{primary} {md.number(score)}") if score is not None else Markup("")
                    if case is None:
                        row.append(Markup("—"))
                    elif case["status"] != "ok":
                        row.append(md.escape(case["status"]))
                    else:
                        row.append(thumb(ctx, page.path, case["output_path"], f"{label} {name}", target) + Markup("<br><small>") + caption + Markup("</small>"))
                rows.append(row)
            headers = ["image", "input"] + (["reference"] if with_reference else []) + [ctx.method_cell(page.path, label) for label in labels]
            ctx.render(page, "gallery.md.j2", dataset=dataset, number=number, n_pages=n_pages, n_items=len(items),
                       per_page=per_page, primary=primary, pager=pager(ctx, page.path, dataset, number, n_pages),
                       table=md.table(headers, rows, align=["l"] + ["c"] * (len(headers) - 1)))
        index_rows.append([md.link(dataset, relative("galleries/index.md", ctx.links.gallery(dataset))), str(len(sizes)),
                           str(len(items)), str(len(labels)), str(n_pages)])
    if index_rows:
        ctx.render(Page("galleries/index.md", "Galleries", "Galleries", nav_title="All galleries"), "galleries_index.md.j2",
                   table=md.table(["dataset", "sets", "images", "methods", "pages"], index_rows, align=list("lrrrr")))


def thumb(ctx: SiteContext, page: str, path: Any, alt: str, target: str) -> Markup:
    """A lazy-loaded thumbnail that opens the drill-down page, or why there is none."""
    if not path:
        return Markup("—")
    thumbnail = ctx.images.thumbnail(path)
    if thumbnail is None:
        return Markup("— <small>(file missing or unreadable)</small>")
    return md.link(md.image(alt, relative(page, thumbnail), lazy=True), target)


def pager(ctx: SiteContext, page: str, dataset: str, current: int, n_pages: int) -> Markup:
    """``« 1 … 4 5 [6] 7 8 … 500 »``: links to nearby pages, the first and the last."""
    if n_pages == 1:
        return Markup("")
    shown = sorted({1, n_pages, *range(max(1, current - WINDOW), min(n_pages, current + WINDOW) + 1)})
    parts, last = [], 0
    for number in shown:
        if number - last > 1:
            parts.append(Markup("…"))
        target = relative(page, ctx.links.gallery(dataset, number))
        parts.append(md.bold(str(number)) if number == current else md.link(str(number), target))
        last = number
    if current > 1:
        parts.insert(0, md.link("« previous", relative(page, ctx.links.gallery(dataset, current - 1))))
    if current < n_pages:
        parts.append(md.link("next »", relative(page, ctx.links.gallery(dataset, current + 1))))
    return Markup("Pages: ") + Markup(" ").join(parts)
