"""Every number of the site, computed in one pass over the per-image scores, one (task, metric)
slice at a time (:func:`restorebench.reports.tables.image_slices`): the leaderboard tables at
each level (task, dataset, set, domain), macro means and head-to-head counts over sets, method
correlations, the behaviour and best/worst-image analyses. Only these aggregates are kept.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from restorebench.reports import analysis as an
from restorebench.reports import queries
from restorebench.reports.site.context import SiteOptions
from restorebench.reports.tables import TableOptions, board, image_slices, macro_board, wins_and_losses

LEVELS = {
    "task": ("task",),
    "dataset": ("task", "dataset"),
    "set": ("task", "domain", "dataset", "group_name"),
    "domain": ("task", "domain"),
}


@dataclass
class Analyses:
    boards: dict[str, pd.DataFrame] = field(default_factory=dict)  # level → board (see LEVELS), plus "macro"
    wins: pd.DataFrame = field(default_factory=pd.DataFrame)
    metrics_by_task: dict[str, list[str]] = field(default_factory=dict)
    primary: dict[str, str | None] = field(default_factory=dict)
    method_correlations: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    metric_correlations: dict[str, pd.DataFrame] = field(default_factory=dict)
    behaviour: list[dict[str, Any]] = field(default_factory=list)
    extremes: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)  # (task, metric) → best/worst per set
    unpaired_methods: pd.DataFrame = field(default_factory=pd.DataFrame)
    unpaired_metrics: pd.DataFrame = field(default_factory=pd.DataFrame)

    def board(self, level: str, **where: Any) -> pd.DataFrame:
        frame = self.boards.get(level, pd.DataFrame())
        for column, value in where.items():
            if frame.empty:
                break
            frame = frame[frame[column].isna()] if value is None else frame[frame[column] == value]
        return frame


def analyse(store: Any, data: Any, options: SiteOptions) -> Analyses:
    """The aggregates of every page (see the module docstring)."""
    out = Analyses()
    parts: dict[str, list[pd.DataFrame]] = {level: [] for level in LEVELS}
    table_options = options.tables
    dirs = data.directions
    quality = {m for m, q in data.measures.items() if q is None}
    for task, metric, image in image_slices(store):
        out.metrics_by_task.setdefault(task, []).append(metric)
        image = image.assign(task=image["task"].astype(str), dataset=image["dataset"].astype(str),
                             group_name=image["group_name"].astype(str))
        for level, by in LEVELS.items():
            # Deltas with intervals are shown for tasks and datasets; sets and domains show stars.
            level_options = table_options if level in ("task", "dataset") else _without_delta(table_options)
            parts[level].append(board(image, by=by, directions=dirs, options=level_options))
        labels = image["label"].astype(str).unique()
        if len(labels) >= 2:
            out.method_correlations[(task, metric)] = an.method_correlations(image, metric=metric, keys=("image",), key="label")
        if dirs.get(metric) is not None and metric in quality:
            higher = bool(dirs[metric])
            result = an.behaviour_analysis(image, metric=metric, higher_is_better=higher, k=options.k, key="label")
            out.behaviour.append({"task": task, "metric": metric, **result})
            top = result["variants"]
            if top:
                extremes = an.extremes_per_set(image, variants=top, metric=metric, higher_is_better=higher, key="label")
                keys = image.loc[image["label"].astype(str).isin(top), ["dataset", "group_name", "item", "image"]]
                keys = keys.assign(item=keys["item"].astype(str)).drop_duplicates(["dataset", "group_name", "item"])
                for which in ("best", "worst"):
                    found = keys.rename(columns={"item": f"{which}_item", "image": f"{which}_image"})
                    extremes = extremes.merge(found, on=["dataset", "group_name", f"{which}_item"], how="left")
                out.extremes[(task, metric)] = extremes
        del image
    for level, frames in parts.items():
        out.boards[level] = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    sets = out.boards["set"]
    out.boards["macro"] = macro_board(sets, by=("task",), directions=dirs, options=table_options) if len(sets) else pd.DataFrame()
    out.wins = wins_and_losses(sets, by=("task",), directions=dirs) if len(sets) else pd.DataFrame()
    for task, metrics in out.metrics_by_task.items():
        out.primary[task] = data.primary_metric(task, metrics, options=options)
        if len(metrics) >= 2:
            wide = store.query(queries.metric_pivot(len(metrics)), [task, *metrics]).to_pandas()
            wide.columns = metrics
            out.metric_correlations[task] = an.correlation_table(wide)
    out.unpaired_methods = disjoint_pairs(store.query(queries.cooccurrence("metric", "label")).to_pandas(), within="metric")
    out.unpaired_metrics = disjoint_pairs(store.query(queries.cooccurrence("label", "metric")).to_pandas(), within="label")
    return out


def disjoint_pairs(groups: pd.DataFrame, *, within: str) -> pd.DataFrame:
    """Pairs ``a < b`` (methods, or metrics) of one (task, dataset, ``within``) that never score
    the same image, with their numbers of images; from :func:`queries.cooccurrence` rows."""
    rows = []
    for (task, dataset, inner), frame in groups.groupby(["task", "dataset", within], sort=True):
        sizes: dict[str, int] = {}
        together = set()
        for members, n in zip(frame["members"], frame["n"]):
            members = list(members)
            for i, a in enumerate(members):
                sizes[a] = sizes.get(a, 0) + int(n)
                together.update((a, b) for b in members[i + 1:])
        names = sorted(sizes)
        rows += [{"task": task, "dataset": dataset, within: inner, "a": a, "b": b, "n_a": sizes[a], "n_b": sizes[b]}
                 for i, a in enumerate(names) for b in names[i + 1:] if (a, b) not in together]
    return pd.DataFrame(rows, columns=["task", "dataset", within, "a", "b", "n_a", "n_b"])


def _without_delta(options: TableOptions) -> TableOptions:
    return replace(options, delta_intervals=False)


def measure_values(store: Any, *, task: str, metric: str, label: str, images: list[int]) -> dict[int, float]:
    """Values of ``metric`` (e.g. a sharpness measure) of ``label`` on the given images."""
    if not images:
        return {}
    rows = store.query(queries.IMAGE_VALUES, [task, metric, label, [int(i) for i in images]]).to_pylist()
    return {int(r["image"]): r["value"] for r in rows}
