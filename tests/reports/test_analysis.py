"""reports.analysis on small hand-made tables, against answers computed independently
(by hand, or with pandas/scipy directly). Statistics: test_stats.py; leaderboard tables:
test_tables.py."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from restorebench.reports import analysis as an
from restorebench.reports.tables import board as make_board

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


# -- per-image scores and sets --------------------------------------------------------------------
def test_per_image_scores_average_samples():
    frame = scores_frame([("d", "g", "i1", "a", "psnr", 10.0, 0), ("d", "g", "i1", "a", "psnr", 20.0, 1),
                          ("d", "g", "i2", "a", "psnr", 30.0, 0)])
    image = an.per_image_scores(frame)
    assert sorted(image["value"]) == [15.0, 30.0]


def test_domain_extremes_best_and_worst_set():
    rows = []
    means = {"s1": 5.0, "s2": 7.0, "s3": 6.0}
    for group, mean in means.items():
        for i, delta in enumerate((-1.0, 0.0, 1.0)):
            rows.append(("d", group, f"i{i}", "a", "maniqa", mean + delta))
            rows.append(("d", group, f"i{i}", "a", "niqe", mean + delta))
    board = make_board(an.per_image_scores(scores_frame(rows)), directions={"maniqa": True, "niqe": False},
                       by=("task", "domain", "dataset", "group_name"))
    ext = an.domain_extremes(board, directions={"maniqa": True, "niqe": False}).set_index("metric")
    assert (ext.loc["maniqa", "best_set"], ext.loc["maniqa", "worst_set"]) == ("s2", "s1")
    assert (ext.loc["niqe", "best_set"], ext.loc["niqe", "worst_set"]) == ("s1", "s2")
    assert ext.loc["maniqa", "best_mean"] == 7.0 and ext.loc["maniqa", "n_sets"] == 3


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
    frame = an.sharpness_of_extremes(an.per_image_scores(scores_frame(rows)), variants=["a"], metric="maniqa", higher_is_better=True,
                                     sharpness_metric="sharpness")
    r = frame.iloc[0]
    assert (r["best_item"], r["best_sharpness"], r["worst_item"], r["worst_sharpness"]) == ("i2", 22.0, "i1", 11.0)
    lower = an.sharpness_of_extremes(an.per_image_scores(scores_frame(rows)), variants=["a"], metric="maniqa", higher_is_better=False,
                                     sharpness_metric="sharpness")
    assert (lower.iloc[0]["best_item"], lower.iloc[0]["worst_item"]) == ("i1", "i2")


def test_parameter_curves_per_blur_kind_and_scale():
    rows = []
    for scale in (1, 2):
        for blur in ("motion", "defocus"):
            for sample in range(3):
                rows.append(("t", blur, "img", f"singan-s{scale}", "nima", 4.0 + scale + sample / 10 + (blur == "motion"), sample))
    rows.append(("t", "motion", "img", "wiener-x", "nima", 9.0))
    frame = scores_frame(rows, task="deblur", domain=None)
    params = {"singan-s1": {"gen_start_scale": 1}, "singan-s2": {"gen_start_scale": 2}, "wiener-x": {}}
    curves = an.parameter_curves(frame, params, param="gen_start_scale", **FAST)
    assert set(curves["method"]) == {"singan"} and len(curves) == 4
    row = curves[(curves.group_name == "motion") & (curves.gen_start_scale == 2)].iloc[0]
    assert row["n"] == 3 and row["mean"] == pytest.approx(np.mean([7.0, 7.1, 7.2]))
    assert row["ci_low"] <= row["mean"] <= row["ci_high"]


def test_behaviour_refuses_sets_with_k_images_or_fewer_and_says_why_a_metric_is_dropped():
    rows = []
    for s, n in (("small", 10), ("large", 30)):
        for j in range(n):
            rows.append(("d", s, f"i{j}", "a", "m", float(j)))
            rows.append(("d", s, f"i{j}", "b", "m", float((j * 7) % n)))
    result = an.behaviour_analysis(an.per_image_scores(scores_frame(rows)), metric="m", higher_is_better=True, k=10)
    overlaps = result["overlaps"].set_index("group_name")
    # 10 images in common and k = 10: both overlaps would be 10 whatever the scores
    assert math.isnan(overlaps.loc["small", "low_overlap"]) and "k = 10 ≥ 10" in overlaps.loc["small", "refused"]
    assert overlaps.loc["large", "refused"] is None and overlaps.loc["large", "low_overlap"] < 10
    assert result["statistics"]["n_sets"] == 1 and result["dropped"] is None

    disjoint = [("d", "s", f"a{j}", "a", "m", float(j)) for j in range(20)] + [("d", "s", f"b{j}", "b", "m", float(j)) for j in range(20)]
    result = an.behaviour_analysis(an.per_image_scores(scores_frame(disjoint)), metric="m", higher_is_better=True, k=5)
    assert result["overlaps"].empty and "share no image name" in result["dropped"]
