"""``restorebench compare``: the score-regression gate.

    restorebench compare DB --golden FILE [--rtol R] [--atol A]   # against committed golden scores
    restorebench compare DB --base OTHER.duckdb                  # two databases
    restorebench compare DB --golden FILE --update               # rewrite the golden file from DB

Scores are matched by what a case *is* — dataset, item, method label, seed, sample — and the
metric, never by case id: a case id also hashes the method's source, so any code change would
make every case look new. Two scores agree when both have the same status and, for ``ok``
scores, ``|new − old| ≤ atol + rtol·max(|new|, |old|)`` (equal infinities agree). The leaderboard
means (per dataset, method label and metric, over ``ok`` scores, as ``restorebench leaderboard``
computes them) are compared with the same tolerance.

Exit status: 0 every score and mean agrees and no case appeared or vanished; 1 something moved
(each difference is printed); 2 the comparison could not be made (missing or malformed file,
database in use).

Default tolerances: ``rtol = 1e-6``, ``atol = 1e-9``. On one machine the smoke spec's scores are
bit-identical from run to run and for every ``workers`` setting; across CPUs and BLAS builds the
floating-point results of the FFT, BLAS and SIMD kernels may differ in their last bits, and a
pixel whose value lands on a rounding boundary can then flip by one grey level. ``1e-6`` is far
above the first (1e-15) and above one flipped pixel in the smallest smoke image, and four orders
of magnitude below the 1 % change the gate exists to catch (see ``site/docs/harness.md``).
"""
from __future__ import annotations

import argparse
import csv
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from restorebench.metrics.errors import RestoreBenchError

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-9
IDENTITY = ("dataset", "item", "label", "seed", "sample")
COLUMNS = (*IDENTITY, "metric", "status", "value")

CaseKey = tuple[str, str, str, int, int]
ScoreKey = tuple[str, str, str, int, int, str]


class CompareError(RestoreBenchError):
    """The comparison cannot be made (exit status 2)."""


@dataclass(frozen=True)
class Score:
    status: str
    value: float | None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare a database's scores with golden scores or another database (exit 1 when they moved)")
    p.add_argument("db", type=Path, help="the results database to check")
    against = p.add_mutually_exclusive_group(required=True)
    against.add_argument("--golden", type=Path, help="golden scores (CSV: " + ",".join(COLUMNS) + ")")
    against.add_argument("--base", type=Path, help="another results database: the reference")
    p.add_argument("--rtol", type=float, default=DEFAULT_RTOL, help=f"relative tolerance (default {DEFAULT_RTOL:g})")
    p.add_argument("--atol", type=float, default=DEFAULT_ATOL, help=f"absolute tolerance (default {DEFAULT_ATOL:g})")
    p.add_argument("--update", action="store_true", help="write DB's scores into the --golden file instead of comparing")
    p.set_defaults(handler=handle)


# -- reading -------------------------------------------------------------------------------------

def database_scores(path: Path) -> dict[ScoreKey, Score]:
    """Every score of the current cases of a results database, by case identity and metric."""
    from restorebench.bench.store import Store

    with Store(path, read_only=True) as store:
        rows = store.con.execute(
            "SELECT dataset, item, label, seed, sample, metric, status, value FROM results"
        ).fetchall()
    scores: dict[ScoreKey, Score] = {}
    for dataset, item, label, seed, sample, metric, status, value in rows:
        key = (dataset, item, label, int(seed), int(sample), metric)
        if key in scores:
            raise CompareError(f"{path}: two current cases are {_case_text(key[:5])}; compare databases of one spec each")
        scores[key] = Score(status, value)
    return scores


def golden_scores(path: Path) -> dict[ScoreKey, Score]:
    """The scores of a golden CSV file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CompareError(f"cannot read golden file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    reader = csv.DictReader(text.splitlines())
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise CompareError(f"{path}:1: expected the columns {','.join(COLUMNS)}, found {','.join(reader.fieldnames or ()) or 'none'}")
    scores: dict[ScoreKey, Score] = {}
    for line, row in enumerate(reader, start=2):
        try:
            key = (row["dataset"], row["item"], row["label"], int(row["seed"]), int(row["sample"]), row["metric"])
            value = float(row["value"]) if row["value"] else None
        except (TypeError, ValueError):
            raise CompareError(f"{path}:{line}: seed and sample must be integers and value a number or empty") from None
        if key in scores:
            raise CompareError(f"{path}:{line}: {_case_text(key[:5])} {key[5]} is listed twice")
        scores[key] = Score(row["status"], value)
    return scores


def write_golden(path: Path, scores: dict[ScoreKey, Score]) -> None:
    """The golden CSV: one row per score, sorted, values written so that they read back exactly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for key in sorted(scores):
            score = scores[key]
            writer.writerow([*key, score.status, "" if score.value is None else repr(float(score.value))])


# -- comparing -----------------------------------------------------------------------------------

def agree(old: Score, new: Score, *, rtol: float, atol: float) -> bool:
    if old.status != new.status:
        return False
    if old.value is None or new.value is None:
        return old.value is None and new.value is None
    return _close(old.value, new.value, rtol=rtol, atol=atol)


def _close(a: float, b: float, *, rtol: float, atol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= atol + rtol * max(abs(a), abs(b))


def leaderboard_means(scores: dict[ScoreKey, Score]) -> dict[tuple[str, str, str], tuple[float, int]]:
    """``(dataset, label, metric) → (mean of the ok values, their count)``, as the leaderboard has them."""
    values: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for (dataset, _, label, _, _, metric), score in scores.items():
        if score.status == "ok" and score.value is not None:
            values[(dataset, label, metric)].append(score.value)
    return {key: (math.fsum(v) / len(v), len(v)) for key, v in values.items()}


@dataclass
class Comparison:
    changed: list[tuple[ScoreKey, Score, Score]] = field(default_factory=list)
    vanished: dict[CaseKey, int] = field(default_factory=dict)  # case → its number of scores
    appeared: dict[CaseKey, int] = field(default_factory=dict)
    metrics_vanished: list[ScoreKey] = field(default_factory=list)  # a score missing from a case both have
    metrics_appeared: list[ScoreKey] = field(default_factory=list)
    means: list[tuple[tuple[str, str, str], tuple[float, int] | None, tuple[float, int] | None]] = field(default_factory=list)
    compared: int = 0

    @property
    def same(self) -> bool:
        return not (self.changed or self.vanished or self.appeared or self.metrics_vanished or self.metrics_appeared or self.means)


def compare(old: dict[ScoreKey, Score], new: dict[ScoreKey, Score], *, rtol: float, atol: float) -> Comparison:
    result = Comparison()
    old_cases = defaultdict(int)
    new_cases = defaultdict(int)
    for key in old:
        old_cases[key[:5]] += 1
    for key in new:
        new_cases[key[:5]] += 1
    result.vanished = {case: n for case, n in old_cases.items() if case not in new_cases}
    result.appeared = {case: n for case, n in new_cases.items() if case not in old_cases}
    for key in sorted(old.keys() | new.keys()):
        if key in old and key in new:
            result.compared += 1
            if not agree(old[key], new[key], rtol=rtol, atol=atol):
                result.changed.append((key, old[key], new[key]))
        elif key in old and key[:5] in new_cases:
            result.metrics_vanished.append(key)
        elif key in new and key[:5] in old_cases:
            result.metrics_appeared.append(key)
    old_means, new_means = leaderboard_means(old), leaderboard_means(new)
    for key in sorted(old_means.keys() | new_means.keys()):
        a, b = old_means.get(key), new_means.get(key)
        if a is None or b is None or a[1] != b[1] or not _close(a[0], b[0], rtol=rtol, atol=atol):
            result.means.append((key, a, b))
    return result


# -- reporting -----------------------------------------------------------------------------------

def _case_text(case: CaseKey) -> str:
    dataset, item, label, seed, sample = case
    return f"{dataset} / {label} / {item} (seed {seed}, sample {sample})"


def _number(value: float, other: float | None) -> str:
    """``value`` with 10 significant digits, or all of them when that would hide a difference."""
    short = f"{value:.10g}"
    return repr(value) if other is not None and other != value and short == f"{other:.10g}" else short


def _value_text(score: Score, other: Score) -> str:
    if score.status != "ok" or score.value is None:
        return score.status
    return _number(score.value, other.value)


def _change_text(old: float | None, new: float | None) -> str:
    if old is None or new is None or not (math.isfinite(old) and math.isfinite(new)) or old == 0:
        return ""
    return f" ({(new - old) / abs(old) * 100:+.3g} %)"


def report(result: Comparison, *, rtol: float, atol: float, base: str) -> str:
    lines = []
    for key, old, new in result.changed:
        lines.append(f"changed   {_case_text(key[:5])} {key[5]}: {_value_text(old, new)} → {_value_text(new, old)}{_change_text(old.value, new.value)}")
    for key in result.metrics_vanished:
        lines.append(f"vanished  {_case_text(key[:5])} {key[5]}: the score is missing")
    for key in result.metrics_appeared:
        lines.append(f"appeared  {_case_text(key[:5])} {key[5]}: a new score")
    for case, n in sorted(result.vanished.items()):
        lines.append(f"vanished  {_case_text(case)}: the case and its {n} score(s) are missing")
    for case, n in sorted(result.appeared.items()):
        lines.append(f"appeared  {_case_text(case)}: a new case with {n} score(s)")
    for (dataset, label, metric), old, new in result.means:
        before = f"{_number(old[0], new and new[0])} (n={old[1]})" if old else "—"
        after = f"{_number(new[0], old and old[0])} (n={new[1]})" if new else "—"
        lines.append(f"mean      {dataset} / {label} {metric}: {before} → {after}{_change_text(old and old[0], new and new[0])}")
    summary = (
        f"{result.compared} score(s) compared with {base} (rtol {rtol:g}, atol {atol:g}): "
        f"{len(result.changed)} changed, {len(result.vanished)} case(s) vanished, {len(result.appeared)} appeared, "
        f"{len(result.metrics_vanished) + len(result.metrics_appeared)} score(s) missing on one side, "
        f"{len(result.means)} leaderboard mean(s) moved"
    )
    return "\n".join(lines + [summary if not result.same else f"{result.compared} score(s) compared with {base} "
                              f"(rtol {rtol:g}, atol {atol:g}): all agree"])


def handle(args: argparse.Namespace) -> int:
    if args.rtol < 0 or args.atol < 0:
        raise CompareError("--rtol and --atol must be ≥ 0")
    if args.update:
        if args.golden is None:
            raise CompareError("--update rewrites a golden file: give it with --golden FILE")
        scores = database_scores(args.db)
        if not scores:
            raise CompareError(f"{args.db} holds no scores; run the spec first")
        write_golden(args.golden, scores)
        print(f"wrote {len(scores)} score(s) of {len({k[:5] for k in scores})} case(s) to {args.golden}")
        return 0
    old = golden_scores(args.golden) if args.golden else database_scores(args.base)
    new = database_scores(args.db)
    result = compare(old, new, rtol=args.rtol, atol=args.atol)
    print(report(result, rtol=args.rtol, atol=args.atol, base=str(args.golden or args.base)))
    return 0 if result.same else 1
