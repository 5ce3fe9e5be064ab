"""What the pages show, read from the database: the description tables (small), counts grouped
in DuckDB (statuses, problems, timings, set sizes), and the CSV/Parquet downloads written by
DuckDB itself. Every text is passed through the :class:`~restorebench.reports.site.public.Scrubber`.
Scores are not read here: :mod:`restorebench.reports.site.analyses` reads them one slice at a
time.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from restorebench.reports import queries
from restorebench.reports.site.context import SiteError, SiteOptions, jsonable
from restorebench.reports.site.public import Scrubber, scrub_json
from restorebench.reports.tables import directions as read_directions

#: The raw tables offered for download. Not the ``results`` view (scores joined with their
#: current case): it is as large as ``scores`` and costs a join over every score to write; a
#: reader joins ``scores`` and ``cases`` on ``case_id``, or runs ``restorebench export``.
DOWNLOAD_TABLES = ("scores", "cases", "runs", "methods", "metrics", "datasets", "imports")
TASK_ORDER = {"deblur": 0, "sr": 1}
#: Registry attribute (and ``metrics`` column, when the store has one) naming what a metric
#: measures; analyses plug in by it (``"sharpness"``: the sharpness page).
MEASURES = "measures"


@dataclass
class SiteData:
    db_path: Path
    scrub: Scrubber
    runs: pd.DataFrame
    imports: pd.DataFrame
    methods: pd.DataFrame
    metrics: pd.DataFrame
    datasets: pd.DataFrame
    problems: pd.DataFrame  # not-ok scores, counted per (task, dataset, set, label, metric, status, error)
    case_status: pd.DataFrame  # current cases counted per (task, domain, dataset, set, label, origin, status, error)
    timings: pd.DataFrame
    set_sizes: pd.DataFrame
    labels: pd.DataFrame  # one row per method label (current variant, imported, versions)
    label_runs: pd.DataFrame
    run_tasks: pd.DataFrame
    run_status: pd.DataFrame
    metric_origins: pd.DataFrame
    directions: dict[str, bool | None]
    n_cases: int
    n_scores: int
    downloads: list[Path] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.n_cases == 0 and self.n_scores == 0

    @functools.cached_property
    def tasks(self) -> list[str]:
        found = set(self.case_status["task"]) | set(self.problems["task"])
        return sorted(found, key=lambda t: (TASK_ORDER.get(t, 2), str(t)))

    @functools.cached_property
    def all_labels(self) -> list[str]:
        return sorted(set(self.labels["label"]) | set(self.methods["label"].dropna()), key=str.lower)

    @functools.cached_property
    def all_datasets(self) -> list[str]:
        return sorted(set(self.case_status["dataset"]))

    @functools.cached_property
    def domains(self) -> list[str]:
        return sorted(set(self.case_status["domain"].dropna()))

    @functools.cached_property
    def _label_rows(self) -> dict[str, dict[str, Any]]:
        return {r["label"]: r for r in self.labels.to_dict("records")}

    def is_imported(self, label: str) -> bool:
        return bool(self._label_rows.get(label, {}).get("imported"))

    def method_row(self, label: str) -> dict[str, Any]:
        """The ``methods`` row of a label's current variant (or any row with that label)."""
        variant = self._label_rows.get(label, {}).get("variant_id")
        rows = self.methods[self.methods["variant_id"] == variant] if variant else self.methods.iloc[0:0]
        if rows.empty:
            rows = self.methods[self.methods["label"] == label]
        return rows.iloc[0].to_dict() if len(rows) else {}

    @functools.cached_property
    def measures(self) -> dict[str, str | None]:
        """What each metric measures: the ``metrics`` table's column when the store has one, else
        the registry class's attribute (``None``: an image-quality score)."""
        out: dict[str, str | None] = {}
        for row in self.metrics.to_dict("records"):
            out[row["name"]] = row.get(MEASURES) or registry_attribute(row["name"], MEASURES)
        for name in self.directions:
            out.setdefault(name, registry_attribute(name, MEASURES))
        return out

    def metrics_measuring(self, quantity: str) -> list[str]:
        return sorted(m for m, q in self.measures.items() if q == quantity)

    def primary_metric(self, task: str, scored: list[str], *, options: SiteOptions) -> str | None:
        """The metric that orders ``task``'s overall leaderboard: the site option; else the first
        metric listed (``primary_metric`` first, if the spec names one) by the latest benchmark
        run of the task whose spec lists any of the ``scored`` ones, else by the latest import;
        else the first scored metric with a known direction."""
        ranked = [m for m in scored if self.directions.get(m) is not None]
        chosen = options.primary_metrics.get(task)
        if chosen is not None:
            if chosen not in scored:
                raise SiteError(f"primary metric {chosen!r} of task {task!r} has no scores (scored: {', '.join(scored) or 'none'})")
            return chosen
        runs_of_task = set(self.run_tasks.loc[self.run_tasks["task"] == task, "run_id"])
        latest_first = self.runs.iloc[::-1].to_dict("records")
        for run in sorted(latest_first, key=lambda r: r["kind"] == "import"):  # stable: runs, then imports
            if run["run_id"] in runs_of_task:
                listed = [m for m in _listed_metrics(run.get("spec_text")) if m in ranked]
                if listed:
                    return listed[0]
        return ranked[0] if ranked else (scored[0] if scored else None)


def _listed_metrics(spec_text: Any) -> list[str]:
    """Metric names in the order a spec (YAML) or an import's options (JSON) list them."""
    if not isinstance(spec_text, str) or not spec_text.strip():
        return []
    try:
        spec = yaml.safe_load(spec_text)
    except yaml.YAMLError:
        return []
    if not isinstance(spec, dict):
        return []
    names = [spec["primary_metric"]] if isinstance(spec.get("primary_metric"), str) else []
    for entry in spec.get("metrics") or []:
        name = entry if isinstance(entry, str) else entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and name not in names:
            names.append(name)
    return names


@functools.cache
def registry_attribute(metric: str, attribute: str) -> Any:
    try:
        from restorebench.metrics.base import REGISTRY

        return getattr(REGISTRY.get(metric), attribute, None)
    except Exception:  # not a metric of this installation (imported), or its module fails to import
        return None


def load_site_data(store: Any, *, db_path: Path, scrub: Scrubber, downloads_dir: Path | None = None) -> SiteData:
    """Read what the pages need from the open read-only ``store``; with ``downloads_dir``, write
    the tables as CSV and Parquet into ``downloads_dir/csv`` and ``downloads_dir/parquet`` (paths
    scrubbed by DuckDB on the way out)."""

    def frame(sql: str) -> pd.DataFrame:
        out = store.query(sql).to_pandas()
        for column in out.columns:
            if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
                values = [None if v is None or (isinstance(v, float) and v != v) else _scrub_value(v, scrub) for v in out[column]]
                out[column] = pd.Series(values, index=out.index, dtype=object)
        _missing_text_as_none(out)
        return out

    queries.prepare(store)
    counts = store.query(queries.COUNTS).to_pylist()[0]
    data = SiteData(
        db_path=db_path, scrub=scrub,
        runs=frame(queries.RUNS), imports=frame(queries.IMPORTS),
        methods=frame(queries.TABLE["methods"]), metrics=frame(queries.TABLE["metrics"]),
        datasets=frame(queries.TABLE["datasets"]),
        problems=frame(queries.PROBLEMS), case_status=frame(queries.CASE_STATUS), timings=frame(queries.TIMINGS),
        set_sizes=frame(queries.SET_SIZES), labels=frame(queries.LABELS), label_runs=frame(queries.LABEL_RUNS),
        run_tasks=frame(queries.RUN_TASKS), run_status=frame(queries.RUN_STATUS),
        metric_origins=frame(queries.METRIC_ORIGINS),
        directions=read_directions(store), n_cases=int(counts["cases"]), n_scores=int(counts["scores"]),
    )
    if downloads_dir is not None:
        data.downloads = write_downloads(store, downloads_dir, scrub=scrub)
    return data


def _scrub_value(value: Any, scrub: Scrubber) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        parsed = jsonable(value)
        if isinstance(parsed, (dict, list)):
            return json.dumps(scrub_json(parsed, scrub), sort_keys=True)
    return scrub.text(value)


def _missing_text_as_none(frame: pd.DataFrame) -> None:
    """pandas reads a NULL text as NaN, which is truthy (``NaN or "—"`` is NaN): make it None.
    Numeric columns keep NaN, which the statistics rely on."""
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)


def write_downloads(store: Any, folder: Path, *, scrub: Scrubber) -> list[Path]:
    """The tables as CSV and Parquet, written by DuckDB (no table passes through Python), text
    columns scrubbed of the machine's paths."""
    paths = []
    for fmt in ("csv", "parquet"):
        (folder / fmt).mkdir(parents=True, exist_ok=True)
        for name in DOWNLOAD_TABLES:
            columns = store.query(f"DESCRIBE SELECT * FROM {name}").to_pylist()
            select = ", ".join(scrub.sql(f'CAST("{c["column_name"]}" AS VARCHAR)') + f' AS "{c["column_name"]}"'
                               if c["column_type"] in ("VARCHAR", "JSON") else f'"{c["column_name"]}"' for c in columns)
            target = folder / fmt / f"{name}.{fmt}"
            option = "(HEADER, DELIMITER ',')" if fmt == "csv" else "(FORMAT PARQUET)"
            store.con.execute(f"COPY (SELECT {select} FROM {name}) TO '{str(target).replace(chr(39), chr(39) * 2)}' {option}")
            paths.append(target)
    return paths
