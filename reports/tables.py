"""Leaderboard tables: the one function that turns per-image scores into means, intervals, ranks
and comparisons with the best method. The terminal leaderboard (``restorebench leaderboard``) and
every table of the site call it, so they cannot disagree.

**The observation unit is the image.** Scores of several samples or seeds of one image are
averaged first (in DuckDB, :data:`restorebench.reports.queries.IMAGE_SCORES`), so ``n`` counts
images and a method that draws five samples per image is not credited with five times the
evidence. A set-level method (a GAN trained on a whole set) restores no given image: each of its
samples is an image of its own, compared with the others through unpaired tests. A method is a leaderboard row: its *label* (the store keeps the latest result of a
label per image).

**Comparisons** (:func:`restorebench.reports.stats.compare`): each method against the best one of
its column — paired Wilcoxon where their images pair, unpaired Mann–Whitney U where they do not,
"not tested" where neither applies — Holm-adjusted within the column. ``significant`` is
``True``/``False`` for a tested comparison and ``None`` otherwise; the site and the terminal
mark ``True`` with ``*``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from restorebench.reports import queries
from restorebench.reports import stats as st

#: Columns that identify one image (over methods): a set is (dataset, group_name).
IMAGE_COLUMNS = ("dataset", "group_name", "item")
BOARD_COLUMNS = ("n", "n_inf", "mean", "std", "median", "ci_low", "ci_high", "rank", "tied", "test", "n_pairs",
                 "mean_delta", "delta_low", "delta_high", "p_value", "p_adjusted", "significant")


@dataclass(frozen=True)
class TableOptions:
    """``n_resamples`` bootstrap resamples per interval (0: no intervals), ``alpha`` for the
    Holm-adjusted comparisons with the best; ``delta_intervals=False`` skips the intervals of the
    differences from the best (tables that show only the stars)."""

    confidence: float = st.DEFAULT_CONFIDENCE
    n_resamples: int = 2000
    seed: int = st.DEFAULT_SEED
    alpha: float = 0.05
    delta_intervals: bool = True

    @property
    def bootstrap(self) -> dict[str, Any]:
        return {"confidence": self.confidence, "n_resamples": self.n_resamples, "seed": self.seed}


def with_image_key(image: pd.DataFrame) -> pd.DataFrame:
    """``image``: the identity of an image across methods (dataset, set and name)."""
    if "image" in image.columns:
        return image
    keys = [c for c in IMAGE_COLUMNS if c in image.columns]
    return image.assign(image=pd.util.hash_pandas_object(image[keys].astype(str), index=False).to_numpy())


def board(
    image: pd.DataFrame,
    *,
    by: Sequence[str],
    directions: Mapping[str, bool | None],
    options: TableOptions = TableOptions(),
    key: str = "label",
    compare_best: bool = True,
) -> pd.DataFrame:
    """Per ``by`` × metric × method (column ``key``) of the per-image table ``image``:

    ``n, n_inf, mean, std, median, ci_low, ci_high`` (:func:`stats.describe_values`), ``rank``
    (:func:`stats.rank_by_direction`: 1 = best, ties share the better rank) and ``tied`` (another
    method has the same rank), then the comparison with the best method of the column (the first
    rank-1 method by name): ``test, n_pairs, mean_delta, delta_low, delta_high, p_value,
    p_adjusted`` (Holm over the column) and ``significant`` (``p_adjusted < alpha``; ``None`` when
    not tested, and for the best itself).
    """
    image = with_image_key(image)
    by = list(by)
    rows: list[dict[str, Any]] = []
    for group_key, frame in image.groupby([*by, "metric"], dropna=False, sort=True, observed=True):
        group_key = group_key if isinstance(group_key, tuple) else (group_key,)
        head = dict(zip([*by, "metric"], group_key))
        metric = head["metric"]
        values = {name: pd.Series(g["value"].to_numpy(), index=g["image"].to_numpy())
                  for name, g in frame.groupby(key, sort=True, observed=True)}
        group_rows = [{**head, key: name, **st.describe_values(v.to_numpy(), **options.bootstrap)} for name, v in values.items()]
        means = pd.Series([r["mean"] for r in group_rows], dtype="float64")
        ranks = st.rank_by_direction(means, higher_is_better=directions.get(metric))
        counts = ranks.value_counts()
        for r, rank in zip(group_rows, ranks):
            r["rank"] = rank
            r["tied"] = bool(not math.isnan(rank) and counts.get(rank, 0) > 1)
        if compare_best:
            _compare_with_best(group_rows, values, key=key, options=options)
        rows.extend(group_rows)
    columns = [*by, "metric", key, *BOARD_COLUMNS]
    out = pd.DataFrame(rows, columns=columns)
    if out.empty:
        return out
    return out.sort_values([*by, "metric", "rank", key], na_position="last", kind="stable").reset_index(drop=True)


def _compare_with_best(rows: list[dict[str, Any]], values: Mapping[str, pd.Series], *, key: str, options: TableOptions) -> None:
    for r in rows:
        r.update({"test": None, "n_pairs": None, "mean_delta": math.nan, "delta_low": math.nan, "delta_high": math.nan,
                  "p_value": math.nan, "p_adjusted": math.nan, "significant": None})
    best = [r for r in rows if r["rank"] == 1]
    if not best:
        return
    best_name = best[0][key]
    others = [r for r in rows if r[key] != best_name]
    bootstrap = options.bootstrap if options.delta_intervals else {**options.bootstrap, "n_resamples": 0}
    for r in others:
        result = st.compare(values[r[key]], values[best_name], **bootstrap)
        r.update({"test": result["test"], "n_pairs": result["n_pairs"], "mean_delta": result["mean_delta"],
                  "delta_low": result["ci_low"], "delta_high": result["ci_high"], "p_value": result["p_value"]})
    adjusted = st.holm_adjust([r["p_value"] for r in others])
    for r, p in zip(others, adjusted):
        r["p_adjusted"] = float(p)
        r["significant"] = None if math.isnan(p) else bool(p < options.alpha)
    best[0]["test"] = "best"


def verdict(significant: Any) -> str:
    """The words for a comparison's outcome: never "no" for a comparison that was not made."""
    if significant is None or (isinstance(significant, float) and math.isnan(significant)):
        return "not tested"
    return "yes" if significant else "no"


def star(row: Mapping[str, Any]) -> str:
    """``*`` for a method significantly different from the best of its column, else nothing."""
    return "*" if row.get("significant") is True else ""


def macro_board(set_board: pd.DataFrame, *, by: Sequence[str], directions: Mapping[str, bool | None],
                options: TableOptions = TableOptions(), key: str = "label") -> pd.DataFrame:
    """The mean over sets of each method's set means (macro mean), with a bootstrap interval
    over sets, per ``by`` × metric × method; ``n`` counts sets. Ranked like :func:`board`, not
    compared (a set mean is not an image)."""
    sets = set_board[np.isfinite(set_board["mean"])]
    frame = sets.assign(value=sets["mean"], image=list(zip(sets["dataset"], sets["group_name"])))
    frame = frame[[*by, "metric", key, "image", "value"]]
    return board(frame, by=by, directions=directions, options=options, key=key, compare_best=False)


def wins_and_losses(set_board: pd.DataFrame, *, by: Sequence[str], directions: Mapping[str, bool | None],
                    key: str = "label") -> pd.DataFrame:
    """Head-to-head over sets, per ``by`` × metric × method: in how many (set, rival) pairs its
    set mean is better (``wins``), worse (``losses``) or equal (``ties``) than the rival's."""
    rows = []
    for group_key, frame in set_board.groupby([*by, "metric"], dropna=False, sort=True):
        group_key = group_key if isinstance(group_key, tuple) else (group_key,)
        higher = directions.get(group_key[-1])
        tally: dict[str, list[int]] = {name: [0, 0, 0] for name in frame[key].unique()}
        if higher is not None:
            for _, per_set in frame.groupby(["dataset", "group_name"], dropna=False):
                means = dict(zip(per_set[key], per_set["mean"]))
                for a, ma in means.items():
                    for b, mb in means.items():
                        if a == b or math.isnan(ma) or math.isnan(mb):
                            continue
                        better = ma > mb if higher else ma < mb
                        tally[a][0 if better else 2 if ma == mb else 1] += 1
        for name, (wins, losses, ties) in tally.items():
            rows.append({**dict(zip([*by, "metric"], group_key)), key: name, "wins": wins, "losses": losses, "ties": ties})
    return pd.DataFrame(rows, columns=[*by, "metric", key, "wins", "losses", "ties"])


# -- from the database -----------------------------------------------------------------------------
def directions(store: Any) -> dict[str, bool | None]:
    """Each metric's direction: the ``metrics`` table, else the published conventions of
    :data:`restorebench.reports.importing.KNOWN_DIRECTIONS` (imported metrics this installation
    lacks), else unknown."""
    from restorebench.reports.importing import KNOWN_DIRECTIONS

    out: dict[str, bool | None] = {}
    for row in store.query(queries.METRIC_DIRECTIONS).to_pylist():
        value = row["higher_is_better"]
        out[row["metric"]] = bool(value) if value is not None else KNOWN_DIRECTIONS.get(row["metric"].lower())
    return out


def image_slices(store: Any) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """``(task, metric, per-image table)`` for every task and metric, one slice at a time: the
    per-image means are computed once in DuckDB (a temporary table), and Python holds one
    (task, metric) slice at a time, not the whole database."""
    queries.prepare(store)
    for row in store.query(queries.SLICES).to_pylist():
        frame = store.query(queries.SLICE, [row["task"], row["metric"]]).to_pandas(strings_to_categorical=True)
        yield row["task"], row["metric"], frame


def dataset_leaderboard(store: Any, *, options: TableOptions = TableOptions(), dataset: str | None = None) -> pd.DataFrame:
    """Per task × dataset × metric × method: the :func:`board` every leaderboard shows."""
    dirs = directions(store)
    parts = []
    for _, _, image in image_slices(store):
        if dataset is not None:
            image = image[image["dataset"] == dataset]
        if len(image):
            parts.append(board(image, by=("task", "dataset"), directions=dirs, options=options))
    if not parts:
        return pd.DataFrame(columns=["task", "dataset", "metric", "label", *BOARD_COLUMNS])
    return pd.concat(parts, ignore_index=True).sort_values(["task", "dataset", "metric", "rank", "label"],
                                                           na_position="last", kind="stable").reset_index(drop=True)
