"""Kernel accuracy: for methods that estimate (or assume) the degradation kernel, how far it is
from the dataset's true kernel, per set — the metrics that declare they measure ``kernel``
(``kernel_error``, ``kernel_psnr``: ``restorebench.metrics.kernel_accuracy``). Plugged in by the
data: the page exists when such a metric has scores."""
from __future__ import annotations

from restorebench.reports import markdown as md
from restorebench.reports import queries
from restorebench.reports.site.cells import arrow
from restorebench.reports.site.context import TASK_TITLES, Page, SiteContext, set_name

PAGE = "analyses/kernels.md"


def build(ctx: SiteContext) -> None:
    measures = ctx.data.metrics_measuring("kernel")
    if not measures:
        return
    rows = ctx.store.query(queries.KERNEL_ACCURACY, [measures]).to_pylist()
    if not rows:
        return
    cells: dict[tuple[str, str, str], dict[str, tuple[float, int]]] = {}  # (task, set, label) → metric → (mean, n)
    for r in rows:
        key = (r["task"], set_name(r["dataset"], r["group_name"]), r["label"])
        cells.setdefault(key, {})[r["metric"]] = (r["mean"], int(r["n"]))
    sections = []
    for task in sorted({task for task, _, _ in cells}):
        table_rows = []
        for (t, set_, label), values in sorted(cells.items()):
            if t != task:
                continue
            n = max(count for _, count in values.values())
            table_rows.append([set_, ctx.method_cell(PAGE, label), str(n),
                               *[md.number(values[m][0]) if m in values else "—" for m in measures]])
        headers = ["set", "method", "images", *[f"{m}{arrow(ctx.data.directions.get(m))}" for m in measures]]
        sections.append({"task": TASK_TITLES.get(task, task),
                         "table": md.table(headers, table_rows, align=list("llr") + ["r"] * len(measures))})
    ctx.render(Page(PAGE, "Kernel accuracy", "Analyses", nav_title="Kernel accuracy", hide_toc=True),
               "kernels.md.j2", sections=sections, measures=measures)
