"""Analyses of benchmark scores: pure functions over pandas DataFrames.

Nothing here reads the database or writes files; :mod:`reports.site` feeds these functions with
tables read through :mod:`bench.store`, and the tests feed them small hand-made tables.

**The scores table.** Most functions take a long table with one row per score and (a subset of)
the columns of the store's ``results`` view:

``task, domain, dataset, group_name, item, method, variant_id, label, seed, sample, metric,
value``

``variant_id`` identifies a method variant (a method with one set of parameters; imported methods
have their own variant), ``label`` is its display name, ``group_name`` the LR set or blur kind.
Only scores with status ``ok`` belong in it.

**The observation unit is the image.** :func:`per_image_scores` first averages the samples and
seeds of each (variant, dataset, group, item, metric), so that ``n`` counts images and a method
that draws five samples per image is not credited with five times the evidence.

**Infinite values.** PSNR of two identical images is ``+inf`` — a true value, not an error.
Means, standard deviations and confidence intervals are computed over the *finite* values and
the number of infinite ones is reported next to them (``n_inf``); the median uses every value
(ordering is well defined with infinities). When every value of a group is infinite, the mean is
that infinity (the only honest answer) and the spread is undefined (NaN). Paired differences
that involve an infinity are dropped from paired tests and reported as ``n_dropped``. NaN values
are treated as missing.

**Directions.** ``directions`` maps a metric name to ``True`` (higher is better), ``False``
(lower is better) or ``None`` (unknown: such a metric gets no ranks and no "best").
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

#: Columns that identify one image of one method variant (before averaging samples and seeds).
IMAGE_KEYS: tuple[str, ...] = ("task", "domain", "dataset", "group_name", "item")
#: Columns that identify one set of images: an LR set, or a blur kind of a triplet dataset.
SET_KEYS: tuple[str, ...] = ("dataset", "group_name")

DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 9999
DEFAULT_SEED = 0
#: Largest sample for which ``method="auto"`` uses the BCa interval. BCa's jackknife costs O(n²)
#: time and memory; beyond a few hundred values the skewness and bias it corrects for the mean
#: are negligible and the percentile interval is as accurate (and 3–4× faster at n ≈ 3000).
BCA_MAX_N = 500


# -- basic statistics ------------------------------------------------------------------------------
def bootstrap_mean_ci(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    method: str = "auto",
) -> tuple[float, float]:
    """Bootstrap confidence interval of the mean of finite ``values``.

    The interval of ``mean(x*)`` over ``n_resamples`` resamples ``x*`` drawn with replacement
    (``scipy.stats.bootstrap``), with a generator seeded by ``seed`` so that the same data always
    give the same interval. ``method``: ``"BCa"``, ``"percentile"``, or ``"auto"`` = BCa for at
    most :data:`BCA_MAX_N` values, else percentile. Degenerate cases are answered directly
    rather than with scipy's warnings: fewer than two values → ``(nan, nan)``; all values equal
    → ``(v, v)``.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return (math.nan, math.nan)
    if np.all(x == x[0]):
        return (float(x[0]), float(x[0]))
    if method == "auto":
        method = "BCa" if x.size <= BCA_MAX_N else "percentile"
    with warnings.catch_warnings():
        # BCa may warn about (near-)degenerate resampling distributions; the interval is still
        # the best available and a NaN is passed on as such.
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            (x,),
            np.mean,
            confidence_level=confidence,
            n_resamples=n_resamples,
            vectorized=True,
            method=method,
            rng=np.random.default_rng(seed),
        )
    return (float(result.confidence_interval.low), float(result.confidence_interval.high))


def describe_values(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> dict[str, float]:
    """``n, n_inf, mean, std, median, ci_low, ci_high`` of a sample (see the module docstring).

    ``n`` counts non-NaN values; ``mean`` and ``std`` (sample std, ``ddof=1``, as pandas) are
    over the finite values; ``median`` over all non-NaN values; the CI is
    :func:`bootstrap_mean_ci` of the finite values.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    finite = x[np.isfinite(x)]
    n_inf = int(x.size - finite.size)
    if finite.size:
        mean = float(finite.mean())
    elif n_inf and np.all(x == x[0]):
        mean = float(x[0])  # every value is the same infinity
    else:
        mean = math.nan
    std = float(finite.std(ddof=1)) if finite.size >= 2 else math.nan
    median = float(np.median(x)) if x.size else math.nan
    low, high = bootstrap_mean_ci(finite, confidence=confidence, n_resamples=n_resamples, seed=seed)
    return {
        "n": int(x.size),
        "n_inf": n_inf,
        "mean": mean,
        "std": std,
        "median": median,
        "ci_low": low,
        "ci_high": high,
    }


def rank_by_direction(means: pd.Series, *, higher_is_better: bool | None) -> pd.Series:
    """Rank 1 = best mean, ties share the better rank (``method='min'``); NaN means get no rank.

    Higher-is-better metrics rank in descending order of the mean, lower-is-better ones in
    ascending order; an unknown direction gives no ranks at all (all NaN).
    """
    if higher_is_better is None:
        return pd.Series(np.nan, index=means.index)
    return means.rank(method="min", ascending=not higher_is_better, na_option="keep")


def holm_adjust(p_values: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (NaNs are kept and not counted).

    For the m non-NaN p-values sorted ascending ``p(1) ≤ … ≤ p(m)``:
    ``p̃(i) = max_{j ≤ i} min(1, (m − j + 1) · p(j))``.
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = valid.size
    if m == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    running = 0.0
    for i, index in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[index]))
        out[index] = running
    return out


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


def leaderboard(
    image_scores: pd.DataFrame,
    *,
    directions: Mapping[str, bool | None],
    by: Sequence[str] = ("task", "dataset"),
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> pd.DataFrame:
    """Per ``by`` × metric × variant: ``n, n_inf, mean, std, median, ci_low, ci_high, rank``.

    Statistics as :func:`describe_values` over the per-image values; ``rank`` as
    :func:`rank_by_direction` within each ``by`` × metric group. Sorted by the group, then rank.
    """
    group = [*by, "metric", "variant_id"]
    rows = []
    for key, frame in image_scores.groupby(group, dropna=False, sort=True):
        first = frame.iloc[0]
        row = dict(zip(group, key))
        row["method"] = first.get("method", row["variant_id"])
        row["label"] = first.get("label", row["method"])
        row.update(describe_values(frame["value"].to_numpy(), confidence=confidence, n_resamples=n_resamples, seed=seed))
        rows.append(row)
    columns = [*group, "method", "label", "n", "n_inf", "mean", "std", "median", "ci_low", "ci_high"]
    board = pd.DataFrame(rows, columns=columns)
    board["rank"] = np.nan
    for key, frame in board.groupby([*by, "metric"], dropna=False, sort=False):
        metric = key[-1]
        board.loc[frame.index, "rank"] = rank_by_direction(frame["mean"], higher_is_better=directions.get(metric))
    return board.sort_values([*by, "metric", "rank", "label"], na_position="last", kind="stable").reset_index(drop=True)


def domain_extremes(
    set_board: pd.DataFrame,
    *,
    directions: Mapping[str, bool | None],
    set_column: str = "group_name",
) -> pd.DataFrame:
    """Per task × domain × metric × variant: its best and its worst set, as the blind-SR study
    reported them.

    ``set_board`` is a :func:`leaderboard` by ``(task, domain, dataset, group_name)``. Best set =
    the highest mean if higher is better, else the lowest; worst the opposite; ties go to the
    first set name in sort order. Metrics of unknown direction are left out.
    """
    rows = []
    keys = ["task", "domain", "metric", "variant_id"]
    for key, frame in set_board.groupby(keys, dropna=False, sort=True):
        higher = directions.get(key[2])
        finite = frame[np.isfinite(frame["mean"])].sort_values(set_column, kind="stable")
        if higher is None or finite.empty:
            continue
        best = finite.loc[finite["mean"].idxmax() if higher else finite["mean"].idxmin()]
        worst = finite.loc[finite["mean"].idxmin() if higher else finite["mean"].idxmax()]
        rows.append({
            **dict(zip(keys, key)),
            "label": frame.iloc[0]["label"],
            "n_sets": int(len(finite)),
            "best_set": best[set_column],
            "best_mean": float(best["mean"]),
            "worst_set": worst[set_column],
            "worst_mean": float(worst["mean"]),
        })
    return pd.DataFrame(rows, columns=[*keys, "label", "n_sets", "best_set", "best_mean", "worst_set", "worst_mean"])


# -- paired comparisons ----------------------------------------------------------------------------
def paired_values(
    image_scores: pd.DataFrame,
    *,
    variant_a: str,
    variant_b: str,
    metric: str,
    keys: Sequence[str] = IMAGE_KEYS,
) -> pd.DataFrame:
    """The images both variants scored on ``metric``: columns ``keys…, a, b``."""
    keys = [k for k in keys if k in image_scores.columns]
    scored = image_scores[image_scores["metric"] == metric]
    a = scored[scored["variant_id"] == variant_a][[*keys, "value"]].rename(columns={"value": "a"})
    b = scored[scored["variant_id"] == variant_b][[*keys, "value"]].rename(columns={"value": "b"})
    # Missing domains are NaN; merging on NaN keys matches them, which is what we want here.
    return a.merge(b, on=keys, how="inner")


def paired_comparison(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> dict[str, float]:
    """Paired comparison of two methods on the same images: ``d = a − b`` per image.

    Returns ``n_pairs`` (finite differences), ``n_dropped`` (pairs with a NaN or an infinity),
    ``mean_delta = mean(d)`` with its bootstrap CI (:func:`bootstrap_mean_ci`), and the
    two-sided Wilcoxon signed-rank test of ``d`` (zero differences dropped, scipy's default):
    ``wilcoxon_statistic`` and ``p_value``. All differences zero → ``p_value = 1``; no pairs →
    NaN everywhere.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        d = a - b
    finite = d[np.isfinite(d)]
    out = {
        "n_pairs": int(finite.size),
        "n_dropped": int(d.size - finite.size),
        "mean_delta": float(finite.mean()) if finite.size else math.nan,
        "ci_low": math.nan,
        "ci_high": math.nan,
        "wilcoxon_statistic": math.nan,
        "p_value": math.nan,
    }
    if finite.size == 0:
        return out
    out["ci_low"], out["ci_high"] = bootstrap_mean_ci(finite, confidence=confidence, n_resamples=n_resamples, seed=seed)
    if np.all(finite == 0):
        out["p_value"] = 1.0
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-sample and ties warnings: the p-value stands
        result = stats.wilcoxon(finite)
    out["wilcoxon_statistic"] = float(result.statistic)
    out["p_value"] = float(result.pvalue)
    return out


def significance_vs_best(
    image_scores: pd.DataFrame,
    board: pd.DataFrame,
    *,
    by: Sequence[str] = ("task", "dataset"),
    alpha: float = 0.05,
    keys: Sequence[str] = IMAGE_KEYS,
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> pd.DataFrame:
    """Which leaderboard differences are significant: each variant against the best one.

    For every ``by`` × metric group of ``board`` (a :func:`leaderboard`) with a rank-1 variant,
    every other variant is compared with it by :func:`paired_comparison` on the images both
    scored (``delta = other − best``). The p-values of one group are Holm-adjusted
    (:func:`holm_adjust`) and ``significant = p_adjusted < alpha``. Ties for rank 1: the first
    by label is "best". Returns ``by…, metric, variant_id, best_variant_id`` and the comparison
    columns.
    """
    rows = []
    for key, group in board.groupby([*by, "metric"], dropna=False, sort=True):
        ranked = group[group["rank"] == 1].sort_values("label", kind="stable")
        if ranked.empty:
            continue
        best = ranked.iloc[0]["variant_id"]
        selection = image_scores
        for column, value in zip(by, key[:-1]):
            selection = selection[selection[column].isna()] if _is_missing(value) else selection[selection[column] == value]
        group_rows = []
        for variant in group["variant_id"]:
            if variant == best:
                continue
            pairs = paired_values(selection, variant_a=variant, variant_b=best, metric=key[-1], keys=keys)
            result = paired_comparison(pairs["a"], pairs["b"], confidence=confidence, n_resamples=n_resamples, seed=seed)
            group_rows.append({**dict(zip([*by, "metric"], key)), "variant_id": variant, "best_variant_id": best, **result})
        adjusted = holm_adjust([r["p_value"] for r in group_rows])
        for row, p in zip(group_rows, adjusted):
            row["p_adjusted"] = float(p)
            row["significant"] = bool(p < alpha) if not math.isnan(p) else False
        rows.extend(group_rows)
    columns = [*by, "metric", "variant_id", "best_variant_id", "n_pairs", "n_dropped", "mean_delta", "ci_low",
               "ci_high", "wilcoxon_statistic", "p_value", "p_adjusted", "significant"]
    return pd.DataFrame(rows, columns=columns)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


# -- behaviour of the top two methods (blind-SR study) -------------------------------------------
def top_variants(
    image_scores: pd.DataFrame, *, metric: str, higher_is_better: bool, n: int = 2
) -> list[str]:
    """The ``n`` best variants on ``metric`` by their mean over all their finite per-image
    values (pooled across sets); ties broken by label, then variant id."""
    scored = image_scores[(image_scores["metric"] == metric) & np.isfinite(image_scores["value"])]
    means = scored.groupby(["variant_id", "label"], dropna=False)["value"].mean().reset_index()
    means = means.sort_values(["value", "label", "variant_id"], ascending=[not higher_is_better, True, True], kind="stable")
    return list(means["variant_id"].head(n))


def extreme_overlap(
    image_scores: pd.DataFrame,
    *,
    variant_a: str,
    variant_b: str,
    metric: str,
    k: int = 10,
    set_keys: Sequence[str] = SET_KEYS,
) -> pd.DataFrame:
    """Per set: how many of A's k lowest-scoring images are among B's k lowest, and the same for
    the k highest.

    ``low_overlap = |L_k(A) ∩ L_k(B)|``, ``high_overlap = |H_k(A) ∩ H_k(B)|`` where ``L_k(X)``
    are the k images with the smallest values of X (by value, whatever the metric's direction)
    and ``H_k`` the k largest, among the images both variants scored (``n_common``); NaNs are
    left out; ties are broken by image name so the answer is deterministic. ``k`` is capped at
    ``n_common``.
    """
    rows = []
    scored = image_scores[(image_scores["metric"] == metric) & image_scores["value"].notna()]
    for key, frame in scored.groupby(list(set_keys), dropna=False, sort=True):
        a = frame[frame["variant_id"] == variant_a].set_index("item")["value"]
        b = frame[frame["variant_id"] == variant_b].set_index("item")["value"]
        common = sorted(set(a.index) & set(b.index))
        if not common:
            continue
        a, b = a.loc[common], b.loc[common]
        kk = min(k, len(common))
        rows.append({
            **dict(zip(set_keys, key if isinstance(key, tuple) else (key,))),
            "n_common": len(common),
            "k": kk,
            "low_overlap": len(_lowest(a, kk) & _lowest(b, kk)),
            "high_overlap": len(_highest(a, kk) & _highest(b, kk)),
        })
    return pd.DataFrame(rows, columns=[*set_keys, "n_common", "k", "low_overlap", "high_overlap"])


def _lowest(values: pd.Series, k: int) -> set[str]:
    frame = pd.DataFrame({"item": values.index, "value": values.to_numpy()})
    return set(frame.sort_values(["value", "item"], kind="stable")["item"].head(k))


def _highest(values: pd.Series, k: int) -> set[str]:
    frame = pd.DataFrame({"item": values.index, "value": values.to_numpy()})
    return set(frame.sort_values(["value", "item"], ascending=[False, True], kind="stable")["item"].head(k))


def overlap_statistics(overlaps: pd.DataFrame) -> dict[str, float]:
    """Statistics across sets of the :func:`extreme_overlap` counts.

    Shapiro–Wilk normality test of ``low_overlap`` and of ``high_overlap`` (``W`` and p; needs at
    least 3 sets and some spread, else NaN), and the association of the two counts across sets:
    Kendall τ (τ-b), Pearson r and Spearman ρ with their two-sided p-values (NaN when fewer than
    3 sets or a count is constant).
    """
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
) -> dict[str, Any]:
    """The blind-SR study's behaviour analysis for ``metric``: the two best variants
    (:func:`top_variants`), their per-set :func:`extreme_overlap`, and the
    :func:`overlap_statistics` across sets. Returns ``{"variants": [a, b], "overlaps": frame,
    "statistics": dict}``; ``variants`` has fewer than two entries when there is nothing to
    compare (then the frame is empty)."""
    variants = top_variants(image_scores, metric=metric, higher_is_better=higher_is_better, n=2)
    if len(variants) < 2:
        empty = pd.DataFrame(columns=[*set_keys, "n_common", "k", "low_overlap", "high_overlap"])
        return {"variants": variants, "overlaps": empty, "statistics": overlap_statistics(empty)}
    overlaps = extreme_overlap(image_scores, variant_a=variants[0], variant_b=variants[1], metric=metric, k=k, set_keys=set_keys)
    return {"variants": variants, "overlaps": overlaps, "statistics": overlap_statistics(overlaps)}


# -- correlations ----------------------------------------------------------------------------------
def correlate(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Pearson r, Spearman ρ and Kendall τ-b of the pairs where both values are finite, with
    two-sided p-values and ``n``. Fewer than 3 pairs or a constant side → NaN (undefined)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    out = {"n": int(x.size)}
    names = (("pearson_r", "pearson_p"), ("spearman_rho", "spearman_p"), ("kendall_tau", "kendall_p"))
    if x.size < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return out | {name: math.nan for pair in names for name in pair}
    for (value, p), result in zip(names, (stats.pearsonr(x, y), stats.spearmanr(x, y), stats.kendalltau(x, y))):
        out[value] = float(result.statistic)
        out[p] = float(result.pvalue)
    return out


def correlation_table(wide: pd.DataFrame) -> pd.DataFrame:
    """:func:`correlate` for every unordered pair of columns of ``wide`` (rows = observations):
    columns ``a, b, n, pearson_r, pearson_p, spearman_rho, spearman_p, kendall_tau, kendall_p``,
    pairs in column order."""
    columns = list(wide.columns)
    rows = []
    for i, a in enumerate(columns):
        for b in columns[i + 1:]:
            rows.append({"a": a, "b": b, **correlate(wide[a].to_numpy(), wide[b].to_numpy())})
    return pd.DataFrame(rows, columns=["a", "b", "n", "pearson_r", "pearson_p", "spearman_rho", "spearman_p", "kendall_tau", "kendall_p"])


def metric_correlations(image_scores: pd.DataFrame, *, keys: Sequence[str] = IMAGE_KEYS) -> pd.DataFrame:
    """Metric–metric correlation across images: one observation per (variant, image), one
    column per metric; see :func:`correlation_table`."""
    keys = [k for k in keys if k in image_scores.columns]
    wide = _pivot(image_scores, index=[*keys, "variant_id"], columns="metric")
    return correlation_table(wide)


def method_correlations(image_scores: pd.DataFrame, *, metric: str, keys: Sequence[str] = IMAGE_KEYS) -> pd.DataFrame:
    """Method–method correlation of per-image scores on ``metric``: one observation per image,
    one column per variant; see :func:`correlation_table` (``a``, ``b`` are variant ids)."""
    keys = [k for k in keys if k in image_scores.columns]
    wide = _pivot(image_scores[image_scores["metric"] == metric], index=keys, columns="variant_id")
    return correlation_table(wide)


def _pivot(frame: pd.DataFrame, *, index: list[str], columns: str) -> pd.DataFrame:
    # Missing index values (e.g. no domain) would be dropped by pivot_table: fill them first.
    filled = frame.copy()
    for column in index:
        if filled[column].isna().any():
            filled[column] = filled[column].astype("object").where(filled[column].notna(), "")
    return filled.pivot_table(index=index, columns=columns, values="value", aggfunc="mean", sort=True)


# -- sharpness of the extremes -------------------------------------------------------------------
def sharpness_of_extremes(
    image_scores: pd.DataFrame,
    *,
    variants: Sequence[str],
    metric: str,
    higher_is_better: bool,
    sharpness_metric: str = "sharpness",
    set_keys: Sequence[str] = SET_KEYS,
) -> pd.DataFrame:
    """Per set and variant: its best and worst image on ``metric`` and the sharpness (RMS
    contrast, ``std(gray)``) of those two outputs, side by side.

    Best = highest value if higher is better, else lowest; images without a finite ``metric``
    value are skipped; ties go to the first image name. ``best_sharpness`` / ``worst_sharpness``
    are NaN when that image has no sharpness score.
    """
    rows = []
    scored = image_scores[image_scores["variant_id"].isin(list(variants))]
    for key, frame in scored.groupby([*set_keys, "variant_id"], dropna=False, sort=True):
        values = frame[(frame["metric"] == metric) & np.isfinite(frame["value"])][["item", "value"]]
        if values.empty:
            continue
        sharp = frame[frame["metric"] == sharpness_metric].set_index("item")["value"]
        ordered = values.sort_values(["value", "item"], ascending=[not higher_is_better, True], kind="stable")
        best, worst = ordered.iloc[0], ordered.sort_values(["value", "item"], ascending=[higher_is_better, True], kind="stable").iloc[0]
        rows.append({
            **dict(zip([*set_keys, "variant_id"], key)),
            "label": frame.iloc[0]["label"],
            "best_item": best["item"],
            "best_score": float(best["value"]),
            "best_sharpness": float(sharp.get(best["item"], math.nan)),
            "worst_item": worst["item"],
            "worst_score": float(worst["value"]),
            "worst_sharpness": float(sharp.get(worst["item"], math.nan)),
        })
    return pd.DataFrame(rows, columns=[*set_keys, "variant_id", "label", "best_item", "best_score", "best_sharpness",
                                       "worst_item", "worst_score", "worst_sharpness"])


# -- SinGAN start-scale curves ---------------------------------------------------------------------
def start_scale_curves(
    scores: pd.DataFrame,
    variant_params: Mapping[str, Mapping[str, Any]],
    *,
    param: str = "gen_start_scale",
    group_column: str = "group_name",
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> pd.DataFrame:
    """Metric versus generation start scale, per method × blur kind × metric × scale.

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


def unique_in_order(values: Iterable[Any]) -> list[Any]:
    """Distinct values in first-seen order."""
    return list(dict.fromkeys(values))
