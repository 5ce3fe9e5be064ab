"""Import published per-image scores into a results database, so that they share a leaderboard
with scores from runs.

Two formats:

- **long** CSV, header ``dataset,method,image,metric,value`` and optionally ``domain`` and
  ``task`` (any order); one score per line.
- **maniqa**: MANIQA's inference output, ``filename,score`` lines without a header, one file per
  (set, technique); the set, technique, domain and metric name are given by the caller.

Image names are first brought to item names (``--match-stem``, ``--map``) and checked: metrics
of one method that share no image are refused, methods of one dataset that share none are
reported (:mod:`restorebench.reports.import_names`).

Every import is one transaction: a run row (kind ``import``; no machine is claimed — the scores
were computed elsewhere; its options record the metrics in file order, the name pairing and the
``--source``/``--paper`` text), one case per (dataset, method, item) with ``origin = 'import'``
and status ``ok``, one score per metric, a row in ``imports`` with the source file's name and
sha256, and metric/dataset/method rows for names the database does not know yet. A file whose
sha256 is already in ``imports`` is skipped: importing the same file twice changes nothing. Case
ids are a hash of (dataset, method, item), so a corrected file replaces the scores of an earlier
one instead of duplicating them.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from restorebench.bench.store import Store
from restorebench.metrics.errors import RestoreBenchError
from restorebench.reports.import_names import NameMatcher, apply_matcher, check_pairing

LONG_REQUIRED = ("dataset", "method", "image", "metric", "value")
LONG_OPTIONAL = ("domain", "task")
TASKS = ("deblur", "sr")

# Directions of metrics that published results commonly report, for metrics that this
# installation does not implement (so the registry cannot tell): without a direction a
# leaderboard cannot rank.
KNOWN_DIRECTIONS = {
    "psnr": True, "ssim": True, "ms_ssim": True, "lpips": False, "dists": False, "niqe": False,
    "brisque": False, "piqe": False, "nima": True, "maniqa": True, "musiq": True, "clipiqa": True,
    "sharpness": True,
}
#: What the ``metrics`` row of a metric known only from imports says about how it was computed.
IMPORTED_CONVENTIONS = "imported: computed elsewhere; settings not known"


class ImportFormatError(RestoreBenchError):
    """A file that cannot be imported; the message names the file and line."""


@dataclass(frozen=True)
class ScoreRecord:
    """One imported score (``line`` is the 1-based line of the source file)."""

    dataset: str
    method: str
    image: str
    metric: str
    value: float
    line: int
    domain: str | None = None
    task: str | None = None


@dataclass(frozen=True)
class ImportResult:
    path: Path
    sha256: str
    run_id: str
    n_scores: int
    n_cases: int
    skipped: bool
    previous: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

    def message(self, db: Path) -> str:
        if self.skipped:
            when = (self.previous or {}).get("imported_at")
            return (f"{self.path} was already imported ({(self.previous or {}).get('format')}, "
                    f"{when}, run {self.run_id}): nothing changed in {db}")
        return f"imported {self.n_scores} scores ({self.n_cases} cases) from {self.path} into {db} (run {self.run_id})"


# -- reading ---------------------------------------------------------------------------------------
def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ImportFormatError(f"{path}: no such file") from None
    except OSError as exc:
        raise ImportFormatError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return raw.decode("utf-8-sig")  # tolerate the BOM that spreadsheet programs write
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ImportFormatError(f"{path}:{line}: not UTF-8 text") from None


def parse_value(text: str, *, path: Path, line: int, what: str = "value") -> float:
    """A score: a decimal number, ``inf``/``-inf`` allowed (PSNR of identical images); NaN and
    empty are errors. ``[0.61]`` (a one-element numpy array printed by a script) is accepted."""
    stripped = text.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        stripped = stripped[1:-1].strip()
    try:
        value = float(stripped)
    except ValueError:
        raise ImportFormatError(f"{path}:{line}: {what} {text.strip()!r} is not a number") from None
    if math.isnan(value):
        raise ImportFormatError(f"{path}:{line}: {what} is NaN (leave the line out instead)")
    return value


def read_long_csv(path: str | Path) -> list[ScoreRecord]:
    """Records of a long CSV; raises :class:`ImportFormatError` naming file and line."""
    path = Path(path)
    text = _read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFormatError(f"{path}: empty file (expected header {','.join(LONG_REQUIRED)})") from None
    except csv.Error as exc:
        raise ImportFormatError(f"{path}:1: {exc}") from None
    columns = [c.strip().lower() for c in header]
    missing = [c for c in LONG_REQUIRED if c not in columns]
    unknown = [c for c in columns if c not in LONG_REQUIRED + LONG_OPTIONAL]
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if missing or unknown or duplicated:
        problems = []
        if missing:
            problems.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown column(s) {', '.join(unknown)}")
        if duplicated:
            problems.append(f"repeated column(s) {', '.join(duplicated)}")
        raise ImportFormatError(
            f"{path}:1: {'; '.join(problems)} (header must be {','.join(LONG_REQUIRED)}"
            f"[,{','.join(LONG_OPTIONAL)}])"
        )
    index = {c: i for i, c in enumerate(columns)}
    records: list[ScoreRecord] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(columns):
                raise ImportFormatError(f"{path}:{line}: {len(row)} fields, the header has {len(columns)}")
            cells = {c: row[i].strip() for c, i in index.items()}
            for column in ("dataset", "method", "image", "metric"):
                if not cells[column]:
                    raise ImportFormatError(f"{path}:{line}: empty {column}")
            task = cells.get("task") or None
            if task is not None and task not in TASKS:
                raise ImportFormatError(f"{path}:{line}: task {task!r} is not one of {', '.join(TASKS)}")
            key = (cells["dataset"], cells["method"], cells["image"], cells["metric"])
            if key in seen:
                raise ImportFormatError(
                    f"{path}:{line}: duplicate score for dataset {key[0]!r}, method {key[1]!r}, image "
                    f"{key[2]!r}, metric {key[3]!r} (first on line {seen[key]})"
                )
            seen[key] = line
            records.append(ScoreRecord(
                dataset=cells["dataset"], method=cells["method"], image=cells["image"],
                metric=cells["metric"], value=parse_value(cells["value"], path=path, line=line),
                line=line, domain=cells.get("domain") or None, task=task,
            ))
    except csv.Error as exc:
        raise ImportFormatError(f"{path}:{reader.line_num}: {exc}") from None
    if not records:
        raise ImportFormatError(f"{path}: no scores after the header")
    return records


def read_maniqa_csv(
    path: str | Path,
    *,
    dataset: str,
    method: str,
    metric: str = "maniqa",
    domain: str | None = None,
    task: str | None = None,
) -> list[ScoreRecord]:
    """Records of a MANIQA output file: ``filename,score`` per line, no header.

    The score is the field after the last comma, so file names may contain commas. Blank lines
    are skipped.
    """
    path = Path(path)
    for name, value in (("dataset", dataset), ("method", method), ("metric", metric)):
        if not value or not value.strip():
            raise ImportFormatError(f"{path}: --{name} must not be empty")
    text = _read_text(path)
    records: list[ScoreRecord] = []
    seen: dict[str, int] = {}
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        if "," not in raw:
            raise ImportFormatError(f"{path}:{line}: expected 'filename,score', got {raw.strip()[:80]!r}")
        name, score = raw.rsplit(",", 1)
        name = name.strip()
        if not name:
            raise ImportFormatError(f"{path}:{line}: empty file name")
        value = parse_value(score, path=path, line=line, what="score")
        if name in seen:
            raise ImportFormatError(f"{path}:{line}: image {name!r} appears twice (first on line {seen[name]})")
        seen[name] = line
        records.append(ScoreRecord(dataset=dataset.strip(), method=method.strip(), image=name,
                                   metric=metric.strip(), value=value, line=line,
                                   domain=(domain or "").strip() or None, task=task))
    if not records:
        raise ImportFormatError(f"{path}: no scores (expected 'filename,score' lines)")
    return records


# -- writing ---------------------------------------------------------------------------------------
def imported_case_id(dataset: str, method: str, image: str) -> str:
    """``sha256("import\\0dataset\\0method\\0image")``, hex, 32 characters."""
    payload = "\0".join(("import", dataset, method, image)).encode()
    return hashlib.sha256(payload).hexdigest()[:32]


def imported_variant_id(method: str) -> str:
    """Imported methods are variants of their own: they never merge with a run's variant."""
    return f"import:{method}"


EXISTING_NAMES = """
SELECT DISTINCT c.dataset, c.method, s.metric, c.item FROM cases c JOIN scores s USING (case_id)
WHERE c.origin = 'import' AND c.dataset IN (SELECT unnest(?::VARCHAR[]))
"""


def import_records(
    store: Store,
    records: Sequence[ScoreRecord],
    *,
    source: str | Path,
    fmt: str,
    options: dict[str, Any] | None = None,
    matcher: NameMatcher = NameMatcher(),
    now: dt.datetime | None = None,
) -> ImportResult:
    """Write ``records`` read from ``source`` into ``store`` (see the module docstring).
    ``options`` may hold ``source`` and ``paper``: where the scores were published."""
    source = Path(source)
    sha = file_sha256(source)
    run_id = f"import-{sha[:16]}"
    previous = store.query("SELECT format, imported_at, run_id FROM imports WHERE source_sha256 = ?", [sha]).to_pylist()
    if previous:
        return ImportResult(path=source, sha256=sha, run_id=previous[0]["run_id"], n_scores=0, n_cases=0,
                            skipped=True, previous=previous[0])
    records = apply_matcher(records, matcher, source=source)
    existing = store.query(EXISTING_NAMES, [sorted({r.dataset for r in records})]).to_pylist()
    warnings = check_pairing(records, existing, source=source)
    options = {k: v for k, v in (options or {}).items() if v is not None}
    options["metrics"] = list(dict.fromkeys(r.metric for r in records))  # in file order: the first is the primary
    if matcher.described:
        options["match"] = matcher.described
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    known_tasks = {r["name"]: r["task"] for r in store.query("SELECT name, task FROM datasets").to_pylist()}

    cases: dict[str, dict[str, Any]] = {}
    scores = []
    for r in records:
        case_id = imported_case_id(r.dataset, r.method, r.image)
        task = r.task or known_tasks.get(r.dataset) or "sr"
        cases[case_id] = {
            "case_id": case_id, "run_id": run_id, "origin": "import", "dataset": r.dataset,
            "task": task, "domain": r.domain, "group_name": r.dataset, "item": r.image,
            "method": r.method, "variant_id": imported_variant_id(r.method), "seed": 0, "sample": 0,
            "status": "ok", "finished_at": now,
        }
        scores.append({"case_id": case_id, "metric": r.metric, "value": r.value, "status": "ok",
                       "error": None, "seconds": None, "run_id": run_id})

    run = {
        "run_id": run_id, "kind": "import", "spec_name": f"import {fmt}", "spec_path": source.name,
        "spec_sha256": sha, "spec_text": json.dumps(options, sort_keys=True),
        "started_at": now, "finished_at": now, "status": "ok",
        # No machine, no versions: the scores were computed elsewhere; this one only read a file.
        # Its name and sha256 (and the source given) are the provenance that matters.
        "versions": None, "machine": None, "argv": f"restorebench import {fmt} {source.name}",
        "n_planned": len(cases), "n_skipped": 0, "n_ok": len(cases), "n_failed": 0,
    }
    store.con.execute("BEGIN TRANSACTION")
    try:
        store.upsert("runs", [run])
        _add_missing_descriptions(store, records, cases)
        store.upsert("cases", list(cases.values()))
        store.upsert("scores", scores)
        store.upsert("imports", [{"source_sha256": sha, "path": source.name, "format": fmt,
                                  "imported_at": now, "n_rows": len(scores), "run_id": run_id}])
        store.con.execute("COMMIT")
    except BaseException:
        store.con.execute("ROLLBACK")
        raise
    return ImportResult(path=source, sha256=sha, run_id=run_id, n_scores=len(scores), n_cases=len(cases), skipped=False,
                        warnings=warnings)


def _add_missing_descriptions(store: Store, records: Sequence[ScoreRecord], cases: dict[str, dict[str, Any]]) -> None:
    """Rows in ``metrics``, ``datasets`` and ``methods`` for names the database does not know;
    rows written by runs are never overwritten."""
    known_metrics = set(store.query("SELECT name FROM metrics").column("name").to_pylist())
    new_metrics = sorted({r.metric for r in records} - known_metrics)
    store.upsert("metrics", [describe_metric(name) for name in new_metrics])

    known_datasets = set(store.query("SELECT name FROM datasets").column("name").to_pylist())
    datasets: dict[str, dict[str, Any]] = {}
    images: dict[str, set[str]] = {}
    for case in cases.values():
        if case["dataset"] not in known_datasets:
            datasets.setdefault(case["dataset"], {
                "name": case["dataset"], "kind": "import", "task": case["task"], "source": "import",
                "root": None, "options": {"domain": case["domain"]}, "n_items": 0})
            images.setdefault(case["dataset"], set()).add(case["item"])
    for name, entry in datasets.items():
        entry["n_items"] = len(images[name])  # distinct images, not image × method
    store.upsert("datasets", list(datasets.values()))

    known_variants = set(store.query("SELECT variant_id FROM methods").column("variant_id").to_pylist())
    methods = {}
    for r in records:
        variant = imported_variant_id(r.method)
        if variant not in known_variants and variant not in methods:
            methods[variant] = {"variant_id": variant, "name": r.method, "label": r.method, "params": {},
                                "code_version": None, "weights": None, "summary": "imported scores"}
    store.upsert("methods", list(methods.values()))


def describe_metric(name: str) -> dict[str, Any]:
    """A ``metrics`` row for ``name``: kind, direction and range from the metric registry's class
    attributes when this installation has the metric (the metric is not instantiated: that could
    load weights), else the direction from :data:`KNOWN_DIRECTIONS`, else unknown. Conventions and
    options are not claimed: imported scores were computed elsewhere, with settings not known
    here (a run that computes the metric replaces the row with its own)."""
    try:
        from restorebench.metrics.base import REGISTRY

        cls = REGISTRY.get(name)
        low, high = cls.value_range
        return {"name": name, "kind": cls.kind, "higher_is_better": bool(cls.higher_is_better),
                "range_low": low, "range_high": high, "options": None, "code_version": None,
                "conventions": IMPORTED_CONVENTIONS}
    except Exception:  # unknown name, or a metric module that fails to import on this machine
        return {"name": name, "kind": None, "higher_is_better": KNOWN_DIRECTIONS.get(name.lower()),
                "range_low": None, "range_high": None, "options": None, "code_version": None,
                "conventions": IMPORTED_CONVENTIONS}


def import_long(db: str | Path, path: str | Path, *, matcher: NameMatcher = NameMatcher(), source: str | None = None,
                paper: str | None = None) -> ImportResult:
    """Import a long CSV into the database at ``db``."""
    records = read_long_csv(path)
    with Store(db) as store:
        return import_records(store, records, source=path, fmt="long", matcher=matcher,
                              options={"source": source, "paper": paper})


def import_maniqa(
    db: str | Path,
    path: str | Path,
    *,
    dataset: str,
    method: str,
    metric: str = "maniqa",
    domain: str | None = None,
    task: str | None = None,
    matcher: NameMatcher = NameMatcher(),
    source: str | None = None,
    paper: str | None = None,
) -> ImportResult:
    """Import one MANIQA output file (one set × technique) into the database at ``db``."""
    records = read_maniqa_csv(path, dataset=dataset, method=method, metric=metric, domain=domain, task=task)
    options = {"dataset": dataset, "method": method, "metric": metric, "domain": domain, "task": task,
               "source": source, "paper": paper}
    with Store(db) as store:
        return import_records(store, records, source=path, fmt="maniqa", options=options, matcher=matcher)
