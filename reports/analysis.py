"""Analyses of benchmark scores beyond the leaderboard: pure functions over pandas DataFrames.

Nothing here reads the database or writes files; the site feeds these functions with per-image
tables read one slice at a time (:mod:`restorebench.reports.tables`), and the tests feed them
small hand-made tables. Means, intervals, ranks and comparisons are in
:mod:`restorebench.reports.stats` and :mod:`restorebench.reports.tables`.

**The per-image table.** A long table with one row per (image, method, metric) and the columns
``task, domain, dataset, group_name, item, metric, value`` plus the method column ``key``
(``variant_id`` by default; the site uses the ``label``, its leaderboard row). ``group_name`` is
the LR set or blur kind. :func:`per_image_scores` makes it from a table of scores, averaging the
samples and seeds of each image (the image is the observation unit).

**Directions.** ``directions`` maps a metric name to ``True`` (higher is better), ``False``
(lower is better) or ``None`` (unknown: such a metric gets no ranks and no "best").
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from restorebench.reports.stats import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, DEFAULT_SEED, correlate, describe_values

#: Columns that identify one image of one method variant (before averaging samples and seeds).
IMAGE_KEYS: tuple[str, ...] = ("task", "domain", "dataset", "group_name", "item")
#: Columns that identify one set of images: an LR set, or a blur kind of a triplet dataset.
SET_KEYS: tuple[str, ...] = ("dataset", "group_name")
OVERLAP_COLUMNS = ("n_common", "k", "low_overlap", "high_overlap", "refused")


# -- tables of scores ------------------------------------------------------------------------------
def per_image_scores(scores: pd.DataFrame, *, keys: Sequence[str] = IMAGE_KEYS) -> pd.DataFrame:
    """One value per (variant, image, metric): the mean over seeds and samples.

    ``value = mean_{seed, sample} value`` per ``keys + (variant_id, metric)``; the method, label
    columns are carried along. NaN values are ignored; an infinity stays an infinity.
    """
    group = [*keys, "variant_id", "method", "label", "metric"]
    present = [c for c in group if c in scores.columns]
    frame = scores[[*present, "value"]].copy()
    frame["value"] = frame["value"].astype("float64")
    # dropna=False: a missing domain (NULL) must not make a row vanish.
    return frame.groupby(present, dropna=False, sort=True, observed=True)["value"].mean().reset_index()


def domain_extremes(
    set_board: pd.DataFrame,
    *,
    directions: Mapping[str, bool | None],
    set_column: str = "group_name",
    key: str = "label",
) -> pd.DataFrame:
    """Per task × domain × metric × method: its best and its worst set, as the blind-SR study
    reported them.

    ``set_board`` is a :func:`restorebench.reports.tables.board` by ``(task, domain, dataset,
    group_name)``. Best set =
    the highest mean if higher is better, else the lowest; worst the opposite; ties go to the
    first set name in sort order. Metrics of unknown direction are left out.
    """
    rows = []
    keys = ["task", "domain", "metric", key]
    for group, frame in set_board.groupby(keys, dropna=False, sort=True):
        higher = directions.get(group[2])
        finite = frame[np.isfinite(frame["mean"])].sort_values(set_column, kind="stable")
        if higher is None or finite.empty:
            continue
        best = finite.loc[finite["mean"].idxmax() if higher else finite["mean"].idxmin()]
        worst = finite.loc[finite["mean"].idxmin() if higher else finite["mean"].idxmax()]
        rows.append({
            **dict(zip(keys, group)),
            "n_sets": int(len(finite)),
            "best_set": best[set_column],
            "best_mean": float(best["mean"]),
            "worst_set": worst[set_column],
            "worst_mean": float(worst["mean"]),
        })
    return pd.DataFrame(rows, columns=[*keys, "n_sets", "best_set", "best_mean", "worst_set", "worst_mean"])


# -- behaviour of the top two methods (blind-SR study) -------------------------------------------
def top_variants(
    image_scores: pd.DataFrame, *, metric: str, higher_is_better: bool, n: int = 2, key: str = "variant_id"
) -> list[str]:
    """The ``n`` best methods on ``metric`` by their mean over all their finite per-image
    values (pooled across sets); ties broken by name."""
    scored = image_scores[(image_scores["metric"] == metric) & np.isfinite(image_scores["value"])]
    means = scored.groupby(key, observed=True)["value"].mean().reset_index()
    means[key] = means[key].astype(str)
    means = means.sort_values(["value", key], ascending=[not higher_is_better, True], kind="stable")
    return list(means[key].head(n))


def extreme_overlap(
    image_scores: pd.DataFrame,
    *,
    variant_a: str,
    variant_b: str,
    metric: str,
    k: int = 10,
    set_keys: Sequence[str] = SET_KEYS,
    key: str = "variant_id",
) -> pd.DataFrame:
    """Per set: how many of A's k lowest-scoring images are among B's k lowest, and the same for
    the k highest.

    ``low_overlap = |L_k(A) ∩ L_k(B)|``, ``high_overlap = |H_k(A) ∩ H_k(B)|`` where ``L_k(X)``
    are the k images with the smallest values of X (by value, whatever the metric's direction)
    and ``H_k`` the k largest, among the images both methods scored (``n_common``); NaNs are
    left out; ties are broken by image name so the answer is deterministic. A set with
    ``k ≥ n_common`` is refused (its overlaps would be complete whatever the scores): its counts
    are NaN and ``refused`` says why; sets without common images are left out.
    """
    rows = []
    scored = image_scores[(image_scores["metric"] == metric) & image_scores["value"].notna()]
    for group, frame in scored.groupby(list(set_keys), dropna=False, sort=True, observed=True):
        a = frame[frame[key] == variant_a].set_index("item")["value"]
        b = frame[frame[key] == variant_b].set_index("item")["value"]
        common = sorted(set(a.index) & set(b.index))
        if not common:
            continue
        row = {**dict(zip(set_keys, group if isinstance(group, tuple) else (group,))), "n_common": len(common), "k": k}
        if k >= len(common):
            row.update(low_overlap=math.nan, high_overlap=math.nan,
                       refused=f"k = {k} ≥ {len(common)} images in common: every overlap would be complete")
        else:
            a, b = a.loc[common].to_numpy(dtype=np.float64), b.loc[common].to_numpy(dtype=np.float64)
            row.update(low_overlap=_overlap(a, b, k, lowest=True), high_overlap=_overlap(a, b, k, lowest=False), refused=None)
        rows.append(row)
    out = pd.DataFrame(rows, columns=[*set_keys, *OVERLAP_COLUMNS])
    out["refused"] = out["refused"].astype(object).where(out["refused"].notna(), None)
    return out


def _overlap(a: np.ndarray, b: np.ndarray, k: int, *, lowest: bool) -> int:
    """How many of the k lowest (or highest) of ``a`` are among those of ``b``; the values are
    aligned on image names in sorted order, so a tie goes to the first name (its position)."""
    names = np.arange(a.size)
    pick = [np.lexsort((names, x if lowest else -x))[:k] for x in (a, b)]
    return int(np.intersect1d(pick[0], pick[1]).size)


def overlap_statistics(overlaps: pd.DataFrame) -> dict[str, float]:
    """Statistics across sets of the :func:`extreme_overlap` counts (refused sets left out).

    Shapiro–Wilk normality test of ``low_overlap`` and of ``high_overlap`` (``W`` and p; needs at
    least 3 sets and some spread, else NaN), and the association of the two counts across sets:
    Kendall τ (τ-b), Pearson r and Spearman ρ with their two-sided p-values (NaN when fewer than
    3 sets or a count is constant).
    """
    if "refused" in overlaps:
        overlaps = overlaps[overlaps["refused"].isna()]
    low = overlaps["low_overlap"].to_numpy(dtype=np.float64)
    high = overlaps["high_overlap"].to_numpy(dtype=np.float64)
    out: dict[str, float] = {"n_sets": int(len(overlaps))}
    for name, x in (("low", low), ("high", high)):
        out[f"shapiro_{name}_w"], out[f"shapiro_{name}_p"] = _shapiro(x)
    corr = correlate(low, high)
    for name in ("kendall_tau", "kendall_p", "pearson_r", "pearson_p", "spearman_rho", "spearman_p"):
        out[name] = corr[name]
    return out


def _shapiro(x: np.ndarray) -> tuple[float, float]:
    if x.size < 3 or np.all(x == x[0]):
        return (math.nan, math.nan)
    result = stats.shapiro(x)
    return (float(result.statistic), float(result.pvalue))


def behaviour_analysis(
    image_scores: pd.DataFrame,
    *,
    metric: str,
    higher_is_better: bool,
    k: int = 10,
    set_keys: Sequence[str] = SET_KEYS,
    key: str = "variant_id",
) -> dict[str, Any]:
    """The blind-SR study's behaviour analysis for ``metric``: the two best methods
    (:func:`top_variants`), their per-set :func:`extreme_overlap`, and the
    :func:`overlap_statistics` across the sets that were not refused. Returns ``{"variants":
    [a, b], "overlaps": frame, "statistics": dict, "dropped": reason or None}``; ``dropped`` says
    why nothing could be analysed (fewer than two methods, no images in common, every set
    refused)."""
    variants = top_variants(image_scores, metric=metric, higher_is_better=higher_is_better, n=2, key=key)
    overlaps = pd.DataFrame(columns=[*set_keys, *OVERLAP_COLUMNS])
    dropped = None
    if len(variants) < 2:
        dropped = "fewer than two methods scored it"
    else:
        overlaps = extreme_overlap(image_scores, variant_a=variants[0], variant_b=variants[1], metric=metric, k=k,
                                   set_keys=set_keys, key=key)
        if overlaps.empty:
            dropped = f"its two best methods ({variants[0]}, {variants[1]}) share no image name in any set"
        elif overlaps["refused"].notna().all():
            dropped = f"every set has at most k = {k} images in common"
    return {"variants": variants, "overlaps": overlaps, "statistics": overlap_statistics(overlaps), "dropped": dropped}


# -- correlations ----------------------------------------------------------------------------------
def correlation_table(wide: pd.DataFrame) -> pd.DataFrame:
    """:func:`correlate` for every unordered pair of columns of ``wide`` (rows = observations):
    columns ``a, b, n, pearson_r, pearson_p, spearman_rho, spearman_p, kendall_tau, kendall_p``,
    pairs in column order. Columns without a missing value are ranked once for all their pairs."""
    columns = list(wide.columns)
    values = {c: wide[c].to_numpy(dtype=np.float64) for c in columns}
    complete = {c: bool(np.isfinite(v).all()) for c, v in values.items()}
    ranks = {c: stats.rankdata(v) for c, v in values.items() if complete[c]}
    rows = []
    for i, a in enumerate(columns):
        for b in columns[i + 1:]:
            if complete[a] and complete[b]:
                rows.append({"a": a, "b": b, **correlate(values[a], values[b], ranks=(ranks[a], ranks[b]))})
            else:
                rows.append({"a": a, "b": b, **correlate(values[a], values[b])})
    return pd.DataFrame(rows, columns=["a", "b", "n", "pearson_r", "pearson_p", "spearman_rho", "spearman_p", "kendall_tau", "kendall_p"])


def metric_correlations(image_scores: pd.DataFrame, *, keys: Sequence[str] = IMAGE_KEYS, key: str = "variant_id") -> pd.DataFrame:
    """Metric–metric correlation across images: one observation per (method, image), one
    column per metric; see :func:`correlation_table`."""
    keys = [k for k in keys if k in image_scores.columns]
    wide = _pivot(image_scores, index=[*keys, key], columns="metric")
    return correlation_table(wide)


def method_correlations(image_scores: pd.DataFrame, *, metric: str, keys: Sequence[str] = IMAGE_KEYS,
                        key: str = "variant_id") -> pd.DataFrame:
    """Method–method correlation of per-image scores on ``metric``: one observation per image,
    one column per method; see :func:`correlation_table` (``a``, ``b`` are method names)."""
    keys = [k for k in keys if k in image_scores.columns]
    wide = _pivot(image_scores[image_scores["metric"] == metric], index=keys, columns=key)
    return correlation_table(wide)


def _pivot(frame: pd.DataFrame, *, index: list[str], columns: str) -> pd.DataFrame:
    # Missing index values (e.g. no domain) would be dropped by pivot_table: fill them first.
    filled = frame.copy()
    filled[columns] = filled[columns].astype(str)
    for column in index:
        if filled[column].isna().any():
            filled[column] = filled[column].astype("object").where(filled[column].notna(), "")
    return filled.pivot_table(index=index, columns=columns, values="value", aggfunc="mean", sort=True, observed=True)


# -- sharpness of the extremes -------------------------------------------------------------------
EXTREME_COLUMNS = ("best_item", "best_score", "worst_item", "worst_score")


def extremes_per_set(
    image_scores: pd.DataFrame,
    *,
    variants: Sequence[str],
    metric: str,
    higher_is_better: bool,
    set_keys: Sequence[str] = SET_KEYS,
    key: str = "variant_id",
) -> pd.DataFrame:
    """Per set and method: its best and its worst image on ``metric``.

    Best = highest value if higher is better, else lowest; images without a finite value are
    skipped; ties go to the first image name.
    """
    rows = []
    scored = image_scores[(image_scores["metric"] == metric) & np.isfinite(image_scores["value"])
                          & image_scores[key].isin(list(variants))]
    for group, frame in scored.groupby([*set_keys, key], dropna=False, sort=True, observed=True):
        if frame.empty:
            continue
        values = frame["value"].to_numpy(dtype=np.float64)
        items = frame["item"].astype(str).to_numpy()
        top, bottom = values.max(), values.min()
        high, low = min(items[values == top]), min(items[values == bottom])  # ties: the first name
        best, worst = ((high, top), (low, bottom)) if higher_is_better else ((low, bottom), (high, top))
        rows.append({**dict(zip([*set_keys, key], group)), "best_item": best[0], "best_score": float(best[1]),
                     "worst_item": worst[0], "worst_score": float(worst[1])})
    return pd.DataFrame(rows, columns=[*set_keys, key, *EXTREME_COLUMNS])


def sharpness_of_extremes(
    image_scores: pd.DataFrame,
    *,
    variants: Sequence[str],
    metric: str,
    higher_is_better: bool,
    sharpness_metric: str,
    set_keys: Sequence[str] = SET_KEYS,
    key: str = "variant_id",
) -> pd.DataFrame:
    """:func:`extremes_per_set` with the ``sharpness_metric`` value of each of those two
    outputs beside it (``best_sharpness``, ``worst_sharpness``; NaN when not scored), as the
    blind-SR study showed them."""
    frame = extremes_per_set(image_scores, variants=variants, metric=metric, higher_is_better=higher_is_better,
                             set_keys=set_keys, key=key)
    sharp = image_scores[image_scores["metric"] == sharpness_metric]
    lookup = {(*(r[c] for c in set_keys), r[key], r["item"]): r["value"] for r in sharp.to_dict("records")}
    for which in ("best", "worst"):
        frame[f"{which}_sharpness"] = [float(lookup.get((*(r[c] for c in set_keys), r[key], r[f"{which}_item"]), math.nan))
                                       for r in frame.to_dict("records")]
    return frame


# -- parameter sweeps (the SinGAN start scale) -----------------------------------------------------
def parameter_curves(
    scores: pd.DataFrame,
    variant_params: Mapping[str, Mapping[str, Any]],
    *,
    param: str,
    group_column: str = "group_name",
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> pd.DataFrame:
    """Metric versus the value of a swept parameter (SinGAN's generation start scale), per
    method × set (blur kind) × metric × value.

    ``variant_params`` maps a variant id to its parameters (the methods table's ``params`` JSON);
    variants without ``param`` are left out. Every sample is an observation here (the SinGAN study
    draws several samples per start scale, often from a single image): ``n, mean`` and the
    bootstrap CI of the mean (:func:`describe_values`) over all (image, seed, sample) values.
    """
    scale_of = {v: p[param] for v, p in variant_params.items() if isinstance(p, Mapping) and p.get(param) is not None}
    frame = scores[scores["variant_id"].isin(list(scale_of))].copy()
    frame[param] = frame["variant_id"].map(scale_of)
    rows = []
    for key, group in frame.groupby(["method", group_column, "metric", param], dropna=False, sort=True):
        rows.append({
            **dict(zip(["method", group_column, "metric", param], key)),
            **describe_values(group["value"].to_numpy(), confidence=confidence, n_resamples=n_resamples, seed=seed),
        })
    return pd.DataFrame(rows, columns=["method", group_column, "metric", param, "n", "n_inf", "mean", "std", "median", "ci_low", "ci_high"])
