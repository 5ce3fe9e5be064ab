"""Parameter sweeps (the SinGAN start scale): a method run as several variants that differ in
one numeric parameter gets curves of each metric against that parameter, per set, and grids of
one output per parameter value. Plugged in by the data: the ``methods`` table's parameters say
which variants form a sweep."""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from restorebench.reports import analysis as an
from restorebench.reports import markdown as md
from restorebench.reports import queries
from restorebench.reports.site import charts
from restorebench.reports.site.cells import arrow, stat_cell
from restorebench.reports.site.context import Page, SiteContext, jsonable, short_hash
from restorebench.reports.site.images import png_bytes

PAGE = "analyses/sweeps.md"
GRIDS = 3  # images per sweep drawn as grids


def find_sweeps(methods: pd.DataFrame, current: set[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """``(method name, parameter) → {variant_id: value}`` for every method whose current
    variants differ in exactly one parameter, a number."""
    out = {}
    rows = methods[methods["variant_id"].isin(list(current))]
    for name, frame in rows.groupby("name", sort=True):
        params = {r["variant_id"]: jsonable(r["params"]) or {} for r in frame.to_dict("records")}
        if len(params) < 2 or not all(isinstance(p, dict) for p in params.values()):
            continue
        keys = set().union(*params.values())
        varying = [k for k in sorted(keys) if len({json.dumps(p.get(k), sort_keys=True) for p in params.values()}) > 1]
        if len(varying) != 1:
            continue
        values = {v: p.get(varying[0]) for v, p in params.items()}
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in values.values()):
            out[(str(name), varying[0])] = values
    return out


def build(ctx: SiteContext) -> None:
    current = set(ctx.data.labels["variant_id"].dropna())
    sweeps = find_sweeps(ctx.data.methods, current)
    sections, grids = [], []
    for (name, param), values in sweeps.items():
        scores = ctx.store.query(queries.SAMPLE_SCORES, [list(values)]).to_pandas()
        curves = an.parameter_curves(scores, {v: {param: x} for v, x in values.items()}, param=param,
                                     confidence=ctx.options.confidence, n_resamples=ctx.options.n_resamples, seed=ctx.options.seed)
        for metric, frame in curves.groupby("metric", sort=True):
            lines = {str(group): list(zip(g[param], g["mean"], g["ci_low"], g["ci_high"]))
                     for group, g in frame.sort_values(param).groupby("group_name", sort=True)}
            path = ctx.write_asset(f"plots/sweep-{short_hash(name, param, metric)}.svg", charts.curves_svg(
                lines, title=f"{name}: {metric} against {param}", x_label=param,
                y_label=f"{metric}: mean and {int(round(ctx.options.confidence * 100))} % interval"))
            rows = [[r["group_name"], str(r[param]), str(r["n"]), stat_cell(r)] for r in frame.to_dict("records")]
            sections.append({"method": name, "param": param, "metric": metric, "plot": path,
                             "direction": arrow(ctx.data.directions.get(metric)),
                             "alt": f"{metric} of {name} against {param}, one line per set, mean and interval over samples",
                             "table": md.table(["set", param, "n", "mean [CI]"], rows, align=list("lrrr"))})
        grids += sweep_grids(ctx, name, param, values)
    if sections:
        ctx.render(Page(PAGE, "Parameter sweeps", "Analyses", nav_title="Parameter sweeps"), "sweeps.md.j2",
                   sections=sections, grids=grids)


def sweep_grids(ctx: SiteContext, name: str, param: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """For the first images: the reference, the input and the first sample of each parameter
    value side by side (:func:`restorebench.reports.singan_grid.singan_grid`)."""
    from PIL import Image

    from restorebench.reports import singan_grid as module

    cases = ctx.store.query(queries.SWEEP_CASES, [list(values)]).to_pandas()
    grids = []
    for (group, item), frame in list(cases.groupby(["group_name", "item"], sort=True))[:GRIDS]:
        first = frame.iloc[0]
        try:
            def load(path: Any) -> np.ndarray:
                resolved = ctx.images.resolve(path)
                if resolved is None:
                    raise FileNotFoundError(f"image file {ctx.data.scrub.text(path)} not found")
                return np.asarray(Image.open(resolved).convert("RGB"))

            samples: dict[Any, np.ndarray] = {}
            for r in frame.sort_values(["seed", "sample", "variant_id"]).to_dict("records"):
                samples.setdefault(values[r["variant_id"]], None)
                if samples[values[r["variant_id"]]] is None:
                    samples[values[r["variant_id"]]] = load(r["output_path"])
            grid = module.singan_grid(load(first["reference_path"]), load(first["input_path"]), dict(sorted(samples.items())),
                                      blur=str(group))
            path = ctx.write_asset(f"plots/sweep-grid-{short_hash(name, group, item)}.png", png_bytes(grid))
            grids.append({"method": name, "param": param, "group": group, "item": item, "image": path, "error": None})
        except Exception as exc:  # a missing file or a grid error must not break the whole site
            grids.append({"method": name, "param": param, "group": group, "item": item, "image": None,
                          "error": ctx.data.scrub.text(f"{type(exc).__name__}: {exc}")})
    return grids
