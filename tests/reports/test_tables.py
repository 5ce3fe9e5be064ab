"""The one table function (reports.tables.board) on hand-made per-image tables: statistics,
ranks with ties, comparisons with the best (paired or unpaired, Holm), macro means, head-to-head
counts over sets."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from restorebench.reports import stats as st
from restorebench.reports.tables import TableOptions, board, macro_board, star, verdict, wins_and_losses

FAST = TableOptions(n_resamples=999)


def image_frame(rows: list[tuple]) -> pd.DataFrame:
    """rows: (dataset, group, item, label, metric, value)."""
    return pd.DataFrame([{"task": "sr", "domain": "aerial", "dataset": d, "group_name": g, "item": i, "label": label,
                          "metric": m, "value": v} for d, g, i, label, m, v in rows])


def test_statistics_and_ranks_respect_direction():
    values = {"a": [30.0, 32.0, 34.0], "b": [20.0, 21.0, 25.0]}
    niqe = {"a": [6.0, 7.0, 8.0], "b": [3.0, 4.0, 4.5]}
    rows = [("d", "g", f"i{i}", v, m, src[v][i]) for v in "ab" for m, src in (("psnr", values), ("niqe", niqe)) for i in range(3)]
    out = board(image_frame(rows), by=("task", "dataset"), directions={"psnr": True, "niqe": False}, options=FAST)
    for r in out.to_dict("records"):
        x = np.array((values if r["metric"] == "psnr" else niqe)[r["label"]])
        assert (r["n"], r["mean"], r["std"], r["median"]) == pytest.approx((3, x.mean(), x.std(ddof=1), np.median(x)))
    rank = {(r["metric"], r["label"]): r["rank"] for r in out.to_dict("records")}
    assert rank[("psnr", "a")] == 1 and rank[("psnr", "b")] == 2
    assert rank[("niqe", "b")] == 1 and rank[("niqe", "a")] == 2  # lower is better


def test_unknown_direction_has_no_rank_and_infinities_are_counted():
    rows = [("d", "g", "i1", "a", "x", 1.0), ("d", "g", "i2", "a", "x", 2.0),
            ("d", "g", "i1", "a", "psnr", math.inf), ("d", "g", "i2", "a", "psnr", 30.0), ("d", "g", "i3", "a", "psnr", 32.0)]
    out = board(image_frame(rows), by=("task",), directions={"psnr": True}, options=FAST).set_index("metric")
    assert math.isnan(out.loc["x", "rank"]) and out.loc["x", "significant"] is None
    assert out.loc["psnr", "n"] == 3 and out.loc["psnr", "n_inf"] == 1 and out.loc["psnr", "mean"] == 31.0


def test_ties_share_the_better_rank_and_say_so():
    rows = [("d", "g", f"i{i}", label, "psnr", v) for i in range(3) for label, v in (("a", 30.0 + i), ("b", 30.0 + i), ("c", 20.0 + i))]
    out = board(image_frame(rows), by=("task",), directions={"psnr": True}, options=FAST).set_index("label")
    assert list(out.loc[["a", "b", "c"], "rank"]) == [1, 1, 3]
    assert out.loc["a", "tied"] and out.loc["b", "tied"] and not out.loc["c", "tied"]
    # the first tied method (by name) is the reference of the comparisons; its twin differs by 0
    assert out.loc["a", "test"] == "best" and out.loc["b", "p_value"] == 1.0 and out.loc["b", "significant"] is False


def test_comparisons_with_the_best_are_paired_or_unpaired_and_holm_adjusted_together():
    rng = np.random.default_rng(5)
    base = rng.normal(30, 2, 30)
    rows = []
    for i, v in enumerate(base):
        rows.append(("d", "g", f"i{i}", "best", "psnr", v + 1.0 + rng.normal(0, 0.1)))
        rows.append(("d", "g", f"i{i}", "close", "psnr", v + 1.0 + rng.normal(0, 0.1) - 0.001))
        rows.append(("d", "g", f"i{i}", "worse", "psnr", v))
        rows.append(("d", "g", f"seed{i}_res.png", "generative", "psnr", v - 0.5 + rng.normal(0, 0.1)))
    frame = image_frame(rows)
    out = board(frame, by=("task", "dataset"), directions={"psnr": True}, options=FAST).set_index("label")
    best = out.index[out["rank"] == 1][0]
    assert best in ("best", "close") and out.loc[best, "test"] == "best" and out.loc[best, "significant"] is None
    other = "close" if best == "best" else "best"
    assert out.loc["worse", "significant"] is True and out.loc[other, "significant"] is False
    assert out.loc["worse", "test"] == st.PAIRED_TEST and out.loc["worse", "n_pairs"] == 30
    # the generative method names its outputs differently: 0 pairs, an unpaired test, labelled
    assert out.loc["generative", "test"] == st.UNPAIRED_TEST and out.loc["generative", "n_pairs"] == 0
    values = lambda label: frame[frame["label"] == label].sort_values("item")["value"].to_numpy()  # noqa: E731
    p = {"worse": stats.wilcoxon(values("worse") - values(best)).pvalue, other: stats.wilcoxon(values(other) - values(best)).pvalue,
         "generative": stats.mannwhitneyu(values("generative"), values(best), alternative="two-sided").pvalue}
    adjusted = dict(zip(p, st.holm_adjust(list(p.values()))))
    for label, expected in adjusted.items():
        assert out.loc[label, "p_adjusted"] == pytest.approx(expected)
    assert star(out.loc["worse"]) == "*" and star(out.loc[other]) == ""
    assert verdict(out.loc["generative", "significant"]) in ("yes", "no") and verdict(None) == "not tested"


def test_macro_means_and_wins_over_sets_by_hand():
    means = {("s1", "a"): 10.0, ("s1", "b"): 8.0, ("s2", "a"): 5.0, ("s2", "b"): 9.0, ("s3", "a"): 7.0, ("s3", "b"): 7.0}
    rows = [("d", s, f"i{i}", label, "m", mean + delta) for (s, label), mean in means.items() for i, delta in enumerate((-1, 0, 1))]
    sets = board(image_frame(rows), by=("task", "dataset", "group_name"), directions={"m": True}, options=FAST)
    macro = macro_board(sets, by=("task",), directions={"m": True}, options=FAST).set_index("label")
    assert macro.loc["a", "mean"] == pytest.approx((10 + 5 + 7) / 3) and macro.loc["a", "n"] == 3
    assert macro.loc["b", "mean"] == pytest.approx(8.0) and macro.loc["b", "rank"] == 1  # 8 > 7.33
    wins = wins_and_losses(sets, by=("task",), directions={"m": True}).set_index("label")
    assert tuple(wins.loc["a", ["wins", "losses", "ties"]]) == (1, 1, 1)
    assert tuple(wins.loc["b", ["wins", "losses", "ties"]]) == (1, 1, 1)
