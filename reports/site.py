"""The static leaderboard site: database → Markdown pages (Jinja) → ``mkdocs build --strict``.

    >>> from reports.site import build_site
    >>> build_site("results/restorebench.duckdb", "results/site")   # → results/site/index.html

The database is opened read-only through :mod:`bench.store`. Pages are rendered from the Jinja
templates in ``reports/templates`` (StrictUndefined; every ``{{ value }}`` is escaped for
Markdown and HTML unless it is Markup that we generated) into a temporary ``docs`` folder together
with the hand-written pages of ``site/docs``, the static assets of ``reports/static``, SVG plots,
thumbnails and the CSV/Parquet downloads; then MkDocs (Material theme) builds the site into the
output folder. Nothing is written into the repository.

The built site makes no request to any host but its own: the theme's web fonts are off, no CDN
script is used (table sorting and filtering is ``reports/static/js/tables.js``), and the build
fails if any page would load a resource from another host.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import jinja2
import numpy as np
import pandas as pd
import yaml
from markupsafe import Markup

from restorebench.bench.folders import claim_folder
from restorebench.bench.store import Store
from restorebench.metrics.errors import RestoreBenchError
from restorebench.reports import analysis as an
from restorebench.reports import markdown as md
from restorebench.reports import plots
from restorebench.reports.importing import KNOWN_DIRECTIONS

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
#: The repository's ``site`` folder (mkdocs.yml and hand-written pages) in a source checkout.
REPO_SITE_DIR = PACKAGE_DIR.parent / "site"
DEFAULT_DB = Path("results/restorebench.duckdb")
DEFAULT_OUT = Path("results/site")
#: A file in every built site; the builder only ever empties a folder that has it (or is empty).
MARKER = ".restorebench-site"
#: The marker of a folder of generated Markdown kept with ``--keep-markdown``.
MARKDOWN_MARKER = ".restorebench-markdown"
#: Hand-written pages with a fixed place in the navigation; other pages go under "Guides".
HANDWRITTEN_NAV = {"metrics.md": ("Methodology", "Metrics and calibration"),
                   "singan.md": ("Methods", "SinGAN"),
                   "pretrained.md": ("Methods", "Pretrained models"),
                   "zssr.md": ("Methods", "ZSSR"),
                   "site.md": ("About", "Building this site")}
DOWNLOAD_TABLES = ("results", "scores", "cases", "runs", "methods", "metrics", "datasets")
TIMING_COLUMNS = ("seconds_load", "seconds_prepare", "seconds_restore", "seconds_save", "seconds_total", "peak_rss_mb")
NO_TASK = "other"


class SiteError(RestoreBenchError):
    """The site cannot be built (bad output folder, MkDocs failure, an external request)."""


@dataclass(frozen=True)
class SiteOptions:
    """Knobs of the analyses shown on the site.

    ``n_resamples`` bootstrap resamples per CI; ``alpha`` for significance marks; ``k`` images at
    each end for the behaviour analysis; ``gallery_items`` images per set in a gallery;
    ``thumbnail_px`` longest side of a thumbnail.
    """

    confidence: float = 0.95
    n_resamples: int = 2000
    seed: int = 0
    alpha: float = 0.05
    k: int = 10
    gallery_items: int = 6
    thumbnail_px: int = 160


# -- reading the database --------------------------------------------------------------------------
@dataclass
class SiteData:
    """Everything the pages show, read once from the database."""

    db_path: Path
    scores: pd.DataFrame  # ok scores joined with their case (results view)
    score_problems: pd.DataFrame  # scores that are not ok, counted per message
    cases: pd.DataFrame
    methods: pd.DataFrame
    metrics: pd.DataFrame
    runs: pd.DataFrame
    datasets: pd.DataFrame
    imports: pd.DataFrame
    downloads: list[Path] = field(default_factory=list)

    @functools.cached_property
    def directions(self) -> dict[str, bool | None]:
        out: dict[str, bool | None] = {}
        known = {r["name"]: r["higher_is_better"] for _, r in self.metrics.iterrows()}
        for metric in sorted(set(self.scores["metric"]) | set(known)):
            value = known.get(metric)
            out[metric] = bool(value) if value is not None and not pd.isna(value) else KNOWN_DIRECTIONS.get(metric)
        return out

    def label_of(self, variant_id: str) -> str:
        return self.labels.get(variant_id, variant_id)

    @functools.cached_property
    def labels(self) -> dict[str, str]:
        labels = {}
        for frame in (self.scores, self.cases):
            if len(frame):
                labels.update(dict(zip(frame["variant_id"], frame["label"])))
        for _, row in self.methods.iterrows():
            labels[row["variant_id"]] = row["label"] or row["name"] or row["variant_id"]
        return labels


SCORES_SQL = """
SELECT COALESCE(task, '{no_task}') AS task, domain, dataset, COALESCE(group_name, dataset) AS group_name,
       item, blur, method, variant_id, label, seed, sample, metric, value, origin
FROM results WHERE status = 'ok' AND value IS NOT NULL AND NOT isnan(value)
"""
# "not_applicable" (e.g. a full-reference metric without a reference) is not a missing score:
# it makes no column and no note.
PROBLEMS_SQL = """
SELECT COALESCE(task, '{no_task}') AS task, dataset, variant_id, label, metric, status,
       COALESCE(error, '') AS error, count(*) AS n
FROM results WHERE status <> 'not_applicable' AND (status <> 'ok' OR value IS NULL OR isnan(value))
GROUP BY ALL ORDER BY ALL
"""
CASES_SQL = """
SELECT c.case_id, c.run_id, c.origin, c.dataset, COALESCE(c.task, '{no_task}') AS task, c.domain,
       COALESCE(c.group_name, c.dataset) AS group_name, c.item, c.blur, c.method, c.variant_id,
       c.label, c.seed, c.sample, c.status, c.error,
       c.seconds_load, c.seconds_prepare, c.seconds_restore, c.seconds_save, c.seconds_total,
       c.peak_rss_mb, c.input_path, c.reference_path, c.output_path
FROM current_cases c
"""


def load_site_data(db: str | Path, *, downloads_dir: Path | None = None) -> SiteData:
    """Read what the site needs from ``db`` (read-only); with ``downloads_dir``, also export the
    tables as CSV and Parquet into ``downloads_dir/csv`` and ``downloads_dir/parquet``."""
    db = Path(db)
    with Store(db, read_only=True) as store:
        def frame(sql: str) -> pd.DataFrame:
            return store.query(sql.format(no_task=NO_TASK)).to_pandas()

        data = SiteData(
            db_path=db,
            scores=frame(SCORES_SQL),
            score_problems=frame(PROBLEMS_SQL),
            cases=frame(CASES_SQL),
            methods=store.table("methods").to_pandas(),
            metrics=store.table("metrics").to_pandas(),
            runs=store.query("SELECT * FROM runs ORDER BY started_at, run_id").to_pandas(),
            datasets=store.table("datasets").to_pandas(),
            imports=store.query("SELECT * FROM imports ORDER BY imported_at, path").to_pandas(),
        )
        if downloads_dir is not None:
            for fmt in ("csv", "parquet"):
                data.downloads += store.export(downloads_dir / fmt, fmt=fmt, tables=DOWNLOAD_TABLES)
    for frame_ in (data.scores, data.score_problems, data.cases, data.methods, data.metrics, data.runs, data.datasets, data.imports):
        _missing_text_as_none(frame_)
    # Labels of imported or unnamed variants may be missing in the view: fall back to the id.
    for frame_ in (data.scores, data.score_problems, data.cases):
        if "label" in frame_:
            frame_["label"] = frame_["label"].fillna(frame_.get("method", frame_["variant_id"])).fillna(frame_["variant_id"])
    return data


def _missing_text_as_none(frame: pd.DataFrame) -> None:
    """pandas reads a NULL text as NaN, which is truthy (``NaN or "—"`` is NaN): make it None.
    Numeric columns keep NaN, which the statistics rely on."""
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)


# -- names, paths and links ------------------------------------------------------------------------
def slug(name: Any) -> str:
    """A file-name-safe, collision-free slug: readable ASCII part + 8 hex digits of its hash."""
    text = str(name)
    readable = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "x"
    return f"{readable}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def relative(from_page: str, to_path: str) -> str:
    """Relative link from the Markdown page ``from_page`` to ``to_path`` (both docs-relative)."""
    return posixpath.relpath(to_path, posixpath.dirname(from_page) or ".")


@dataclass
class Page:
    path: str  # docs-relative, e.g. "methods/bicubic-1a2b3c4d.md"
    title: str  # plain text (escaped when written)
    section: str | None  # navigation section, None = top level
    nav_title: str | None = None  # shorter title in the navigation (default: title)
    hide_toc: bool = False  # wide tables need the room of the right-hand table of contents
    content: str = ""


@dataclass
class SiteContext:
    """What the page builders share: data, analyses, options, and the output being assembled."""

    data: SiteData
    options: SiteOptions
    docs_dir: Path
    env: jinja2.Environment
    pages: list[Page] = field(default_factory=list)
    handwritten: list[str] = field(default_factory=list)
    analyses: dict[str, Any] = field(default_factory=dict)

    def render(self, page: Page, template: str, **context: Any) -> None:
        helpers = {
            "page_title": page.title,
            "link_to": lambda text, target: md.link(text, relative(page.path, target)),
            "method_link": lambda variant: md.link(self.data.label_of(variant), relative(page.path, method_page(variant))),
            "asset": lambda target: relative(page.path, target),
            "handwritten": lambda name: relative(page.path, name) if name in self.handwritten else None,
        }
        # str(): Markup + str would HTML-escape the rendered page a second time.
        page.content = str(md.front_matter(title=page.title, hide_toc=page.hide_toc)) + self.env.get_template(template).render(**helpers, **context)
        self.pages.append(page)

    def write_asset(self, path: str, content: str | bytes) -> str:
        target = self.docs_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            target.write_text(content, encoding="utf-8")
        else:
            target.write_bytes(content)
        return path


def method_page(variant_id: str) -> str:
    return f"methods/{slug(variant_id)}.md"


def dataset_page(dataset: str) -> str:
    return f"datasets/{slug(dataset)}.md"


def domain_page(domain: str) -> str:
    return f"domains/{slug(domain)}.md"


def gallery_page(dataset: str) -> str:
    return f"galleries/{slug(dataset)}.md"


def leaderboard_page(task: str) -> str:
    return f"leaderboards/{slug(task)}.md"


# -- Jinja -----------------------------------------------------------------------------------------
def make_environment() -> jinja2.Environment:
    """Jinja for Markdown: StrictUndefined, and every ``{{ value }}`` escaped by
    :func:`reports.markdown.escape` unless it is Markup."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # HTML autoescaping does not know Markdown; finalize does both
        finalize=md.escape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update({
        "num": lambda v, digits=3: md.number(v, digits=digits),
        "p": md.p_value,
        "bold": md.bold,
        "code": lambda text, language="": md.code_block(str(text), language=language),
        "json": lambda v: md.code_block(json.dumps(_jsonable(v), indent=2, sort_keys=True, default=str), language="json"),
        "when": _when,
    })
    return env


def _jsonable(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _when(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "—"
    stamp = pd.Timestamp(value)
    return stamp.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if stamp.tzinfo is None else "")


# -- cells and tables ------------------------------------------------------------------------------
def arrow(direction: bool | None) -> str:
    return {True: " ↑", False: " ↓"}.get(direction, "")


def stat_cell(row: Mapping[str, Any] | None, *, best: bool = False, mark: str = "", note: Sequence[int] = (),
              n_expected: int | None = None, digits: int = 3) -> Markup:
    """The mean (bold when best) with its significance mark and note number, and below it in
    small type the CI ``[low, high]``, ``(n=…)`` when the count differs from the row's, and
    ``+k×∞`` for infinite values left out of the mean. The mean comes first so that the table
    script sorts by it."""
    if row is None or (row["n"] == 0):
        text = Markup("—")
        details = Markup("")
    else:
        mean = md.number(row["mean"], digits=digits)
        text = (md.bold(mean) if best else md.escape(mean)) + Markup(mark)
        parts = []
        if not math.isnan(row["ci_low"]):
            parts.append(f"[{md.number(row['ci_low'], digits=digits)}, {md.number(row['ci_high'], digits=digits)}]")
        if n_expected is not None and row["n"] != n_expected:
            parts.append(f"(n={row['n']})")
        if row["n_inf"] and math.isfinite(row["mean"]):
            parts.append(f"+{row['n_inf']}×∞")
        details = Markup(f"<br><small>{md.escape(' '.join(parts))}</small>") if parts else Markup("")
    if note:
        text += Markup(f"<sup>[{','.join(str(n) for n in note)}]</sup>")
    return text + details


class Notes:
    """Numbered notes under a table (missing or failed scores, with their messages)."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, text: str) -> int:
        if text not in self.items:
            self.items.append(text)
        return self.items.index(text) + 1

    def markdown(self) -> Markup:
        return Markup("\n".join(f"{i}. {md.escape(t)}" for i, t in enumerate(self.items, start=1)))


def problem_text(problems: pd.DataFrame, *, counts: bool = True) -> str:
    """One line per (status, message): ``unavailable ×20: weights file nima.pth missing …``."""
    parts = []
    for (status, error), frame in problems.groupby(["status", "error"], sort=True):
        parts.append(status + (f" ×{int(frame['n'].sum())}" if counts else "") + (f": {error}" if error else ""))
    return "; ".join(parts)


def cell_notes(notes: "Notes", problems: pd.DataFrame, *, label: str, metric: str) -> list[int]:
    """Note numbers for one cell's missing scores. A case that did not run (``case_*``: method
    failed or its weights are missing) is one note per method, a metric that could not score
    is one note per metric — not one per cell, which would repeat each message many times."""
    case_level = problems["status"].astype(str).str.startswith("case_")
    numbers = []
    if case_level.any():
        numbers.append(notes.add(f"{label}: {problem_text(problems[case_level])}"))
    if (~case_level).any():
        numbers.append(notes.add(f"{metric}: {problem_text(problems[~case_level], counts=False)}"))
    return numbers


def leaderboard_table(
    ctx: SiteContext,
    *,
    page: str,
    board: pd.DataFrame,
    significance: pd.DataFrame | None,
    problems: pd.DataFrame,
    metrics: Sequence[str],
    variants: Sequence[str],
) -> tuple[Markup, Markup]:
    """A leaderboard table (rows = variants ordered by mean rank, columns = metrics) and its notes."""
    directions = ctx.data.directions
    cells = {(r["variant_id"], r["metric"]): r for r in board.to_dict("records")}
    marks: dict[tuple[str, str], str] = {}
    if significance is not None:
        for r in significance.to_dict("records"):
            marks[(r["variant_id"], r["metric"])] = "\\*" if r["significant"] else ""
    mean_rank = {}
    for variant in variants:
        ranks = [cells[(variant, m)]["rank"] for m in metrics if (variant, m) in cells and not pd.isna(cells[(variant, m)]["rank"])]
        mean_rank[variant] = float(np.mean(ranks)) if ranks else math.nan
    ordered = sorted(variants, key=lambda v: (math.isnan(mean_rank[v]), mean_rank[v], ctx.data.label_of(v)))
    notes = Notes()
    rows = []
    for variant in ordered:
        counts = [cells[(variant, m)]["n"] for m in metrics if (variant, m) in cells]
        n_row = max(counts) if counts else 0
        row: list[Any] = [md.link(ctx.data.label_of(variant), relative(page, method_page(variant))) + _origin_badge(ctx, variant),
                          str(n_row), md.number(mean_rank[variant], digits=2)]
        for metric in metrics:
            stats = cells.get((variant, metric))
            missing = problems[(problems["variant_id"] == variant) & (problems["metric"] == metric)]
            note = cell_notes(notes, missing, label=ctx.data.label_of(variant), metric=metric)
            row.append(stat_cell(stats, best=bool(stats and stats["rank"] == 1), mark=marks.get((variant, metric), ""),
                                 note=note, n_expected=n_row))
        rows.append(row)
    headers = ["method", "n", "mean rank"] + [f"{m}{arrow(directions.get(m))}" for m in metrics]
    table = md.table(headers, rows, align=["l", "r", "r"] + ["r"] * len(metrics))
    return table, notes.markdown()


def differences_table(ctx: SiteContext, *, page: str, significance: pd.DataFrame) -> Markup:
    """Each method against the best of each column: Δ = method − best on the images both
    scored, with its bootstrap CI, the number of pairs and the Holm-adjusted Wilcoxon p."""
    label = ctx.data.label_of
    rows = []
    for r in significance.sort_values(["metric", "p_adjusted"], na_position="last").to_dict("records"):
        delta = md.number(r["mean_delta"])
        if not math.isnan(r["ci_low"]):
            delta += f" [{md.number(r['ci_low'])}, {md.number(r['ci_high'])}]"
        rows.append([r["metric"], md.link(label(r["variant_id"]), relative(page, method_page(r["variant_id"]))),
                     label(r["best_variant_id"]), delta, str(r["n_pairs"]), md.p_value(r["p_adjusted"]),
                     "yes" if r["significant"] else "no"])
    return md.table(["metric", "method", "best", "Δ = method − best [95 % CI]", "pairs", "p (Holm)", "significant"],
                    rows, align=list("llllrrl"))


def _origin_badge(ctx: SiteContext, variant: str) -> Markup:
    origins = set(ctx.data.cases.loc[ctx.data.cases["variant_id"] == variant, "origin"].dropna())
    return Markup(" <small>(imported)</small>") if origins == {"import"} else Markup("")


# -- the analyses, computed once -----------------------------------------------------------------
def compute_analyses(data: SiteData, options: SiteOptions) -> dict[str, Any]:
    stats = dict(confidence=options.confidence, n_resamples=options.n_resamples, seed=options.seed)
    image = an.per_image_scores(data.scores)
    by_dataset = an.leaderboard(image, directions=data.directions, by=("task", "dataset"), **stats)
    significance = an.significance_vs_best(image, by_dataset, by=("task", "dataset"), alpha=options.alpha, **stats)
    # Per set (LR set or blur kind): the dataset pages show CIs per set, the domain pages the
    # mean ± std that the blind-SR study reported.
    by_set = an.leaderboard(image, directions=data.directions, by=("task", "domain", "dataset", "group_name"), **stats)
    return {"image": image, "by_dataset": by_dataset, "significance": significance, "by_set": by_set}


# -- pages -----------------------------------------------------------------------------------------
def tasks_of(data: SiteData) -> list[str]:
    tasks = set(data.scores["task"]) | set(data.cases["task"])
    order = {"deblur": 0, "sr": 1}
    return sorted(tasks, key=lambda t: (order.get(t, 2), str(t)))


TASK_TITLES = {"deblur": "Deblurring", "sr": "Blind super-resolution", NO_TASK: "Other"}


def build_home(ctx: SiteContext, intro: str) -> None:
    data = ctx.data
    page = Page("index.md", "Home", None)
    runs = data.runs
    # "What was run": the latest benchmark run; imports only when there is no run at all.
    benchmark_runs = runs[runs["kind"] != "import"] if len(runs) else runs
    shown = benchmark_runs if len(benchmark_runs) else runs
    latest = shown.iloc[-1].to_dict() if len(shown) else None
    machine = _jsonable(latest.get("machine")) if latest else None
    run_rows = [[md.escape(r["run_id"]), r["kind"], r["spec_name"], _when(r["started_at"]), _when(r["finished_at"]),
                 r["status"], _count(r["n_ok"]), _count(r["n_failed"])] for r in runs.tail(10).iloc[::-1].to_dict("records")]
    ctx.render(
        page, "index.md.j2",
        intro=Markup(intro),
        n_runs=len(runs), n_cases=len(data.cases), n_scores=len(data.scores),
        n_problems=int(data.score_problems["n"].sum()) if len(data.score_problems) else 0,
        latest=latest, machine=_flat_items(machine),
        tasks=[(TASK_TITLES.get(t, t), leaderboard_page(t)) for t in tasks_of(data)],
        datasets=sorted(set(data.cases["dataset"]) | set(data.scores["dataset"])),
        methods=sorted(set(data.cases["variant_id"]) | set(data.scores["variant_id"]), key=data.label_of),
        metrics=sorted(set(data.scores["metric"])),
        runs_table=md.table(["run", "kind", "spec", "started", "finished", "status", "ok", "failed"], run_rows),
        dataset_page=dataset_page, method_page=method_page,
    )


def _count(value: Any) -> str:
    return "—" if value is None or pd.isna(value) else str(int(value))


def _flat_items(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, Mapping):
        return []
    return [(str(k), "—" if v is None else v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str))
            for k, v in value.items()]


def build_leaderboards(ctx: SiteContext) -> None:
    data, a = ctx.data, ctx.analyses
    for task in tasks_of(data):
        page = Page(leaderboard_page(task), f"Leaderboard: {TASK_TITLES.get(task, task)}", "Leaderboards",
                    nav_title=TASK_TITLES.get(task, task), hide_toc=True)
        sections = []
        board = a["by_dataset"][a["by_dataset"]["task"] == task]
        for dataset in sorted(set(board["dataset"]) | set(data.cases.loc[data.cases["task"] == task, "dataset"])):
            sub = board[board["dataset"] == dataset]
            problems = data.score_problems[(data.score_problems["task"] == task) & (data.score_problems["dataset"] == dataset)]
            metrics = sorted(set(sub["metric"]) | set(problems["metric"]))
            variants = sorted(set(sub["variant_id"]) | set(problems["variant_id"])
                              | set(data.cases.loc[(data.cases["task"] == task) & (data.cases["dataset"] == dataset), "variant_id"]),
                              key=data.label_of)
            sig = a["significance"][(a["significance"]["task"] == task) & (a["significance"]["dataset"] == dataset)]
            table, notes = leaderboard_table(ctx, page=page.path, board=sub, significance=sig, problems=problems,
                                             metrics=metrics, variants=variants)
            failed = _failed_cases(data.cases[(data.cases["task"] == task) & (data.cases["dataset"] == dataset)])
            sections.append({"dataset": dataset, "link": dataset_page(dataset), "table": table, "notes": notes,
                             "failed": failed, "differences": differences_table(ctx, page=page.path, significance=sig)})
        ctx.render(page, "leaderboard.md.j2", task=task, task_title=TASK_TITLES.get(task, task), sections=sections,
                   alpha=ctx.options.alpha, confidence=int(ctx.options.confidence * 100))


def _failed_cases(cases: pd.DataFrame) -> list[str]:
    bad = cases[cases["status"] != "ok"]
    lines = []
    for (label, status, error), frame in bad.groupby(["label", "status", bad["error"].fillna("")], sort=True):
        lines.append(f"{label}: {status} ×{len(frame)}" + (f" — {error}" if error else ""))
    return lines


def build_datasets(ctx: SiteContext) -> None:
    data, a = ctx.data, ctx.analyses
    datasets = sorted(set(data.cases["dataset"]) | set(data.scores["dataset"]))
    described = {r["name"]: r for r in data.datasets.to_dict("records")}
    galleries = set(gallery_datasets(data))
    index_rows = []
    for dataset in datasets:
        page = Page(dataset_page(dataset), f"Dataset {dataset}", "Datasets", nav_title=dataset)
        info = described.get(dataset, {})
        cases = data.cases[data.cases["dataset"] == dataset]
        by_set = a["by_set"][a["by_set"]["dataset"] == dataset]
        groups = []
        for group in sorted(set(by_set["group_name"]) | set(cases["group_name"].dropna())):
            sub = by_set[by_set["group_name"] == group]
            problems = data.score_problems[data.score_problems["dataset"] == dataset]
            metrics = sorted(set(sub["metric"]))
            variants = sorted(set(sub["variant_id"]) | set(cases.loc[cases["group_name"] == group, "variant_id"]), key=data.label_of)
            table, notes = leaderboard_table(ctx, page=page.path, board=sub, significance=None,
                                             problems=problems.iloc[0:0], metrics=metrics, variants=variants)
            domain = sub["domain"].dropna().iloc[0] if sub["domain"].notna().any() else None
            n_images = int(cases.loc[cases["group_name"] == group, "item"].nunique())
            groups.append({"name": group, "table": table, "notes": notes, "domain": domain, "n_images": n_images})
        tasks = sorted(set(cases["task"]) | set(data.scores.loc[data.scores["dataset"] == dataset, "task"]))
        ctx.render(page, "dataset.md.j2", dataset=dataset, info=_flat_items({k: v for k, v in info.items() if k != "name"}),
                   groups=groups, tasks=tasks, leaderboard_page=leaderboard_page,
                   gallery=gallery_page(dataset) if dataset in galleries else None,
                   task_titles=TASK_TITLES)
        index_rows.append([md.link(dataset, relative("datasets/index.md", page.path)), info.get("kind"), ", ".join(tasks),
                           str(cases["group_name"].nunique()), str(cases["item"].nunique()), str(cases["variant_id"].nunique())])
    page = Page("datasets/index.md", "Datasets", "Datasets", nav_title="All datasets")
    ctx.render(page, "datasets_index.md.j2",
               table=md.table(["dataset", "kind", "task", "sets", "images", "methods"], index_rows, align=list("llllrr")[:3] + ["r"] * 3))


def build_domains(ctx: SiteContext) -> None:
    data, a = ctx.data, ctx.analyses
    by_set = a["by_set"][a["by_set"]["domain"].notna()]
    if by_set.empty:
        return
    extremes = an.domain_extremes(by_set, directions=data.directions)
    directions = data.directions
    index_rows = []
    for domain in sorted(set(by_set["domain"])):
        page = Page(domain_page(domain), f"Domain {domain}", "Domains", nav_title=domain, hide_toc=True)
        sub = by_set[by_set["domain"] == domain]
        sections = []
        for metric in sorted(set(sub["metric"])):
            m = sub[sub["metric"] == metric]
            variants = sorted(set(m["variant_id"]), key=data.label_of)
            sets = sorted({(r["dataset"], r["group_name"]) for r in m.to_dict("records")})
            cell = {(r["dataset"], r["group_name"], r["variant_id"]): r for r in m.to_dict("records")}
            rows = []
            for dataset, group in sets:
                ranked = [cell[(dataset, group, v)] for v in variants if (dataset, group, v) in cell]
                best = {r["variant_id"] for r in ranked if r["rank"] == 1}
                name = group if group == dataset else f"{dataset} / {group}"
                row: list[Any] = [md.link(name, relative(page.path, dataset_page(dataset)))]
                for v in variants:
                    r = cell.get((dataset, group, v))
                    row.append(_mean_std_cell(r, best=v in best))
                rows.append(row)
            ext = extremes[(extremes["domain"] == domain) & (extremes["metric"] == metric)]
            ext_rows = [[md.link(data.label_of(r["variant_id"]), relative(page.path, method_page(r["variant_id"]))),
                         r["best_set"], md.number(r["best_mean"]), r["worst_set"], md.number(r["worst_mean"])]
                        for r in ext.to_dict("records")]
            sections.append({
                "metric": metric, "direction": arrow(directions.get(metric)),
                "table": md.table(["set"] + [data.label_of(v) for v in variants], rows, align=["l"] + ["r"] * len(variants)),
                "extremes": md.table(["method", "best set", "mean", "worst set", "mean"], ext_rows, align=list("llrlr")),
            })
        ctx.render(page, "domain.md.j2", domain=domain, sections=sections)
        index_rows.append([md.link(domain, relative("domains/index.md", page.path)),
                           str(len({(r["dataset"], r["group_name"]) for r in sub.to_dict("records")})),
                           ", ".join(sorted(set(sub["task"])))])
    ctx.render(Page("domains/index.md", "Domains", "Domains", nav_title="All domains"), "domains_index.md.j2",
               table=md.table(["domain", "sets", "task"], index_rows, align=["l", "r", "l"]))


def _mean_std_cell(row: Mapping[str, Any] | None, *, best: bool) -> Markup:
    if row is None or row["n"] == 0:
        return Markup("—")
    mean = md.number(row["mean"])
    text = md.bold(mean) if best else md.escape(mean)
    if not math.isnan(row["std"]):
        text += md.escape(f" ± {md.number(row['std'])}")
    if row["n_inf"] and math.isfinite(row["mean"]):
        text += md.escape(f" +{row['n_inf']}×∞")
    return text


def build_methods(ctx: SiteContext) -> None:
    data, a = ctx.data, ctx.analyses
    described = {r["variant_id"]: r for r in data.methods.to_dict("records")}
    variants = sorted(set(data.cases["variant_id"]) | set(data.scores["variant_id"]) | set(described), key=data.label_of)
    index_rows = []
    for variant in variants:
        imported = _origin_badge(ctx, variant) != ""
        page = Page(method_page(variant), f"Method {data.label_of(variant)}" + (" (imported)" if imported else ""), "Methods",
                    nav_title=data.label_of(variant) + (" (imported)" if imported else ""), hide_toc=True)
        info = described.get(variant, {})
        cases = data.cases[data.cases["variant_id"] == variant]
        timing_rows = []
        for (dataset, task), frame in cases.groupby(["dataset", "task"], sort=True):
            counts = frame["status"].value_counts()
            timing_rows.append([md.link(dataset, relative(page.path, dataset_page(dataset))), task, str(len(frame)),
                                str(int(counts.get("ok", 0))), str(int(len(frame) - counts.get("ok", 0)))]
                               + [md.number(frame[c].mean(), digits=3) if frame[c].notna().any() else "—" for c in TIMING_COLUMNS])
        board = a["by_dataset"][a["by_dataset"]["variant_id"] == variant]
        score_rows = [[md.link(r["dataset"], relative(page.path, dataset_page(r["dataset"]))),
                       f"{r['metric']}{arrow(data.directions.get(r['metric']))}", str(r["n"]),
                       stat_cell(r, best=r["rank"] == 1), md.number(r["std"]), md.number(r["median"]),
                       "—" if pd.isna(r["rank"]) else str(int(r["rank"]))] for r in board.to_dict("records")]
        problems = data.score_problems[data.score_problems["variant_id"] == variant]
        problem_rows = [[r["dataset"], r["metric"], r["status"], str(r["n"]), r["error"] or "—"] for r in problems.to_dict("records")]
        ctx.render(
            page, "method.md.j2", label=data.label_of(variant), variant=variant, info=info,
            origins=sorted(set(cases["origin"].dropna())),
            params=_jsonable(info.get("params")), weights=_jsonable(info.get("weights")),
            timing=md.table(["dataset", "task", "cases", "ok", "not ok", "load s", "prepare s", "restore s", "save s", "total s", "peak RSS MB"],
                            timing_rows, align=["l", "l"] + ["r"] * 9),
            scores=md.table(["dataset", "metric", "n", "mean [95 % CI]", "std", "median", "rank"], score_rows, align=list("llrrrrr")),
            problems=md.table(["dataset", "metric", "status", "count", "message"], problem_rows, align=list("lllrl")),
            failed=_failed_cases(cases),
        )
        index_rows.append([md.link(data.label_of(variant), relative("methods/index.md", page.path)) + _origin_badge(ctx, variant),
                           info.get("name") or (cases["method"].iloc[0] if len(cases) else "—"), str(len(cases)),
                           str(int((cases["status"] == "ok").sum())), info.get("code_version") or "—"])
    ctx.render(Page("methods/index.md", "Methods", "Methods", nav_title="All methods"), "methods_index.md.j2",
               table=md.table(["method", "name", "cases", "ok", "code version"], index_rows, align=list("llrrl")))


def build_correlations(ctx: SiteContext) -> None:
    data, a = ctx.data, ctx.analyses
    sections = []
    for task in tasks_of(data):
        image = a["image"][a["image"]["task"] == task]
        if image.empty:
            continue
        metric_corr = an.metric_correlations(image)
        metric_plot = None
        metrics = sorted(set(image["metric"]))
        if len(metrics) >= 2:
            metric_plot = ctx.write_asset(f"plots/metric-correlation-{slug(task)}.svg", plots.heatmap_svg(
                _matrix(metric_corr, metrics, "spearman_rho"), labels=metrics, title=f"Spearman ρ across images ({task})"))
        method_sections = []
        for metric in metrics:
            corr = an.method_correlations(image, metric=metric)
            if corr.empty:
                continue
            variants = sorted(set(corr["a"]) | set(corr["b"]), key=data.label_of)
            method_plot = ctx.write_asset(
                f"plots/method-correlation-{slug(task)}-{slug(metric)}.svg",
                plots.heatmap_svg(_matrix(corr, variants, "spearman_rho"), labels=[data.label_of(v) for v in variants],
                                  title=f"{metric}: Spearman ρ of per-image scores"))
            method_sections.append({"metric": metric, "table": _correlation_table(corr, label=data.label_of),
                                    "plot": method_plot})
        sections.append({"task": task, "title": TASK_TITLES.get(task, task),
                         "metric_table": _correlation_table(metric_corr, label=str), "metric_plot": metric_plot,
                         "methods": method_sections})
    ctx.render(Page("analyses/correlation.md", "Correlations", "Analyses"), "correlation.md.j2", sections=sections)


def _matrix(corr: pd.DataFrame, names: Sequence[str], column: str) -> np.ndarray:
    index = {n: i for i, n in enumerate(names)}
    matrix = np.full((len(names), len(names)), np.nan)
    np.fill_diagonal(matrix, 1.0)
    for r in corr.to_dict("records"):
        if r["a"] in index and r["b"] in index:
            matrix[index[r["a"]], index[r["b"]]] = matrix[index[r["b"]], index[r["a"]]] = r[column]
    return matrix


def _correlation_table(corr: pd.DataFrame, *, label: Callable[[str], str]) -> Markup:
    rows = [[label(r["a"]), label(r["b"]), str(r["n"]), md.number(r["pearson_r"]), md.p_value(r["pearson_p"]),
             md.number(r["spearman_rho"]), md.p_value(r["spearman_p"]), md.number(r["kendall_tau"]), md.p_value(r["kendall_p"])]
            for r in corr.to_dict("records")]
    return md.table(["a", "b", "n", "Pearson r", "p", "Spearman ρ", "p", "Kendall τ", "p"], rows, align=list("llrrrrrrr"))


#: Metrics the studies led with, in order; they come first in the analysis pages.
PRIMARY_METRICS = ("maniqa", "nima", "niqe", "psnr")


def _ranked_metrics(ctx: SiteContext, task: str, *, exclude: Iterable[str] = ()) -> list[str]:
    """Metrics of known direction scored for ``task``: the studies' primary ones first."""
    image = ctx.analyses["image"]
    present = sorted(set(image.loc[image["task"] == task, "metric"]) - set(exclude),
                     key=lambda m: (PRIMARY_METRICS.index(m) if m in PRIMARY_METRICS else len(PRIMARY_METRICS), m))
    return [m for m in present if ctx.data.directions.get(m) is not None]


def build_behaviour(ctx: SiteContext) -> None:
    data, a = ctx.data, ctx.analyses
    sections = []
    k = ctx.options.k
    for task in tasks_of(data):
        image = a["image"][a["image"]["task"] == task]
        for metric in _ranked_metrics(ctx, task, exclude=("sharpness",)):
            result = an.behaviour_analysis(image, metric=metric, higher_is_better=bool(data.directions[metric]), k=k)
            if len(result["variants"]) < 2 or result["overlaps"].empty:
                continue
            va, vb = result["variants"]
            rows = [[_set_name(r), str(r["n_common"]), str(r["k"]), str(r["low_overlap"]), str(r["high_overlap"])]
                    for r in result["overlaps"].to_dict("records")]
            s = result["statistics"]
            stat_rows = [
                ["Shapiro–Wilk W, lowest-k overlap", md.number(s["shapiro_low_w"]), md.p_value(s["shapiro_low_p"])],
                ["Shapiro–Wilk W, highest-k overlap", md.number(s["shapiro_high_w"]), md.p_value(s["shapiro_high_p"])],
                ["Kendall τ (lowest vs highest)", md.number(s["kendall_tau"]), md.p_value(s["kendall_p"])],
                ["Pearson r (lowest vs highest)", md.number(s["pearson_r"]), md.p_value(s["pearson_p"])],
                ["Spearman ρ (lowest vs highest)", md.number(s["spearman_rho"]), md.p_value(s["spearman_p"])],
            ]
            sections.append({
                "task": TASK_TITLES.get(task, task), "metric": metric, "k": k, "n_sets": s["n_sets"],
                "a": va, "b": vb,
                "table": md.table(["set", "images in common", "k", f"lowest-{k} overlap", f"highest-{k} overlap"], rows, align=list("lrrrr")),
                "statistics": md.table(["test across sets", "statistic", "p"], stat_rows, align=list("lrr")),
            })
    ctx.render(Page("analyses/behaviour.md", "Behaviour of the top two", "Analyses"), "behaviour.md.j2", sections=sections, k=k)


def _set_name(row: Mapping[str, Any]) -> str:
    return row["group_name"] if row["group_name"] == row["dataset"] else f"{row['dataset']} / {row['group_name']}"


def build_sharpness(ctx: SiteContext) -> None:
    data, a = ctx.data, ctx.analyses
    sections = []
    for task in tasks_of(data):
        image = a["image"][a["image"]["task"] == task]
        if "sharpness" not in set(image["metric"]):
            continue
        for metric in _ranked_metrics(ctx, task, exclude=("sharpness",)):
            higher = bool(data.directions[metric])
            variants = an.top_variants(image, metric=metric, higher_is_better=higher, n=2)
            if not variants:
                continue
            frame = an.sharpness_of_extremes(image, variants=variants, metric=metric, higher_is_better=higher)
            if frame.empty:
                continue
            sets = sorted({(r["dataset"], r["group_name"]) for r in frame.to_dict("records")})
            by = {(r["dataset"], r["group_name"], r["variant_id"]): r for r in frame.to_dict("records")}
            headers = ["set"]
            for v in variants:
                label = data.label_of(v)
                headers += [f"{label}: best image", "sharpness", f"{label}: worst image", "sharpness"]
            rows = []
            series: dict[str, list[float]] = {}
            for dataset, group in sets:
                row: list[Any] = [_set_name({"dataset": dataset, "group_name": group})]
                for v in variants:
                    r = by.get((dataset, group, v))
                    row += ([r["best_item"], md.number(r["best_sharpness"], digits=2), r["worst_item"], md.number(r["worst_sharpness"], digits=2)]
                            if r else ["—"] * 4)
                    for which in ("best", "worst"):
                        series.setdefault(f"{data.label_of(v)} {which}", []).append(r[f"{which}_sharpness"] if r else math.nan)
                rows.append(row)
            plot = None
            if not any(section["task"] == TASK_TITLES.get(task, task) for section in sections):
                # One figure per task (its first metric): the tables carry the rest, and each
                # figure costs a noticeable share of the build time on large databases.
                plot = ctx.write_asset(f"plots/sharpness-{slug(task)}-{slug(metric)}.svg", plots.paired_bars_svg(
                    [_set_name({"dataset": d, "group_name": g}) for d, g in sets], series,
                    y_label="RMS contrast (gray levels)", title=f"Sharpness of the best and worst image by {metric}"))
            sections.append({"task": TASK_TITLES.get(task, task), "metric": metric, "variants": variants,
                             "table": md.table(headers, rows, align=["l"] + ["l", "r", "l", "r"] * len(variants)), "plot": plot})
    ctx.render(Page("analyses/sharpness.md", "Sharpness", "Analyses", hide_toc=True), "sharpness.md.j2", sections=sections)


def build_start_scale(ctx: SiteContext, work_images: Callable[[str], Path | None]) -> None:
    data = ctx.data
    params = {r["variant_id"]: _jsonable(r["params"]) for r in data.methods.to_dict("records")}
    curves = an.start_scale_curves(data.scores, params, confidence=ctx.options.confidence,
                                   n_resamples=ctx.options.n_resamples, seed=ctx.options.seed)
    sections = []
    for (method, metric), frame in curves.groupby(["method", "metric"], sort=True):
        lines = {}
        for group, g in frame.groupby("group_name", sort=True):
            g = g.sort_values("gen_start_scale")
            lines[str(group)] = list(zip(g["gen_start_scale"], g["mean"], g["ci_low"], g["ci_high"]))
        plot = ctx.write_asset(f"plots/start-scale-{slug(method)}-{slug(metric)}.svg",
                               plots.start_scale_svg(lines, metric=metric))
        rows = [[r["group_name"], str(r["gen_start_scale"]), str(r["n"]), stat_cell(r)] for r in frame.to_dict("records")]
        sections.append({"method": method, "metric": metric, "plot": plot, "direction": arrow(data.directions.get(metric)),
                         "table": md.table(["blur", "start scale", "n", "mean [95 % CI]"], rows, align=list("lrrr"))})
    grids = singan_grids(ctx, params, work_images)
    ctx.render(Page("analyses/start-scale.md", "SinGAN start scale", "Analyses"), "start_scale.md.j2",
               sections=sections, grids=grids)


def singan_grids(ctx: SiteContext, params: Mapping[str, Any], resolve: Callable[[str], Path | None], *, limit: int = 3) -> list[dict[str, Any]]:
    """Grids of the sharp photo, the blurred input and one sample per start scale (first
    ``limit`` images), drawn by :func:`reports.singan_grid.singan_grid`."""
    from restorebench.reports import singan_grid as module
    scale_of = {v: p["gen_start_scale"] for v, p in params.items() if isinstance(p, Mapping) and p.get("gen_start_scale") is not None}
    cases = ctx.data.cases[ctx.data.cases["variant_id"].isin(list(scale_of)) & (ctx.data.cases["status"] == "ok")]
    grids = []
    for (method, group, item), frame in list(cases.groupby(["method", "group_name", "item"], sort=True))[:limit]:
        first = frame.iloc[0]
        try:
            from PIL import Image

            def load(path: Any) -> np.ndarray:
                resolved = resolve(path) if isinstance(path, str) else None
                if resolved is None:
                    raise FileNotFoundError(f"image file {path} not found")
                return np.asarray(Image.open(resolved).convert("RGB"))

            samples: dict[int, np.ndarray] = {}  # the first sample of each start scale
            for r in frame.sort_values(["seed", "sample", "variant_id"]).to_dict("records"):
                scale = int(scale_of[r["variant_id"]])
                if scale not in samples:
                    samples[scale] = load(r["output_path"])
            grid = module.singan_grid(load(first["reference_path"]), load(first["input_path"]), dict(sorted(samples.items())),
                                      blur=str(group))
            buffer = _png_bytes(np.asarray(grid))
            path = ctx.write_asset(f"plots/singan-grid-{slug(f'{method}|{group}|{item}')}.png", buffer)
            grids.append({"method": method, "group": group, "item": item, "image": path, "error": None})
        except Exception as exc:  # a missing file or a grid error must not break the whole site
            grids.append({"method": method, "group": group, "item": item, "image": None, "error": f"{type(exc).__name__}: {exc}"})
    return grids


def _png_bytes(array: np.ndarray) -> bytes:
    import io

    from PIL import Image

    if array.dtype != np.uint8:
        array = np.clip(array * (255 if array.max() <= 1.0 else 1), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def gallery_datasets(data: SiteData) -> list[str]:
    """Datasets with images recorded (imported scores have none)."""
    cases = data.cases
    with_images = cases[cases["output_path"].notna() | cases["input_path"].notna()]
    return sorted(set(with_images["dataset"]))


def build_galleries(ctx: SiteContext, resolve: Callable[[str], Path | None]) -> None:
    data = ctx.data
    cases = data.cases
    index_rows = []
    for dataset in gallery_datasets(data):
        subset = cases[cases["dataset"] == dataset]
        page = Page(gallery_page(dataset), f"Gallery {dataset}", "Galleries", nav_title=dataset, hide_toc=True)
        variants = sorted(set(subset["variant_id"]), key=data.label_of)
        with_reference = subset["reference_path"].notna().any()
        groups = []
        for group, frame in subset.groupby("group_name", sort=True):
            items = sorted(set(frame["item"]))[: ctx.options.gallery_items]
            rows = []
            for item in items:
                of_item = frame[frame["item"] == item].sort_values(["seed", "sample"])
                row: list[Any] = [item, _thumbnail(ctx, page.path, of_item["input_path"].dropna().head(1), resolve, alt=f"input {item}")]
                if with_reference:
                    row.append(_thumbnail(ctx, page.path, of_item["reference_path"].dropna().head(1), resolve, alt=f"reference {item}"))
                for v in variants:
                    out = of_item[of_item["variant_id"] == v]
                    row.append(_thumbnail(ctx, page.path, out["output_path"].dropna().head(1), resolve,
                                          alt=f"{data.label_of(v)} {item}", status=out["status"].head(1)))
                rows.append(row)
            headers = ["image", "input"] + (["reference"] if with_reference else []) + [data.label_of(v) for v in variants]
            groups.append({"name": group, "table": md.table(headers, rows, align=["l"] + ["c"] * (len(headers) - 1))})
        ctx.render(page, "gallery.md.j2", dataset=dataset, groups=groups, limit=ctx.options.gallery_items)
        index_rows.append([md.link(dataset, relative("galleries/index.md", page.path)), str(len(groups)), str(len(variants))])
    ctx.render(Page("galleries/index.md", "Galleries", "Galleries", nav_title="All galleries"), "galleries_index.md.j2",
               table=md.table(["dataset", "sets", "methods"], index_rows, align=list("lrr")))


def _thumbnail(ctx: SiteContext, page: str, paths: pd.Series, resolve: Callable[[str], Path | None], *, alt: str,
               status: pd.Series | None = None) -> Markup:
    if paths.empty:
        if status is not None and len(status) and status.iloc[0] != "ok":
            return md.escape(status.iloc[0])
        return Markup("—")
    source = resolve(paths.iloc[0])
    if source is None:
        return Markup("— <small>(file missing)</small>")
    stat = source.stat()
    key = hashlib.sha256(f"{source}|{stat.st_size}|{stat.st_mtime_ns}|{ctx.options.thumbnail_px}".encode()).hexdigest()[:20]
    target = f"thumbs/{key}.png"
    if not (ctx.docs_dir / target).exists():
        try:
            from PIL import Image

            with Image.open(source) as image:
                image = image.convert("RGB")
                image.thumbnail((ctx.options.thumbnail_px, ctx.options.thumbnail_px))
                (ctx.docs_dir / "thumbs").mkdir(parents=True, exist_ok=True)
                image.save(ctx.docs_dir / target, format="PNG")
        except Exception as exc:  # an unreadable image is shown as such, not a failed build
            return md.escape(f"— (unreadable: {type(exc).__name__})")
    return md.image(alt, relative(page, target))


def build_runs(ctx: SiteContext) -> None:
    data = ctx.data
    runs = []
    for r in data.runs.to_dict("records"):
        runs.append({
            "run_id": r["run_id"], "kind": r["kind"], "spec_name": r["spec_name"], "spec_path": r["spec_path"],
            "spec_sha256": r["spec_sha256"], "started": _when(r["started_at"]), "finished": _when(r["finished_at"]),
            "status": r["status"], "git": (r["git_sha"] or "—") + (" (uncommitted changes)" if r["git_dirty"] is True else ""),
            "argv": r["argv"], "counts": [(k, _count(r[k])) for k in ("n_planned", "n_skipped", "n_ok", "n_failed")],
            "versions": _flat_items(_jsonable(r["versions"])), "machine": _flat_items(_jsonable(r["machine"])),
            "spec_text": r["spec_text"] or "",
        })
    import_rows = [[r["path"], md.Markup(f"`{r['source_sha256']}`"), r["format"], _when(r["imported_at"]), str(r["n_rows"]), r["run_id"]]
                   for r in data.imports.to_dict("records")]
    ctx.render(Page("runs.md", "Runs and provenance", None), "runs.md.j2", runs=runs,
               imports=md.table(["file", "sha256", "format", "imported", "scores", "run"], import_rows, align=list("lllrrl")))


def build_methodology(ctx: SiteContext) -> None:
    data = ctx.data
    rows = []
    definitions = []
    for r in data.metrics.sort_values("name").to_dict("records"):
        doc, conventions = _metric_doc(r["name"])
        direction = data.directions.get(r["name"])
        rows.append([r["name"], r["kind"] or "—", {True: "higher ↑", False: "lower ↓"}.get(direction, "unknown"),
                     f"{md.number(r['range_low'], digits=2)} … {md.number(r['range_high'], digits=2)}",
                     r["conventions"] or conventions or "—"])
        definitions.append({"name": r["name"], "doc": doc or "", "conventions": r["conventions"] or conventions or ""})
    ctx.render(Page("methodology.md", "Methodology", "Methodology"), "methodology.md.j2",
               metrics_table=md.table(["metric", "kind", "better", "range", "conventions"], rows, align=list("lllll")),
               definitions=definitions, options=ctx.options, confidence=int(ctx.options.confidence * 100),
               bca_max_n=an.BCA_MAX_N)


def _metric_doc(name: str) -> tuple[str | None, str | None]:
    """The metric class's docstring and conventions from the registry, if this installation has it."""
    try:
        from restorebench.metrics.base import REGISTRY

        cls = REGISTRY.get(name)
    except Exception:  # unknown metric (e.g. imported), or a metric module that fails to import
        return None, None
    doc = " ".join((cls.__doc__ or "").split())
    return doc or None, cls.conventions or None


def build_downloads(ctx: SiteContext) -> None:
    files = []
    for path in ctx.data.downloads:
        rel = path.relative_to(ctx.docs_dir).as_posix()
        files.append({"name": path.name, "format": path.suffix.lstrip("."), "href": rel, "size": _size(path.stat().st_size)})
    rows = [[md.link(f["name"], f["href"]), f["format"], f["size"]] for f in files]
    ctx.render(Page("downloads.md", "Downloads", None), "downloads.md.j2",
               table=md.table(["file", "format", "size"], rows, align=list("llr")))


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


# -- MkDocs ----------------------------------------------------------------------------------------
DEFAULT_CONFIG: dict[str, Any] = {
    "site_name": "restorebench leaderboard",
    "theme": {"name": "material", "font": False},
    "markdown_extensions": ["tables", "attr_list", "admonition", {"toc": {"permalink": True}}],
    "plugins": ["search"],
}


def load_base_config(site_dir: Path | None) -> dict[str, Any]:
    """``site/mkdocs.yml`` (safe YAML: no Python tags), or a built-in default without one."""
    path = site_dir / "mkdocs.yml" if site_dir else None
    if path is None or not path.exists():
        return json.loads(json.dumps(DEFAULT_CONFIG))
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SiteError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(config, dict):
        raise SiteError(f"{path}: expected a mapping of MkDocs settings")
    return config


def finalize_config(base: Mapping[str, Any], *, docs_dir: Path, site_dir: Path, nav: list[Any]) -> dict[str, Any]:
    """The MkDocs configuration: the base settings, plus the generated navigation, and the
    settings that keep the site offline enforced whatever the base says."""
    config = json.loads(json.dumps(base))
    config["docs_dir"] = str(docs_dir)
    config["site_dir"] = str(site_dir)
    config["nav"] = nav
    config["use_directory_urls"] = False  # pages open from the file system too
    theme = config.setdefault("theme", {"name": "material"})
    theme["font"] = False  # no Google Fonts: the site must not contact another host
    extra = config.setdefault("extra", {})
    extra["generator"] = False
    extra["polyfills"] = []  # Material would add CDN shims for some plugins
    plugins = [p for p in config.get("plugins", ["search"]) if (p if isinstance(p, str) else next(iter(p))) not in ("offline", "privacy", "social")]
    config["plugins"] = plugins
    css = "assets/restorebench/restorebench.css"
    js = "assets/restorebench/tables.js"
    config["extra_css"] = [c for c in config.get("extra_css", []) if c != css] + [css]
    config["extra_javascript"] = [j for j in config.get("extra_javascript", []) if j != js] + [js]
    return config


def navigation(pages: Sequence[Page], handwritten: Sequence[str]) -> list[Any]:
    """Nav entries in section order; titles are HTML-escaped (themes print them as raw HTML)."""
    sections: dict[str | None, list[Any]] = {}
    order = [None, "Leaderboards", "Datasets", "Domains", "Methods", "Analyses", "Galleries", "Methodology", "Guides", "About"]
    for page in pages:
        entry = {md.html_text(page.nav_title or page.title): page.path}
        if page.path.endswith("/index.md"):
            sections.setdefault(page.section, []).insert(0, entry)  # a section's overview comes first
        else:
            sections.setdefault(page.section, []).append(entry)
    for name in handwritten:
        if name == "index.md":
            continue
        section, title = HANDWRITTEN_NAV.get(name, ("Guides", _title_of(name)))
        sections.setdefault(section, []).append({md.html_text(title): name})
    nav: list[Any] = []
    for section in order + sorted(s for s in sections if s not in order):
        if section not in sections:
            continue
        if section is None:
            nav.extend(sections[None])
        else:
            nav.append({section: sections[section]})
    # Home first, downloads and runs last among the top-level pages.
    top = [e for e in nav if not isinstance(next(iter(e.values())), list)]
    rest = [e for e in nav if isinstance(next(iter(e.values())), list)]
    home = [e for e in top if next(iter(e.values())) == "index.md"]
    tail = [e for e in top if next(iter(e.values())) != "index.md"]
    return home + rest + tail


def _title_of(name: str) -> str:
    return Path(name).stem.replace("-", " ").replace("_", " ").capitalize()


def run_mkdocs(config_file: Path, *, strict: bool = True) -> None:
    command = [sys.executable, "-m", "mkdocs", "build", "--config-file", str(config_file), "--clean"]
    if strict:
        command.append("--strict")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONHASHSEED="0")
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        raise SiteError("mkdocs build failed:\n  " + "\n  ".join(lines[-20:]))


EXTERNAL_RESOURCE = re.compile(
    r"""<(?:script|link|img|iframe|source|audio|video|embed|object|track)\b[^>]*?\b(?:src|href|data|srcset)\s*=\s*["']?\s*((?:[a-z][a-z0-9+.-]*:)?//[^"'\s>]+)""",
    re.IGNORECASE,
)
CSS_EXTERNAL = re.compile(r"""(?:url\(\s*["']?|@import\s+["'])\s*((?:https?:)?//[^"')\s]+)""", re.IGNORECASE)


def external_requests(site_dir: Path) -> list[tuple[str, str]]:
    """(file, URL) of every resource a built page or stylesheet would load from another host.
    Plain links (``<a href>``) are navigation, not requests, and are allowed."""
    found = []
    for path in sorted(site_dir.rglob("*")):
        if path.suffix == ".html":
            urls = EXTERNAL_RESOURCE.findall(path.read_text(encoding="utf-8", errors="replace"))
        elif path.suffix == ".css":
            urls = CSS_EXTERNAL.findall(path.read_text(encoding="utf-8", errors="replace"))
        else:
            continue
        found += [(path.relative_to(site_dir).as_posix(), url) for url in urls if not url.startswith("http://www.w3.org/")]
    return found


def prepare_output(out: Path) -> None:
    """Refuse to let MkDocs empty a folder that is not a previous restorebench site."""
    if out.exists() and not out.is_dir():
        raise SiteError(f"--out {out} is a file, not a folder")
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise SiteError(f"--out {out} is not empty and is not a restorebench site: refusing to overwrite it "
                        f"(choose an empty or new folder)")
    out.mkdir(parents=True, exist_ok=True)


def _resolver(db_path: Path) -> Callable[[str], Path | None]:
    """Find an image recorded in the database: absolute, relative to the working folder, or
    relative to the database's folder."""
    bases = [Path.cwd(), db_path.resolve().parent, db_path.resolve().parent.parent]

    def resolve(path: Any) -> Path | None:
        if not isinstance(path, str) or not path:
            return None
        candidate = Path(path).expanduser()
        for c in ([candidate] if candidate.is_absolute() else [b / candidate for b in bases]):
            if c.is_file():
                return c
        return None

    return resolve


def render_docs(
    db: Path,
    docs_dir: Path,
    *,
    site_dir: Path | None,
    options: SiteOptions,
) -> tuple[list[Page], list[str]]:
    """Render every page, asset and download into ``docs_dir``; returns the pages and the
    hand-written page names."""
    docs_dir.mkdir(parents=True, exist_ok=True)
    data = load_site_data(db, downloads_dir=docs_dir / "downloads")
    handwritten, intro = copy_handwritten(site_dir, docs_dir)
    shutil.copytree(STATIC_DIR, docs_dir / "assets" / "restorebench", dirs_exist_ok=True)
    ctx = SiteContext(data=data, options=options, docs_dir=docs_dir, env=make_environment(), handwritten=handwritten)
    ctx.analyses = compute_analyses(data, options)
    resolve = _resolver(db)
    build_home(ctx, intro)
    build_leaderboards(ctx)
    build_datasets(ctx)
    build_domains(ctx)
    build_methods(ctx)
    build_correlations(ctx)
    build_behaviour(ctx)
    build_sharpness(ctx)
    build_start_scale(ctx, resolve)
    build_galleries(ctx, resolve)
    build_runs(ctx)
    build_methodology(ctx)
    build_downloads(ctx)
    for page in ctx.pages:
        target = docs_dir / page.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page.content, encoding="utf-8")
    return ctx.pages, handwritten


def copy_handwritten(site_dir: Path | None, docs_dir: Path) -> tuple[list[str], str]:
    """Copy ``site/docs`` into ``docs_dir``; returns the Markdown page names (top level) and the
    text of the hand-written ``index.md`` (shown on the generated home page, without its title)."""
    source = site_dir / "docs" if site_dir else None
    if source is None or not source.is_dir():
        return [], ""
    intro = ""
    names = []
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_dir() or any(part.startswith(".") for part in rel.parts) or rel.parts[0] == "generated":
            continue
        if rel.as_posix() == "index.md":
            intro = re.sub(r"\A\s*#\s[^\n]*\n", "", path.read_text(encoding="utf-8"))
            continue
        target = docs_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        if path.suffix == ".md" and len(rel.parts) == 1:
            names.append(rel.as_posix())
    return names, intro


def build_site(
    db: str | Path = DEFAULT_DB,
    out: str | Path = DEFAULT_OUT,
    *,
    site_dir: str | Path | None = REPO_SITE_DIR,
    work_dir: str | Path | None = None,
    options: SiteOptions = SiteOptions(),
    strict: bool = True,
) -> Path:
    """Build the static site for ``db`` into ``out``; returns the path of ``index.html``.

    ``site_dir`` holds ``mkdocs.yml`` and the hand-written ``docs/`` (default: the repository's
    ``site/``); ``work_dir`` keeps the generated Markdown for inspection (default: a temporary
    folder that is removed afterwards).
    """
    db, out = Path(db), Path(out).resolve()
    site_dir = Path(site_dir) if site_dir is not None else None
    prepare_output(out)
    temporary = None
    if work_dir is None:
        temporary = tempfile.TemporaryDirectory(prefix="restorebench-site-")
        work = Path(temporary.name)
    else:
        work = claim_folder(Path(work_dir).resolve(), MARKDOWN_MARKER, option="--keep-markdown",
                            note="generated Markdown of a restorebench site; replaced on every build")
    # Written first: MkDocs keeps hidden files when it empties the folder, so a build that fails
    # half-way still leaves a folder that the next build may replace.
    (out / MARKER).write_text("built by restorebench site; this folder is replaced on every build\n", encoding="utf-8")
    try:
        docs_dir = work / "docs"
        pages, handwritten = render_docs(db, docs_dir, site_dir=site_dir, options=options)
        config = finalize_config(load_base_config(site_dir), docs_dir=docs_dir, site_dir=out,
                                 nav=navigation(pages, handwritten))
        config_file = work / "mkdocs.yml"
        config_file.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
        run_mkdocs(config_file, strict=strict)
    finally:
        if temporary is not None:
            temporary.cleanup()
    leaks = external_requests(out)
    if leaks:
        listed = "; ".join(f"{f}: {u}" for f, u in leaks[:5])
        raise SiteError(f"the built site would load resources from other hosts ({len(leaks)}): {listed}")
    return out / "index.html"
