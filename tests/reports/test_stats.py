"""reports.stats against scipy and hand computations: intervals, ranks, Holm, paired and unpaired
comparisons, the choice between them."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from restorebench.reports import stats as st

FAST = dict(n_resamples=999, seed=0)


def test_describe_values_matches_numpy_and_reports_infinities():
    values = [1.0, 2.0, 4.0, math.inf, math.nan]
    d = st.describe_values(values, **FAST)
    assert d["n"] == 4 and d["n_inf"] == 1
    assert d["mean"] == pytest.approx(7 / 3)
    assert d["std"] == pytest.approx(np.std([1, 2, 4], ddof=1))
    assert d["median"] == pytest.approx(3.0)  # median of 1, 2, 4, inf uses every value
    assert d["ci_low"] <= d["mean"] <= d["ci_high"]


def test_describe_values_all_infinite_and_constant_and_single():
    d = st.describe_values([math.inf, math.inf], **FAST)
    assert d["mean"] == math.inf and math.isnan(d["std"]) and math.isnan(d["ci_low"])
    d = st.describe_values([3.0, 3.0, 3.0], **FAST)
    assert (d["ci_low"], d["ci_high"]) == (3.0, 3.0) and d["std"] == 0
    d = st.describe_values([5.0], **FAST)
    assert d["mean"] == 5.0 and math.isnan(d["ci_low"]) and math.isnan(d["std"])
    d = st.describe_values([], **FAST)
    assert d["n"] == 0 and math.isnan(d["mean"])


@pytest.mark.parametrize("n", [5, 13, 40, 63, 64, 202, 499])
@pytest.mark.parametrize("kind", ["exponential", "ties"])
def test_bootstrap_interval_equals_scipy_bootstrap(n, kind):
    """Our resampling (counts × values) and BCa formulas give scipy's interval, ties included."""
    rng = np.random.default_rng(n)
    x = rng.exponential(size=n) if kind == "exponential" else rng.integers(0, 4, size=n).astype(float)
    for method in ("BCa", "percentile"):
        ours = st.bootstrap_mean_ci(x, n_resamples=999, seed=7, method=method)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = stats.bootstrap((x,), np.mean, n_resamples=999, method=method, rng=np.random.default_rng(7)).confidence_interval
        assert ours == pytest.approx((theirs.low, theirs.high), rel=1e-9, nan_ok=True)
    assert st.bootstrap_mean_ci(x, n_resamples=999, seed=7) == st.bootstrap_mean_ci(x, n_resamples=999, seed=7)


def test_bootstrap_auto_uses_percentile_then_the_normal_interval():
    x = np.random.default_rng(4).exponential(size=st.BCA_MAX_N + 1)
    ours = st.bootstrap_mean_ci(x, n_resamples=499, seed=1)
    theirs = stats.bootstrap((x,), np.mean, n_resamples=499, method="percentile", rng=np.random.default_rng(1)).confidence_interval
    assert ours == pytest.approx((theirs.low, theirs.high))
    large = np.random.default_rng(5).exponential(size=st.NORMAL_MIN_N)
    half = stats.norm.ppf(0.975) * large.std() / math.sqrt(large.size)
    assert st.bootstrap_mean_ci(large) == pytest.approx((large.mean() - half, large.mean() + half))
    # and the normal interval is where the percentile bootstrap is: within its resampling noise
    percentile = st.bootstrap_mean_ci(large, method="percentile", n_resamples=4000)
    assert percentile == pytest.approx(st.bootstrap_mean_ci(large), abs=0.1 * half)


def test_rank_by_direction():
    means = pd.Series([3.0, 1.0, 3.0, math.nan], index=list("abcd"))
    assert list(st.rank_by_direction(means, higher_is_better=True).fillna(-1)) == [1, 3, 1, -1]
    assert list(st.rank_by_direction(means, higher_is_better=False).fillna(-1)) == [2, 1, 2, -1]
    assert st.rank_by_direction(means, higher_is_better=None).isna().all()


def test_holm_adjust_by_hand():
    # sorted p: 0.01 (×3 = 0.03), 0.02 (×2 = 0.04), 0.04 (×1 = 0.04); NaN kept, not counted
    adjusted = st.holm_adjust([0.04, 0.01, math.nan, 0.02])
    assert adjusted[0] == pytest.approx(0.04) and adjusted[1] == pytest.approx(0.03)
    assert math.isnan(adjusted[2]) and adjusted[3] == pytest.approx(0.04)
    assert list(st.holm_adjust([0.5, 0.6])) == [1.0, 1.0]  # capped at 1, monotone


def test_paired_comparison_equals_scipy_wilcoxon():
    rng = np.random.default_rng(3)
    a = rng.normal(1.0, 1.0, 25)
    b = a - rng.normal(0.4, 0.5, 25)
    result = st.paired_comparison(a, b, **FAST)
    assert result["n_pairs"] == 25 and result["n_dropped"] == 0
    assert result["mean_delta"] == pytest.approx(np.mean(a - b))
    assert result["p_value"] == pytest.approx(stats.wilcoxon(a - b).pvalue)
    assert result["ci_low"] < result["mean_delta"] < result["ci_high"]


def test_paired_comparison_drops_infinite_pairs_and_handles_all_zero():
    result = st.paired_comparison([math.inf, 1.0, 2.0], [math.inf, 1.0, 2.0], **FAST)
    assert result["n_pairs"] == 2 and result["n_dropped"] == 1 and result["p_value"] == 1.0
    empty = st.paired_comparison([], [], **FAST)
    assert empty["n_pairs"] == 0 and math.isnan(empty["p_value"])


def test_unpaired_comparison_equals_scipy_mann_whitney_and_a_two_sample_bootstrap():
    rng = np.random.default_rng(8)
    a, b = rng.normal(0.5, 1, 30), rng.normal(0.0, 1, 40)
    result = st.unpaired_comparison(a, b, **FAST)
    assert result["p_value"] == pytest.approx(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    assert result["mean_delta"] == pytest.approx(a.mean() - b.mean())
    ci = stats.bootstrap((a, b), lambda x, y, axis=-1: x.mean(axis=axis) - y.mean(axis=axis), n_resamples=999,
                         method="percentile", rng=np.random.default_rng(0)).confidence_interval
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((ci.low, ci.high))
    assert math.isnan(st.unpaired_comparison([1.0], [2.0, 3.0], **FAST)["p_value"])  # one image: no test


def test_compare_pairs_when_images_pair_and_tests_unpaired_when_they_do_not():
    rng = np.random.default_rng(9)
    names = [f"img{i}" for i in range(30)]
    base = pd.Series(rng.normal(0, 1, 30), index=names)
    close = base + 0.05 + rng.normal(0, 0.01, 30)  # tiny but consistent: the paired test sees it
    paired = st.compare(close, base, **FAST)
    assert paired["test"] == st.PAIRED_TEST and paired["n_pairs"] == 30
    assert paired["p_value"] == pytest.approx(stats.wilcoxon(close - base).pvalue) and paired["p_value"] < 0.001
    # the same values under other names (a generative method's seed1092_res.png): no pairs
    renamed = pd.Series(close.to_numpy(), index=[f"seed{i}_res.png" for i in range(30)])
    unpaired = st.compare(renamed, base, **FAST)
    assert unpaired["test"] == st.UNPAIRED_TEST and unpaired["n_pairs"] == 0
    assert unpaired["p_value"] == pytest.approx(stats.mannwhitneyu(close, base, alternative="two-sided").pvalue)
    # a few shared names among many: still unpaired (less than half of the smaller side)
    mostly = pd.Series(close.to_numpy(), index=names[:5] + [f"x{i}" for i in range(25)])
    assert st.compare(mostly, base, **FAST)["test"] == st.UNPAIRED_TEST
    # one image on a side: neither test applies — "not tested", never a "no"
    single = st.compare(pd.Series([1.0], index=["other"]), base, **FAST)
    assert single["test"] == st.NOT_TESTED and math.isnan(single["p_value"])


def test_correlate_equals_pandas_and_handles_degenerate_input():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, math.inf])
    y = np.array([2.0, 1.0, 4.0, 3.0, 6.0, 1.0])
    c = st.correlate(x, y)
    frame = pd.DataFrame({"x": x[:5], "y": y[:5]})
    assert c["n"] == 5
    for method, key in (("pearson", "pearson_r"), ("spearman", "spearman_rho"), ("kendall", "kendall_tau")):
        assert c[key] == pytest.approx(frame.corr(method=method).loc["x", "y"])
    assert math.isnan(st.correlate([1, 1, 1], [1, 2, 3])["pearson_r"])
    assert math.isnan(st.correlate([1, 2], [1, 2])["kendall_p"])
