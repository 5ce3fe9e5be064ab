"""The statistics behind every table: means with bootstrap intervals, ranks, comparisons with the
best method (paired where outputs pair, unpaired where they do not), Holm's correction,
correlations. Pure functions of numbers; :mod:`restorebench.reports.tables` applies them to
scores.

**Infinite values.** PSNR of two identical images is ``+inf`` — a true value, not an error.
Means, standard deviations and confidence intervals are computed over the *finite* values and
the number of infinite ones is reported next to them (``n_inf``); the median uses every value.
When every value is the same infinity, the mean is that infinity and the spread is undefined.
NaN values are missing.
"""
from __future__ import annotations

import functools
import math
import warnings
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 9999
DEFAULT_SEED = 0
#: Largest sample for which ``method="auto"`` uses the BCa interval. BCa's jackknife costs O(n²)
#: time and memory; beyond a few hundred values the skewness and bias it corrects for the mean
#: are negligible and the percentile interval is as accurate (and 3–4× faster at n ≈ 3000).
BCA_MAX_N = 500
#: Smallest sample for which ``method="auto"`` uses the normal interval ``mean ± z·σ̂/√n`` (σ̂
#: with ddof 0, the bootstrap's own standard error). The percentile bootstrap of a mean converges
#: to it; from a thousand values on the difference (a skewness term of order n^-1/2 of an already
#: small width) is below the Monte Carlo noise of 2000 resamples, while resampling would cost
#: n × resamples per cell — the bulk of a site build over a million scores.
NORMAL_MIN_N = 1000
#: Comparisons: a paired test needs at least this many pairs, covering at least half of the
#: smaller method's images; otherwise the comparison is unpaired.
MIN_PAIRS = 2
PAIRED_TEST = "Wilcoxon signed-rank (paired)"
UNPAIRED_TEST = "Mann–Whitney U (unpaired)"
NOT_TESTED = "not tested"


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    return x[np.isfinite(x)]


def bootstrap_mean_ci(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    method: str = "auto",
) -> tuple[float, float]:
    """Bootstrap confidence interval of the mean of the finite ``values``.

    The interval of ``mean(x*)`` over ``n_resamples`` resamples ``x*`` drawn with replacement,
    with a generator seeded by ``seed`` so that the same data always give the same interval —
    the interval of ``scipy.stats.bootstrap`` (same draws, same percentile and BCa formulas),
    computed faster. ``method``: ``"BCa"``, ``"percentile"``, ``"normal"``, or ``"auto"`` =
    BCa up to :data:`BCA_MAX_N` values, normal from :data:`NORMAL_MIN_N`, percentile between.
    Fewer than two values → ``(nan, nan)``; all values equal → ``(v, v)``.
    """
    x = _finite(values)
    if x.size < 2:
        return (math.nan, math.nan)
    if np.all(x == x[0]):
        return (float(x[0]), float(x[0]))
    if method == "auto":
        method = "BCa" if x.size <= BCA_MAX_N else "normal" if x.size >= NORMAL_MIN_N else "percentile"
    z = stats.norm.ppf(0.5 + confidence / 2)
    if method == "normal":
        half = z * x.std() / math.sqrt(x.size)
        return (float(x.mean() - half), float(x.mean() + half))
    # The resample means as scipy.stats.bootstrap draws them (same generator, same calls). From
    # SMALL_N values on, as a product of the resampling counts with x (one matrix product instead
    # of a gather); below, exactly as scipy sums them, since with few values many resamples tie
    # with the mean and BCa counts the ties.
    draws, counts = _resamples(x.size, n_resamples, seed)
    means = x[draws].mean(axis=-1) if counts is None else counts @ x / x.size
    alpha = (1 - confidence) / 2
    levels = [alpha, 1 - alpha]
    if method == "BCa":  # Efron & Tibshirani (1993) 14.3; the jackknife of a mean is closed-form
        mean = x.mean()
        z0 = special.ndtri(((means < mean).sum() + (means <= mean).sum()) / (2 * means.size))
        leave_one_out = (x.sum() - x) / (x.size - 1)
        u = (x.size - 1) * (leave_one_out.mean() - leave_one_out)
        accel = (u**3).sum() / x.size**3 / ((u**2).sum() / x.size**2) ** 1.5 / 6
        levels = [special.ndtr(z0 + (z0 + zz) / (1 - accel * (z0 + zz))) for zz in (-z, z)]
    if not all(0 <= q <= 1 for q in levels):  # a degenerate BCa correction: no interval
        return (math.nan, math.nan)
    low, high = np.quantile(means, levels)
    return (float(low), float(high))


SMALL_N = 64


@functools.lru_cache(maxsize=4)
def _resamples(n: int, n_resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The draws ``default_rng(seed).integers(0, n, (n_resamples, n))`` of
    ``scipy.stats.bootstrap`` and, from :data:`SMALL_N` values on, how often each value is
    drawn in each resample."""
    draws = np.random.default_rng(seed).integers(0, n, (n_resamples, n))
    if n < SMALL_N:
        return draws, None
    flat = (draws + np.arange(n_resamples)[:, None] * n).ravel()
    return draws, np.bincount(flat, minlength=n_resamples * n).reshape(n_resamples, n).astype(np.float64)


def describe_values(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> dict[str, float]:
    """``n, n_inf, mean, std, median, ci_low, ci_high`` of a sample (see the module docstring).

    ``n`` counts non-NaN values; ``mean`` and ``std`` (sample std, ``ddof=1``) are over the
    finite values; ``median`` over all non-NaN values; the CI is :func:`bootstrap_mean_ci`;
    ``n_resamples=0`` skips it (NaN), for callers that show no interval.
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
    low, high = (bootstrap_mean_ci(finite, confidence=confidence, n_resamples=n_resamples, seed=seed)
                 if n_resamples else (math.nan, math.nan))
    return {"n": int(x.size), "n_inf": n_inf, "mean": mean, "std": std, "median": median, "ci_low": low, "ci_high": high}


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


# -- comparisons -----------------------------------------------------------------------------------
def paired_comparison(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> dict[str, float]:
    """Paired comparison of two methods on the same images: ``d = a − b`` per image.

    ``n_pairs`` (finite differences), ``n_dropped`` (pairs with a NaN or an infinity),
    ``mean_delta = mean(d)`` with its bootstrap CI (:func:`bootstrap_mean_ci`; none when
    ``n_resamples`` is 0), and the
    two-sided Wilcoxon signed-rank test of ``d`` (zero differences dropped, scipy's default):
    ``statistic`` and ``p_value``. All differences zero → ``p_value = 1``; no pairs → NaN.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        d = a - b
    finite = d[np.isfinite(d)]
    out = {"n_pairs": int(finite.size), "n_dropped": int(d.size - finite.size),
           "mean_delta": float(finite.mean()) if finite.size else math.nan,
           "ci_low": math.nan, "ci_high": math.nan, "statistic": math.nan, "p_value": math.nan}
    if finite.size == 0:
        return out
    if n_resamples:
        out["ci_low"], out["ci_high"] = bootstrap_mean_ci(finite, confidence=confidence, n_resamples=n_resamples, seed=seed)
    if np.all(finite == 0):
        out["p_value"] = 1.0
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-sample and ties warnings: the p-value stands
        result = stats.wilcoxon(finite)
    out["statistic"], out["p_value"] = float(result.statistic), float(result.pvalue)
    return out


def unpaired_comparison(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> dict[str, float]:
    """Unpaired comparison of two samples of images that do not correspond.

    ``mean_delta = mean(a) − mean(b)`` over the finite values, its bootstrap CI (``a`` and ``b``
    resampled independently; the normal interval ``Δ ± z·√(σ̂a²/na + σ̂b²/nb)`` from
    :data:`NORMAL_MIN_N` values on the smaller side), and the two-sided Mann–Whitney U test of
    all non-NaN values (infinities rank last or first, which is what they are).
    """
    a_all, b_all = (np.asarray(v, dtype=np.float64) for v in (a, b))
    a_all, b_all = a_all[~np.isnan(a_all)], b_all[~np.isnan(b_all)]
    fa, fb = a_all[np.isfinite(a_all)], b_all[np.isfinite(b_all)]
    out = {"n_a": int(a_all.size), "n_b": int(b_all.size),
           "mean_delta": float(fa.mean() - fb.mean()) if fa.size and fb.size else math.nan,
           "ci_low": math.nan, "ci_high": math.nan, "statistic": math.nan, "p_value": math.nan}
    if min(a_all.size, b_all.size) < 2:
        return out
    if min(fa.size, fb.size) >= 2 and n_resamples:
        if min(fa.size, fb.size) >= NORMAL_MIN_N:
            half = stats.norm.ppf(0.5 + confidence / 2) * math.sqrt(fa.var() / fa.size + fb.var() / fb.size)
            out["ci_low"], out["ci_high"] = out["mean_delta"] - half, out["mean_delta"] + half
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ci = stats.bootstrap((fa, fb), lambda x, y, axis=-1: x.mean(axis=axis) - y.mean(axis=axis),
                                     confidence_level=confidence, n_resamples=n_resamples, vectorized=True,
                                     method="percentile", rng=np.random.default_rng(seed)).confidence_interval
            out["ci_low"], out["ci_high"] = float(ci.low), float(ci.high)
    result = stats.mannwhitneyu(a_all, b_all, alternative="two-sided")
    out["statistic"], out["p_value"] = float(result.statistic), float(result.pvalue)
    return out


def compare(
    a: pd.Series,
    b: pd.Series,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> dict[str, object]:
    """Compare method ``a`` with method ``b`` (``delta = a − b``); both are per-image values
    indexed by an image key.

    Paired (:func:`paired_comparison` on the common images) when at least :data:`MIN_PAIRS`
    images pair and they are at least half of the smaller method's images; otherwise unpaired
    (:func:`unpaired_comparison` of all images) when each side has two values; otherwise not
    tested. Returns ``test`` (:data:`PAIRED_TEST`, :data:`UNPAIRED_TEST` or :data:`NOT_TESTED`),
    ``n_pairs``, ``n_a``, ``n_b``, ``mean_delta``, ``ci_low``, ``ci_high``, ``p_value``.
    """
    common = a.index.intersection(b.index)
    n_pairs = int(len(common))
    options = dict(confidence=confidence, n_resamples=n_resamples, seed=seed)
    base = {"n_pairs": n_pairs, "n_a": int(a.notna().sum()), "n_b": int(b.notna().sum())}
    if n_pairs >= MIN_PAIRS and n_pairs * 2 >= min(len(a), len(b)):
        result = paired_comparison(a.loc[common].to_numpy(), b.loc[common].to_numpy(), **options)
        if result["n_pairs"] >= 1:
            return {**base, "test": PAIRED_TEST, **_pick(result)}
    result = unpaired_comparison(a.to_numpy(), b.to_numpy(), **options)
    if math.isnan(result["p_value"]):
        return {**base, "test": NOT_TESTED, **_pick(result)}
    return {**base, "test": UNPAIRED_TEST, **_pick(result)}


def _pick(result: dict[str, float]) -> dict[str, float]:
    return {k: result[k] for k in ("mean_delta", "ci_low", "ci_high", "p_value")}


# -- correlations ----------------------------------------------------------------------------------
def correlate(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, *,
              ranks: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, float]:
    """Pearson r, Spearman ρ and Kendall τ-b of the pairs where both values are finite, with
    two-sided p-values and ``n``. Fewer than 3 pairs or a constant side → NaN (undefined).

    ``ranks``: the average ranks of ``x`` and ``y`` when every value of both is finite (a caller
    correlating many pairs ranks each column once). Spearman's ρ is Pearson's r of the ranks,
    with the same t-test p-value as ``scipy.stats.spearmanr``.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    if not keep.all():
        x, y, ranks = x[keep], y[keep], None
    out = {"n": int(x.size)}
    names = (("pearson_r", "pearson_p"), ("spearman_rho", "spearman_p"), ("kendall_tau", "kendall_p"))
    if x.size < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return out | {name: math.nan for pair in names for name in pair}
    rank_x, rank_y = ranks if ranks is not None else (stats.rankdata(x), stats.rankdata(y))
    out["pearson_r"], out["pearson_p"] = pearson(x, y)
    out["spearman_rho"], out["spearman_p"] = pearson(rank_x, rank_y)
    kendall = stats.kendalltau(x, y)
    out["kendall_tau"], out["kendall_p"] = float(kendall.statistic), float(kendall.pvalue)
    return out


def pearson(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Pearson's r and its two-sided p-value, as ``scipy.stats.pearsonr`` computes them (the
    exact test under normality: ``t = r·√((n−2)/(1−r²))`` with n − 2 degrees of freedom, which is
    scipy's beta distribution of r), without its input checks — this runs for every pair of
    columns of a million-row table."""
    xm, ym = x - x.mean(), y - y.mean()
    # Plain sums, not BLAS: a threaded dot product waits on every other busy core.
    r = float(np.clip((xm * ym).sum() / math.sqrt((xm * xm).sum() * (ym * ym).sum()), -1.0, 1.0))
    if abs(r) == 1.0:
        return r, 0.0
    t = r * math.sqrt((x.size - 2) / (1.0 - r * r))
    return r, float(2 * stats.t.sf(abs(t), x.size - 2))
