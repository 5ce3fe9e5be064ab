"""reports.analysis on small hand-made tables, against answers computed independently
(by hand, or with pandas/scipy directly)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from restorebench.reports import analysis as an

FAST = dict(n_resamples=999, seed=0)


def scores_frame(rows: list[tuple], *, task: str = "sr", domain: str | None = "aerial") -> pd.DataFrame:
    """rows: (dataset, group, item, variant, metric, value[, sample])."""
    records = []
    for row in rows:
        dataset, group, item, variant, metric, value, *rest = row
        records.append({"task": task, "domain": domain, "dataset": dataset, "group_name": group, "item": item,
                        "method": variant.split("-")[0], "variant_id": variant, "label": variant.upper(),
                        "seed": 0, "sample": rest[0] if rest else 0, "metric": metric, "value": value})
    return pd.DataFrame(records)


# -- basic statistics ------------------------------------------------------------------------------
def test_describe_values_matches_numpy_and_reports_infinities():
    values = [1.0, 2.0, 4.0, math.inf, math.nan]
    d = an.describe_values(values, **FAST)
    assert d["n"] == 4 and d["n_inf"] == 1
    assert d["mean"] == pytest.approx(7 / 3)
    assert d["std"] == pytest.approx(np.std([1, 2, 4], ddof=1))
    assert d["median"] == pytest.approx(3.0)  # median of 1, 2, 4, inf uses every value
    assert d["ci_low"] <= d["mean"] <= d["ci_high"]


def test_describe_values_all_infinite_and_constant_and_single():
    d = an.describe_values([math.inf, math.inf], **FAST)
    assert d["mean"] == math.inf and math.isnan(d["std"]) and math.isnan(d["ci_low"])
    d = an.describe_values([3.0, 3.0, 3.0], **FAST)
    assert (d["ci_low"], d["ci_high"]) == (3.0, 3.0) and d["std"] == 0
    d = an.describe_values([5.0], **FAST)
    assert d["mean"] == 5.0 and math.isnan(d["ci_low"]) and math.isnan(d["std"])
    d = an.describe_values([], **FAST)
    assert d["n"] == 0 and math.isnan(d["mean"])


def test_bootstrap_ci_equals_scipy_with_the_same_seed_and_is_reproducible():
    x = np.random.default_rng(1).normal(10, 2, size=40)
    ours = an.bootstrap_mean_ci(x, n_resamples=999, seed=7)
    theirs = stats.bootstrap((x,), np.mean, n_resamples=999, rng=np.random.default_rng(7)).confidence_interval
    assert ours == pytest.approx((theirs.low, theirs.high))
    assert ours == an.bootstrap_mean_ci(x, n_resamples=999, seed=7)


def test_rank_by_direction():
    means = pd.Series([3.0, 1.0, 3.0, math.nan], index=list("abcd"))
    assert list(an.rank_by_direction(means, higher_is_better=True).fillna(-1)) == [1, 3, 1, -1]
    assert list(an.rank_by_direction(means, higher_is_better=False).fillna(-1)) == [2, 1, 2, -1]
    assert an.rank_by_direction(means, higher_is_better=None).isna().all()


def test_holm_adjust_by_hand():
    # sorted p: 0.01 (×3 = 0.03), 0.02 (×2 = 0.04), 0.04 (×1 = 0.04); NaN kept, not counted
    adjusted = an.holm_adjust([0.04, 0.01, math.nan, 0.02])
    assert adjusted[0] == pytest.approx(0.04) and adjusted[1] == pytest.approx(0.03)
    assert math.isnan(adjusted[2]) and adjusted[3] == pytest.approx(0.04)
    assert list(an.holm_adjust([0.5, 0.6])) == [1.0, 1.0]  # capped at 1, monotone


# -- leaderboard ----------------------------------------------------------------------------------
def test_per_image_scores_average_samples():
    frame = scores_frame([("d", "g", "i1", "a", "psnr", 10.0, 0), ("d", "g", "i1", "a", "psnr", 20.0, 1),
                          ("d", "g", "i2", "a", "psnr", 30.0, 0)])
    image = an.per_image_scores(frame)
    assert sorted(image["value"]) == [15.0, 30.0]


def test_leaderboard_statistics_and_ranks_respect_direction():
    rows = []
    values = {"a": [30.0, 32.0, 34.0], "b": [20.0, 21.0, 25.0]}
    niqe = {"a": [6.0, 7.0, 8.0], "b": [3.0, 4.0, 4.5]}
    for variant in "ab":
        for i in range(3):
            rows.append(("d", "g", f"i{i}", variant, "psnr", values[variant][i]))
            rows.append(("d", "g", f"i{i}", variant, "niqe", niqe[variant][i]))
    board = an.leaderboard(an.per_image_scores(scores_frame(rows)), directions={"psnr": True, "niqe": False}, **FAST)
    expected = pd.DataFrame([(v, m, x) for v, d in (("a", values), ("b", values)) for m, src in (("psnr", values), ("niqe", niqe)) for x in src[v]],
                            columns=["variant_id", "metric", "value"])
    truth = expected.groupby(["metric", "variant_id"])["value"].agg(["count", "mean", "std", "median"])
    for r in board.to_dict("records"):
        t = truth.loc[(r["metric"], r["variant_id"])]
        assert (r["n"], r["mean"], r["std"], r["median"]) == pytest.approx((t["count"], t["mean"], t["std"], t["median"]))
    rank = {(r["metric"], r["variant_id"]): r["rank"] for r in board.to_dict("records")}
    assert rank[("psnr", "a")] == 1 and rank[("psnr", "b")] == 2
    assert rank[("niqe", "b")] == 1 and rank[("niqe", "a")] == 2  # lower is better
    assert set(board["label"]) == {"A", "B"}


def test_leaderboard_unknown_direction_has_no_rank_and_infinities_are_counted():
    frame = scores_frame([("d", "g", "i1", "a", "x", 1.0), ("d", "g", "i2", "a", "x", 2.0),
                          ("d", "g", "i1", "a", "psnr", math.inf), ("d", "g", "i2", "a", "psnr", 30.0),
                          ("d", "g", "i3", "a", "psnr", 32.0)])
    board = an.leaderboard(an.per_image_scores(frame), directions={"psnr": True}, **FAST).set_index("metric")
    assert math.isnan(board.loc["x", "rank"])
    assert board.loc["psnr", "n"] == 3 and board.loc["psnr", "n_inf"] == 1 and board.loc["psnr", "mean"] == 31.0


def test_domain_extremes_best_and_worst_set():
    rows = []
    means = {"s1": 5.0, "s2": 7.0, "s3": 6.0}
    for group, mean in means.items():
        for i, delta in enumerate((-1.0, 0.0, 1.0)):
            rows.append(("d", group, f"i{i}", "a", "maniqa", mean + delta))
            rows.append(("d", group, f"i{i}", "a", "niqe", mean + delta))
    board = an.leaderboard(an.per_image_scores(scores_frame(rows)), directions={"maniqa": True, "niqe": False},
                           by=("task", "domain", "dataset", "group_name"), **FAST)
    ext = an.domain_extremes(board, directions={"maniqa": True, "niqe": False}).set_index("metric")
    assert (ext.loc["maniqa", "best_set"], ext.loc["maniqa", "worst_set"]) == ("s2", "s1")
    assert (ext.loc["niqe", "best_set"], ext.loc["niqe", "worst_set"]) == ("s1", "s2")
    assert ext.loc["maniqa", "best_mean"] == 7.0 and ext.loc["maniqa", "n_sets"] == 3


# -- paired comparisons ----------------------------------------------------------------------------
def test_paired_comparison_equals_scipy_wilcoxon():
    rng = np.random.default_rng(3)
    a = rng.normal(1.0, 1.0, 25)
    b = a - rng.normal(0.4, 0.5, 25)
    result = an.paired_comparison(a, b, **FAST)
    reference = stats.wilcoxon(a - b)
    assert result["n_pairs"] == 25 and result["n_dropped"] == 0
    assert result["mean_delta"] == pytest.approx(np.mean(a - b))
    assert result["p_value"] == pytest.approx(reference.pvalue)
    assert result["ci_low"] < result["mean_delta"] < result["ci_high"]


def test_paired_comparison_drops_infinite_pairs_and_handles_all_zero():
    result = an.paired_comparison([math.inf, 1.0, 2.0], [math.inf, 1.0, 2.0], **FAST)
    assert result["n_pairs"] == 2 and result["n_dropped"] == 1 and result["p_value"] == 1.0
    empty = an.paired_comparison([], [], **FAST)
    assert empty["n_pairs"] == 0 and math.isnan(empty["p_value"])


def test_significance_vs_best_marks_only_real_differences():
    rng = np.random.default_rng(5)
    base = rng.normal(30, 2, 30)
    rows = []
    for i, v in enumerate(base):
        rows.append(("d", "g", f"i{i}", "best", "psnr", v + 1.0 + rng.normal(0, 0.1)))
        rows.append(("d", "g", f"i{i}", "close", "psnr", v + 1.0 + rng.normal(0, 0.1) - 0.001))
        rows.append(("d", "g", f"i{i}", "worse", "psnr", v))
    image = an.per_image_scores(scores_frame(rows))
    board = an.leaderboard(image, directions={"psnr": True}, **FAST)
    sig = an.significance_vs_best(image, board, **FAST).set_index("variant_id")
    best = board.loc[board["rank"] == 1, "variant_id"].iloc[0]
    assert best in ("best", "close") and best not in sig.index
    assert bool(sig.loc["worse", "significant"]) is True
    other = "close" if best == "best" else "best"
    assert bool(sig.loc[other, "significant"]) is False
    p = [stats.wilcoxon(image[(image.variant_id == v)].sort_values("item")["value"].to_numpy()
                        - image[(image.variant_id == best)].sort_values("item")["value"].to_numpy()).pvalue for v in sig.index]
    assert list(sig["p_adjusted"]) == pytest.approx(list(an.holm_adjust(p)))


# -- behaviour analysis ----------------------------------------------------------------------------
def independent_overlap(a: dict[str, float], b: dict[str, float], k: int) -> tuple[int, int]:
    common = sorted(set(a) & set(b))
    low_a = set(sorted(common, key=lambda i: (a[i], i))[:k])
    low_b = set(sorted(common, key=lambda i: (b[i], i))[:k])
    high_a = set(sorted(common, key=lambda i: (-a[i], i))[:k])
    high_b = set(sorted(common, key=lambda i: (-b[i], i))[:k])
    return len(low_a & low_b), len(high_a & high_b)


def test_extreme_overlap_by_hand():
    a = {"i1": 1, "i2": 2, "i3": 3, "i4": 4, "i5": 5}
    b = {"i1": 5, "i2": 1, "i3": 2, "i4": 4, "i5": 3, "only_b": 0}
    rows = [("d", "s", i, "a", "m", float(v)) for i, v in a.items()] + [("d", "s", i, "b", "m", float(v)) for i, v in b.items()]
    overlap = an.extreme_overlap(an.per_image_scores(scores_frame(rows)), variant_a="a", variant_b="b", metric="m", k=2)
    # lowest 2: a {i1, i2}, b {i2, i3} → 1; highest 2: a {i5, i4}, b {i1, i4} → 1; only_b is not common
    assert overlap.iloc[0][["n_common", "k", "low_overlap", "high_overlap"]].tolist() == [5, 2, 1, 1]


def test_behaviour_analysis_statistics_equal_scipy():
    rng = np.random.default_rng(11)
    rows = []
    truth = []
    for s in range(8):
        a = {f"i{j}": float(rng.normal()) for j in range(30)}
        b = {i: v + float(rng.normal(0, 0.5 + s / 4)) for i, v in a.items()}
        for i in a:
            rows.append(("d", f"s{s}", i, "a", "m", a[i] + 1.0))  # a is the best on average
            rows.append(("d", f"s{s}", i, "b", "m", b[i]))
            rows.append(("d", f"s{s}", i, "c", "m", b[i] - 5.0))
        truth.append(independent_overlap({i: v + 1.0 for i, v in a.items()}, b, 10))
    result = an.behaviour_analysis(an.per_image_scores(scores_frame(rows)), metric="m", higher_is_better=True, k=10)
    assert result["variants"] == ["a", "b"]
    assert list(zip(result["overlaps"]["low_overlap"], result["overlaps"]["high_overlap"])) == truth
    low, high = np.array(truth, dtype=float).T
    st = result["statistics"]
    assert st["shapiro_low_p"] == pytest.approx(stats.shapiro(low).pvalue)
    assert st["kendall_tau"] == pytest.approx(stats.kendalltau(low, high).statistic)
    assert st["pearson_p"] == pytest.approx(stats.pearsonr(low, high).pvalue)
    assert st["spearman_rho"] == pytest.approx(stats.spearmanr(low, high).statistic)


# -- correlations ----------------------------------------------------------------------------------
def test_correlate_equals_pandas_and_handles_degenerate_input():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, math.inf])
    y = np.array([2.0, 1.0, 4.0, 3.0, 6.0, 1.0])
    c = an.correlate(x, y)
    frame = pd.DataFrame({"x": x[:5], "y": y[:5]})
    assert c["n"] == 5
    for method, key in (("pearson", "pearson_r"), ("spearman", "spearman_rho"), ("kendall", "kendall_tau")):
        assert c[key] == pytest.approx(frame.corr(method=method).loc["x", "y"])
    assert math.isnan(an.correlate([1, 1, 1], [1, 2, 3])["pearson_r"])
    assert math.isnan(an.correlate([1, 2], [1, 2])["kendall_p"])


def test_metric_and_method_correlations():
    rng = np.random.default_rng(2)
    rows = []
    for i in range(20):
        q = float(rng.normal())
        for variant, offset in (("a", 0.0), ("b", 1.0)):
            rows.append(("d", "g", f"i{i}", variant, "psnr", 30 + q + offset + float(rng.normal(0, 0.1))))
            rows.append(("d", "g", f"i{i}", variant, "niqe", 5 - q + float(rng.normal(0, 0.1))))
    image = an.per_image_scores(scores_frame(rows))
    metric_corr = an.metric_correlations(image)
    wide = image.pivot_table(index=["item", "variant_id"], columns="metric", values="value")
    assert metric_corr.iloc[0]["spearman_rho"] == pytest.approx(wide.corr(method="spearman").loc["niqe", "psnr"])
    assert metric_corr.iloc[0]["n"] == 40
    method_corr = an.method_correlations(image, metric="psnr")
    wide = image[image.metric == "psnr"].pivot_table(index="item", columns="variant_id", values="value")
    assert method_corr.iloc[0]["pearson_r"] == pytest.approx(wide.corr().loc["a", "b"])


# -- sharpness and start scale ---------------------------------------------------------------------
def test_sharpness_of_extremes_side_by_side():
    rows = [("d", "s", "i1", "a", "maniqa", 0.2), ("d", "s", "i2", "a", "maniqa", 0.9), ("d", "s", "i3", "a", "maniqa", 0.5),
            ("d", "s", "i1", "a", "sharpness", 11.0), ("d", "s", "i2", "a", "sharpness", 22.0), ("d", "s", "i3", "a", "sharpness", 33.0)]
    frame = an.sharpness_of_extremes(an.per_image_scores(scores_frame(rows)), variants=["a"], metric="maniqa", higher_is_better=True)
    r = frame.iloc[0]
    assert (r["best_item"], r["best_sharpness"], r["worst_item"], r["worst_sharpness"]) == ("i2", 22.0, "i1", 11.0)
    lower = an.sharpness_of_extremes(an.per_image_scores(scores_frame(rows)), variants=["a"], metric="maniqa", higher_is_better=False)
    assert (lower.iloc[0]["best_item"], lower.iloc[0]["worst_item"]) == ("i1", "i2")


def test_start_scale_curves_per_blur_kind_and_scale():
    rows = []
    for scale in (1, 2):
        for blur in ("motion", "defocus"):
            for sample in range(3):
                rows.append(("t", blur, "img", f"singan-s{scale}", "nima", 4.0 + scale + sample / 10 + (blur == "motion"), sample))
    rows.append(("t", "motion", "img", "wiener-x", "nima", 9.0))
    frame = scores_frame(rows, task="deblur", domain=None)
    params = {"singan-s1": {"gen_start_scale": 1}, "singan-s2": {"gen_start_scale": 2}, "wiener-x": {}}
    curves = an.start_scale_curves(frame, params, **FAST)
    assert set(curves["method"]) == {"singan"} and len(curves) == 4
    row = curves[(curves.group_name == "motion") & (curves.gen_start_scale == 2)].iloc[0]
    assert row["n"] == 3 and row["mean"] == pytest.approx(np.mean([7.0, 7.1, 7.2]))
    assert row["ci_low"] <= row["mean"] <= row["ci_high"]


def test_bootstrap_auto_uses_percentile_for_large_samples():
    x = np.random.default_rng(4).exponential(size=an.BCA_MAX_N + 1)
    ours = an.bootstrap_mean_ci(x, n_resamples=499, seed=1)
    theirs = stats.bootstrap((x,), np.mean, n_resamples=499, method="percentile", rng=np.random.default_rng(1)).confidence_interval
    assert ours == pytest.approx((theirs.low, theirs.high))
    assert an.bootstrap_mean_ci(x, n_resamples=499, seed=1, method="BCa") != ours
