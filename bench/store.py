"""The results database (DuckDB): schema, the single writer, readers, export.

One process writes (the runner's main process); workers hand their results back to it. DuckDB
itself refuses a second writer; we turn that refusal into a message that names the process.
Reports open the database read-only through this module only.

Tables (long format for scores: one row per case and metric):

- ``meta(key, value)``: ``schema_version``.
- ``runs``: one row per ``restorebench run`` or import, with provenance.
- ``datasets``, ``methods`` (one row per method variant), ``metrics``: what the scores mean.
- ``cases``: one row per (dataset item, method variant, seed, sample): status, error, timings,
  peak memory, output file and hash; for a chain (``bench/chains.py``) what each stage did, as
  JSON in ``stages``. ``origin`` is ``run`` or ``import``.
- ``scores(case_id, metric, value, status, error, seconds, run_id)``.
- ``artifacts(case_id, kind, path, sha256)``.
- ``imports(source_sha256, path, format, imported_at, n_rows, run_id)``.
- view ``results``: scores joined with their case, method variant and metric.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import duckdb
import pyarrow as pa

from restorebench.metrics.errors import RestoreBenchError

SCHEMA_VERSION = 1

TABLES: dict[str, dict[str, str]] = {
    "meta": {"key": "VARCHAR PRIMARY KEY", "value": "VARCHAR"},
    "runs": {
        "run_id": "VARCHAR PRIMARY KEY",
        "kind": "VARCHAR",  # run | import
        "spec_name": "VARCHAR",
        "spec_path": "VARCHAR",
        "spec_sha256": "VARCHAR",
        "spec_text": "VARCHAR",
        "started_at": "TIMESTAMP",
        "finished_at": "TIMESTAMP",
        "status": "VARCHAR",  # running | ok | partial | interrupted | failed
        "git_sha": "VARCHAR",
        "git_dirty": "BOOLEAN",
        "versions": "JSON",
        "machine": "JSON",
        "argv": "VARCHAR",
        "n_planned": "INTEGER",
        "n_skipped": "INTEGER",
        "n_ok": "INTEGER",
        "n_failed": "INTEGER",
    },
    "datasets": {
        "name": "VARCHAR PRIMARY KEY",
        "kind": "VARCHAR",
        "task": "VARCHAR",
        "source": "VARCHAR",
        "root": "VARCHAR",
        "options": "JSON",
        "n_items": "INTEGER",
    },
    "methods": {
        "variant_id": "VARCHAR PRIMARY KEY",
        "name": "VARCHAR",
        "label": "VARCHAR",
        "params": "JSON",
        "code_version": "VARCHAR",
        "weights": "JSON",
        "summary": "VARCHAR",
        "set_level": "BOOLEAN",  # trained on a whole set; its samples are generated images, not restorations
    },
    "metrics": {
        "name": "VARCHAR PRIMARY KEY",
        "kind": "VARCHAR",
        "higher_is_better": "BOOLEAN",
        "range_low": "DOUBLE",
        "range_high": "DOUBLE",
        "options": "JSON",
        "code_version": "VARCHAR",
        "conventions": "VARCHAR",
        "weights": "JSON",  # {checkpoint key: sha256 | null}
        "version": "VARCHAR",  # code_version + weights: the version new scores are stamped with
        "measures": "VARCHAR",  # NULL: image quality; "sharpness": a sharpness measure
    },
    "cases": {
        "case_id": "VARCHAR PRIMARY KEY",
        "run_id": "VARCHAR",
        "origin": "VARCHAR",  # run | import
        "dataset": "VARCHAR",
        "task": "VARCHAR",  # deblur | sr
        "domain": "VARCHAR",
        "group_name": "VARCHAR",  # LR set, or blur kind for triplets
        "item": "VARCHAR",
        "blur": "VARCHAR",
        "scale": "INTEGER",
        "method": "VARCHAR",
        "variant_id": "VARCHAR",
        "seed": "INTEGER",
        "sample": "INTEGER",
        "input_path": "VARCHAR",
        "input_sha256": "VARCHAR",
        "reference_path": "VARCHAR",
        "status": "VARCHAR",  # ok | failed | timeout | crashed | unavailable | invalid_input | blocked
        "error": "VARCHAR",
        "seconds_load": "DOUBLE",
        "seconds_prepare": "DOUBLE",
        "seconds_restore": "DOUBLE",
        "seconds_save": "DOUBLE",
        "seconds_total": "DOUBLE",
        "peak_rss_mb": "DOUBLE",
        "output_path": "VARCHAR",
        "output_sha256": "VARCHAR",
        "width": "INTEGER",
        "height": "INTEGER",
        "finished_at": "TIMESTAMP",
        "alignment": "VARCHAR",  # registration before full-reference metrics: "phase dy=… dx=…" or NULL
        "node": "VARCHAR",  # where it ran: the host name (local executors) or "host/ray-node-id" (Ray)
        "note": "VARCHAR",  # how it ran, when that differs from what was asked (a GPU case on the CPU, a retry)
        "stages": "JSON",  # a chain's stages: [{stage, method, scale, status, seconds_*, key, path, sha256, …}] or NULL
    },
    "scores": {
        "case_id": "VARCHAR",
        "metric": "VARCHAR",
        "value": "DOUBLE",
        "status": "VARCHAR",  # ok | failed | unavailable | not_applicable
        "error": "VARCHAR",
        "seconds": "DOUBLE",
        "run_id": "VARCHAR",
        "metric_version": "VARCHAR",  # Metric.version that computed the value
    },
    "artifacts": {"case_id": "VARCHAR", "kind": "VARCHAR", "path": "VARCHAR", "sha256": "VARCHAR"},
    "preparations": {  # shared preparations (training) done once for several cases
        "key": "VARCHAR PRIMARY KEY",
        "what": "VARCHAR",
        "variant_id": "VARCHAR",
        "status": "VARCHAR",  # ok | failed | timeout | crashed | unavailable | invalid_input
        "error": "VARCHAR",
        "seconds": "DOUBLE",
        "run_id": "VARCHAR",
        "finished_at": "TIMESTAMP",
        "node": "VARCHAR",
    },
    "imports": {
        "source_sha256": "VARCHAR PRIMARY KEY",
        "path": "VARCHAR",
        "format": "VARCHAR",
        "imported_at": "TIMESTAMP",
        "n_rows": "INTEGER",
        "run_id": "VARCHAR",
    },
}
PRIMARY_KEYS = {"scores": ("case_id", "metric"), "artifacts": ("case_id", "kind")}

# -- typed rows ----------------------------------------------------------------------------------
# What the runner, its workers and the importers hand to the store. Their fields are the columns of
# `cases`, `scores` and `artifacts` (a test keeps them equal to TABLES).

@dataclass
class CaseRow:
    case_id: str
    run_id: str | None = None
    origin: str = "run"
    dataset: str | None = None
    task: str | None = None
    domain: str | None = None
    group_name: str | None = None
    item: str | None = None
    blur: str | None = None
    scale: int | None = None
    method: str | None = None
    variant_id: str | None = None
    seed: int | None = None
    sample: int | None = None
    input_path: str | None = None
    input_sha256: str | None = None
    reference_path: str | None = None
    status: str = "ok"
    error: str | None = None
    seconds_load: float | None = None
    seconds_prepare: float | None = None
    seconds_restore: float | None = None
    seconds_save: float | None = None
    seconds_total: float | None = None
    peak_rss_mb: float | None = None
    output_path: str | None = None
    output_sha256: str | None = None
    width: int | None = None
    height: int | None = None
    finished_at: dt.datetime | None = None
    alignment: str | None = None
    node: str | None = None
    note: str | None = None
    stages: list[dict[str, Any]] | None = None


@dataclass
class ScoreRow:
    case_id: str
    metric: str
    status: str  # ok | failed | unavailable | not_applicable | case_<status>
    value: float | None = None
    error: str | None = None
    seconds: float = 0.0
    run_id: str | None = None
    metric_version: str | None = None


@dataclass
class ArtifactRow:
    case_id: str
    kind: str
    path: str
    sha256: str | None = None


@dataclass
class OutputFile:
    """A file a worker produced, as bytes: the driver writes it to ``path`` (workers never write
    ``--out`` themselves, so that they need no file system shared with the driver)."""

    path: str
    data: bytes = field(repr=False)
    sha256: str


@dataclass
class CaseResult:
    """What executing one task gives: the case's row (None when only new scores of a stored case
    were computed), its score rows, its artifacts and the bytes of its output files."""

    case: CaseRow | None
    scores: list[ScoreRow] = field(default_factory=list)
    artifacts: list[ArtifactRow] = field(default_factory=list)
    files: list[OutputFile] = field(default_factory=list)


ROW_TYPES = {"cases": CaseRow, "scores": ScoreRow, "artifacts": ArtifactRow}

JSON_COLUMNS = {t: [c for c, typ in cols.items() if typ == "JSON"] for t, cols in TABLES.items()}

# A label names one leaderboard row. When a label is run again with other code, parameters or
# weights, its cases get new ids (see bench/plan.py); the old ones stay in `cases` as history and
# `current_cases` keeps, per (item, label, seed, sample), the most recently finished one, so
# that results of different versions are never averaged together.
RESULTS_VIEW = """
CREATE OR REPLACE VIEW current_cases AS
SELECT c.*, COALESCE(m.label, c.method) AS label
FROM cases c LEFT JOIN methods m ON m.variant_id = c.variant_id
QUALIFY row_number() OVER (
    PARTITION BY c.dataset, c.domain, c.group_name, c.item, c.blur, c.scale, COALESCE(m.label, c.method), c.seed, c.sample
    ORDER BY c.finished_at DESC NULLS LAST, c.case_id) = 1;
CREATE OR REPLACE VIEW results AS
SELECT s.case_id, c.run_id, c.origin, c.dataset, c.task, c.domain, c.group_name, c.item, c.blur,
       c.scale, c.method, c.variant_id, c.label, c.seed, c.sample,
       s.metric, s.value, s.status, s.error, s.seconds, k.higher_is_better, k.kind AS metric_kind,
       c.output_path, c.status AS case_status
FROM scores s
JOIN current_cases c USING (case_id)
LEFT JOIN metrics k ON k.name = s.metric;
"""


class StoreError(RestoreBenchError):
    pass


class DatabaseInUseError(StoreError):
    pass


class StoreWriteError(StoreError):
    """A write the database refused (disk full, read-only file, a value its column cannot hold).
    The transaction was rolled back: everything written before it is intact."""


def _write_failure_message(path: Path, error: Exception, what: str) -> str:
    text = str(error)
    if "No space left" in text or "ENOSPC" in text:
        cause = f"the disk holding {path} is full"
    elif "read-only" in text.lower() or "Permission denied" in text:
        cause = f"{path} cannot be written (read-only file or folder)"
    else:
        cause = f"{type(error).__name__}: {text.splitlines()[0][:300] if text else ''}"
    return (
        f"could not {what} in {path}: {cause}. Nothing stored before was lost; fix the cause and "
        f"run the same command again to resume"
    )


def _in_use_message(path: Path, error: Exception, *, read_only: bool = False) -> str:
    text = str(error)
    match = re.search(r"PID (\d+)", text)
    who = "another process"
    if match:
        pid = int(match.group(1))
        who = f"process {pid}"
        try:
            import psutil

            who += f" ({' '.join(psutil.Process(pid).cmdline())[:200]})"
        except Exception:  # the process may be gone or hidden; the PID is still useful
            pass
    if read_only:
        return (
            f"database {path} is being written by {who} (a run is in progress); it can be read when "
            f"that run finishes — or read a copy: `restorebench export` after it ends, or copy the file then"
        )
    return (
        f"database {path} is in use by {who}. Only one process may write at a time: wait for it "
        f"to finish, or use another --db"
    )


def _ddl(table: str) -> str:
    cols = [f'"{c}" {t}' for c, t in TABLES[table].items()]
    if table in PRIMARY_KEYS:
        cols.append(f"PRIMARY KEY ({', '.join(PRIMARY_KEYS[table])})")
    return f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(cols)})"


class Store:
    """A DuckDB results database. Use as a context manager; writes are transactional."""

    def __init__(self, path: str | Path, *, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise StoreError(f"database {self.path} does not exist (run `restorebench run SPEC` first)")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise DatabaseInUseError(_in_use_message(self.path, exc, read_only=read_only)) from None
            raise StoreError(f"cannot open database {self.path}: {exc}") from None
        try:
            if not read_only:
                self._migrate()
            else:
                self._check_version()
        except BaseException:
            self.con.close()
            raise

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def _existing_tables(self) -> dict[str, set[str]]:
        rows = self.con.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main' "
            "AND table_catalog = current_database()"
        ).fetchall()
        out: dict[str, set[str]] = {}
        for table, column in rows:
            out.setdefault(table, set()).add(column)
        return out

    def _refuse_foreign(self, existing: dict[str, set[str]]) -> None:
        """A database restorebench did not create is never altered: no ``meta`` table with our
        marker while other tables exist means it belongs to something else."""
        if not existing:
            return
        marker = None
        if "meta" in existing and {"key", "value"} <= existing["meta"]:
            marker = self._one("SELECT value FROM meta WHERE key = 'schema_version'")
        if marker is None:
            names = ", ".join(sorted(existing)[:6])
            raise StoreError(
                f"{self.path} is a DuckDB database that restorebench did not create (tables: {names}); "
                f"refusing to change it: give --db a new file or a restorebench database"
            )
        if int(marker[0]) != SCHEMA_VERSION:
            raise StoreError(
                f"database {self.path} has schema version {marker[0]}, this restorebench writes "
                f"{SCHEMA_VERSION}: use a new --db"
            )

    def _migrate(self) -> None:
        """Create the schema, or add what a database of an earlier release lacks. A current
        database is not written to at all (opening one on a full disk must work)."""
        existing = self._existing_tables()
        self._refuse_foreign(existing)
        statements = []
        for table, columns in TABLES.items():
            if table not in existing:
                statements.append(_ddl(table))
                continue
            for column, sql_type in columns.items():  # columns added since the file was created
                if column not in existing[table]:
                    sql_type = sql_type.replace(" PRIMARY KEY", "")
                    statements.append(f'ALTER TABLE {table} ADD COLUMN "{column}" {sql_type}')
        views_version = hashlib.sha256(RESULTS_VIEW.encode()).hexdigest()[:16]
        current_views = existing and self._one("SELECT value FROM meta WHERE key = 'views_version'")
        if statements or not current_views or current_views[0] != views_version:
            statements.append(RESULTS_VIEW)
            statements.append(
                f"INSERT OR REPLACE INTO meta VALUES ('views_version', '{views_version}'), "
                f"('schema_version', '{SCHEMA_VERSION}'), ('application', 'restorebench')"
            )
        if statements:
            with self.writing("create or upgrade the database schema"):
                self.con.execute("BEGIN TRANSACTION")
                for statement in statements:
                    self.con.execute(statement)
                self.con.execute("COMMIT")

    def _one(self, sql: str) -> tuple | None:
        rows = self.con.execute(sql).fetchall()  # fetch everything: DuckDB keeps a half-read result open
        return rows[0] if rows else None

    def _check_version(self) -> None:
        existing = self._existing_tables()
        if not existing:
            raise StoreError(f"{self.path} is an empty database (run `restorebench run SPEC` first)")
        self._refuse_foreign(existing)

    # -- writing -------------------------------------------------------------------------------
    def upsert(self, table: str, rows: Sequence[dict[str, Any] | Any]) -> None:
        """Insert rows (dicts or the typed rows above), replacing rows with the same primary key."""
        if not rows:
            return
        rows = [dataclasses.asdict(r) if dataclasses.is_dataclass(r) else r for r in rows]
        columns = list(TABLES[table])
        data = {c: [_encode(table, c, row.get(c)) for row in rows] for c in columns}
        schema = pa.schema([(c, _arrow_type(TABLES[table][c])) for c in columns])
        arrow = pa.table(data, schema=schema)  # noqa: F841 — read by DuckDB's replacement scan
        names = ", ".join(f'"{c}"' for c in columns)
        with self.writing(f"write {len(rows)} row(s) of table {table}"):
            self.con.execute(f"INSERT OR REPLACE INTO {table} ({names}) SELECT {names} FROM arrow")

    def write_results(
        self,
        cases: Sequence[CaseRow | dict[str, Any]],
        scores: Sequence[ScoreRow | dict[str, Any]],
        artifacts: Sequence[ArtifactRow | dict[str, Any]] = (),
    ) -> None:
        """Write a batch of finished cases with their scores in one transaction, so that a kill
        leaves either the whole batch or none of it."""
        with self.writing(f"store the last {len(cases)} finished case(s)"):
            self.con.execute("BEGIN TRANSACTION")
            self.upsert("cases", cases)
            self.upsert("scores", scores)
            self.upsert("artifacts", artifacts)
            self.con.execute("COMMIT")

    @contextlib.contextmanager
    def writing(self, what: str) -> Iterator[None]:
        """Turn a write the database refuses into :class:`StoreWriteError` naming ``what`` was
        being written, after rolling back any open transaction."""
        try:
            yield
        except StoreWriteError:
            raise
        except (duckdb.Error, OSError) as exc:
            self._rollback()
            raise StoreWriteError(_write_failure_message(self.path, exc, what)) from None
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        try:
            self.con.execute("ROLLBACK")
        except duckdb.Error:  # no transaction open, or the connection is already invalidated
            pass

    def delete_cases(self, case_ids: Iterable[str]) -> None:
        ids = pa.table({"case_id": pa.array(list(case_ids), pa.string())})  # noqa: F841
        with self.writing("delete the cases to recompute"):
            self.con.execute("BEGIN TRANSACTION")
            for table in ("scores", "artifacts", "cases"):
                self.con.execute(f"DELETE FROM {table} WHERE case_id IN (SELECT case_id FROM ids)")
            self.con.execute("COMMIT")

    def update_run(self, run_id: str, **fields: Any) -> None:
        assignments = ", ".join(f'"{k}" = ?' for k in fields)
        values = [_encode("runs", k, v) for k, v in fields.items()]
        with self.writing("update the run's record"):
            self.con.execute(f"UPDATE runs SET {assignments} WHERE run_id = ?", [*values, run_id])

    # -- reading -------------------------------------------------------------------------------
    def settled_cases(self, case_ids: Iterable[str]) -> dict[str, str]:
        """``{case_id: status}`` of the given cases that need no new attempt: ``ok``, or
        ``unavailable`` (its checkpoints are still missing: the same case id means the same missing
        files; installing one changes the id). Failed, timed-out, crashed and invalid-input cases
        are not settled: a re-run tries them again."""
        ids = pa.table({"case_id": pa.array(list(case_ids), pa.string())})  # noqa: F841
        rows = self.con.execute(
            "SELECT case_id, status FROM cases WHERE status IN ('ok', 'unavailable') AND case_id IN (SELECT case_id FROM ids)"
        ).fetchall()
        return dict(rows)

    def ok_outputs(self, case_ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        """``{case_id: (output_path, output_sha256)}`` of the given finished cases that saved one."""
        ids = pa.table({"case_id": pa.array(list(case_ids), pa.string())})  # noqa: F841
        rows = self.con.execute(
            "SELECT case_id, output_path, output_sha256 FROM cases WHERE status = 'ok' "
            "AND output_path IS NOT NULL AND case_id IN (SELECT case_id FROM ids)"
        ).fetchall()
        return {case_id: (path, sha) for case_id, path, sha in rows}

    def scored_metrics(self, case_ids: Iterable[str]) -> dict[str, dict[str, str | None]]:
        """For each given case, ``{metric: metric_version}`` of the scores that need no new attempt
        (ok, not applicable, or unavailable under the same version — the same missing checkpoint)."""
        ids = pa.table({"case_id": pa.array(list(case_ids), pa.string())})  # noqa: F841
        rows = self.con.execute(
            "SELECT case_id, metric, metric_version FROM scores WHERE status IN ('ok', 'not_applicable', 'unavailable') "
            "AND case_id IN (SELECT case_id FROM ids)"
        ).fetchall()
        out: dict[str, dict[str, str | None]] = {}
        for case_id, metric, version in rows:
            out.setdefault(case_id, {})[metric] = version
        return out

    def query(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        return self.con.sql(sql, params=list(params) or None).to_arrow_table()

    def table(self, name: str) -> pa.Table:
        if name not in TABLES and name != "results":
            raise StoreError(f"unknown table '{name}'")
        return self.query(f"SELECT * FROM {name}")

    def export(self, out_dir: str | Path, *, fmt: str = "csv", tables: Sequence[str] = ("results", "cases", "scores", "runs", "methods", "metrics", "datasets")) -> list[Path]:
        """Write tables as CSV or Parquet files into ``out_dir``; returns the paths."""
        if fmt not in ("csv", "parquet"):
            raise StoreError(f"export format must be csv or parquet, got '{fmt}'")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for name in tables:
            path = out_dir / f"{name}.{fmt}"
            option = "(HEADER, DELIMITER ',')" if fmt == "csv" else "(FORMAT PARQUET)"
            self.con.execute(f"COPY (SELECT * FROM {name}) TO '{_sql_str(path)}' {option}")
            paths.append(path)
        return paths


def _sql_str(path: Path) -> str:
    return str(path).replace("'", "''")


def _encode(table: str, column: str, value: Any) -> Any:
    if column in JSON_COLUMNS[table] and value is not None and not isinstance(value, str):
        return json.dumps(value, sort_keys=True, default=str)
    return value


_ARROW = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "DOUBLE": pa.float64(),
    "INTEGER": pa.int64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us"),
}


def _arrow_type(sql_type: str) -> pa.DataType:
    return _ARROW[sql_type.split()[0]]
