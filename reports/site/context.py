"""What the page builders share: options, pages, permalinks, the Jinja environment, formatting.

Every ``{{ value }}`` of a template is escaped for Markdown and HTML
(:func:`restorebench.reports.markdown.escape`) unless it is Markup that we generated; the
templates are ``StrictUndefined``.
"""
from __future__ import annotations

import hashlib
import json
import math
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import jinja2
import pandas as pd
from markupsafe import Markup

from restorebench.metrics.errors import RestoreBenchError
from restorebench.reports import markdown as md
from restorebench.reports.tables import TableOptions

PACKAGE_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
TASK_TITLES = {"deblur": "Deblurring", "sr": "Blind super-resolution", "other": "Other"}


class SiteError(RestoreBenchError):
    """The site cannot be built (bad output folder, MkDocs failure, an external request)."""


@dataclass(frozen=True)
class SiteOptions:
    """Knobs of the site.

    ``n_resamples`` bootstrap resamples per interval; ``alpha`` for the comparisons with the best;
    ``k`` images at each end for the behaviour analysis; ``page_items`` images per gallery page;
    ``thumbnail_px`` longest side of a thumbnail; ``primary_metrics`` the metric that orders each
    task's overall leaderboard (task → metric; default: the first metric the task's latest run
    or import lists).
    """

    confidence: float = 0.95
    n_resamples: int = 2000
    seed: int = 0
    alpha: float = 0.05
    k: int = 10
    page_items: int = 20
    thumbnail_px: int = 200
    primary_metrics: Mapping[str, str] = field(default_factory=dict)

    @property
    def tables(self) -> TableOptions:
        return TableOptions(confidence=self.confidence, n_resamples=self.n_resamples, seed=self.seed, alpha=self.alpha)


# -- names and paths -------------------------------------------------------------------------------
def readable(name: Any) -> str:
    """Lower-case ASCII letters, digits and dashes: ``DAN v1 (setting 1)`` → ``dan-v1-setting-1``."""
    return re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-")[:60] or "x"


def short_hash(*parts: Any) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:8]


def unique_slugs(names: Iterable[Any]) -> dict[Any, str]:
    """A readable slug per name; names whose slugs collide get a hash of the name appended, so
    every slug depends only on its own name and the names it collides with."""
    names = sorted(set(names), key=str)
    by_slug: dict[str, list[Any]] = {}
    for name in names:
        by_slug.setdefault(readable(name), []).append(name)
    out = {}
    for slug, group in by_slug.items():
        for name in group:
            out[name] = slug if len(group) == 1 else f"{slug}-{short_hash(name)}"
    return out


class Links:
    """Stable, readable page paths (docs-relative ``.md``; the site serves them as ``.html``):
    they come from names (a method's label, a dataset's name), never from code versions."""

    def __init__(self, *, labels: Iterable[str], datasets: Iterable[str], domains: Iterable[str], tasks: Iterable[str]):
        self._method = unique_slugs(labels)
        self._dataset = unique_slugs(datasets)
        self._domain = unique_slugs(domains)
        self._task = unique_slugs(tasks)

    def method(self, label: str) -> str:
        return f"methods/{self._method.get(label) or readable(label)}.md"

    def dataset(self, name: str) -> str:
        return f"datasets/{self._dataset.get(name) or readable(name)}.md"

    def domain(self, name: str) -> str:
        return f"domains/{self._domain.get(name) or readable(name)}.md"

    def leaderboard(self, task: str) -> str:
        return f"leaderboards/{self._task.get(task) or readable(task)}.md"

    def gallery(self, dataset: str, page: int = 1) -> str:
        return f"galleries/{self._dataset.get(dataset) or readable(dataset)}/{'index' if page == 1 else f'page-{page}'}.md"

    def item(self, dataset: str, group: str, item: str) -> str:
        """A drill-down page (plain HTML, built outside MkDocs: there may be thousands)."""
        name = item if group == dataset else f"{group}-{item}"
        return f"items/{self._dataset.get(dataset) or readable(dataset)}/{readable(name)[:48]}-{short_hash(dataset, group, item)}.html"


def relative(from_page: str, to_path: str) -> str:
    """Relative link from the page ``from_page`` to ``to_path`` (both docs-relative)."""
    return posixpath.relpath(to_path, posixpath.dirname(from_page) or ".")


def set_name(dataset: Any, group: Any) -> str:
    return str(group) if group == dataset else f"{dataset} / {group}"


@dataclass
class Page:
    path: str  # docs-relative, e.g. "methods/bicubic.md"
    title: str  # plain text (escaped when written)
    section: str | None  # navigation section, None = top level
    nav_title: str | None = None  # shorter title in the navigation (default: title)
    hide_toc: bool = False  # wide tables need the room of the right-hand table of contents
    in_nav: bool = True  # pages reached through links only (further gallery pages)
    content: str = ""


# -- Jinja -----------------------------------------------------------------------------------------
def make_environment() -> jinja2.Environment:
    """Jinja for Markdown: StrictUndefined, and every ``{{ value }}`` escaped by
    :func:`restorebench.reports.markdown.escape` unless it is Markup."""
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
        "json": lambda v: md.code_block(json.dumps(jsonable(v), indent=2, sort_keys=True, default=str), language="json"),
        "when": when,
    })
    return env


# -- formatting ------------------------------------------------------------------------------------
def jsonable(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def when(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "—"
    stamp = pd.Timestamp(value)
    return stamp.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if stamp.tzinfo is None else "")


def count(value: Any) -> str:
    return "—" if value is None or pd.isna(value) else str(int(value))


def flat_items(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, Mapping):
        return []
    return [(str(k), "—" if v is None else v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str))
            for k, v in value.items()]


def size_text(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


# -- the shared state of one build -----------------------------------------------------------------
@dataclass
class SiteContext:
    """Data, analyses, options, and the output being assembled."""

    data: Any  # restorebench.reports.site.data.SiteData
    analyses: Any  # restorebench.reports.site.analyses.Analyses
    options: SiteOptions
    docs_dir: Path
    env: jinja2.Environment
    links: Links
    store: Any = None  # the open read-only Store (galleries and drill-down query per dataset)
    images: Any = None  # restorebench.reports.site.images.ImageFiles
    drilldown: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)  # dataset → (set, item, page)
    item_pages: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (dataset, set, item) → page
    pages: list[Page] = field(default_factory=list)
    handwritten: list[str] = field(default_factory=list)
    intro: str = ""

    def render(self, page: Page, template: str, **context: Any) -> Page:
        helpers = {
            "page_title": page.title,
            "link_to": lambda text, target: md.link(text, relative(page.path, target)),
            "method_link": lambda label: md.link(label, relative(page.path, self.links.method(label))),
            "asset": lambda target: relative(page.path, target),
            "handwritten": lambda name: relative(page.path, name) if name in self.handwritten else None,
            "empty_database": self.data.empty,
        }
        # str(): Markup + str would HTML-escape the rendered page a second time.
        page.content = str(md.front_matter(title=page.title, hide_toc=page.hide_toc)) + self.env.get_template(template).render(**helpers, **context)
        self.pages.append(page)
        return page

    def has_page(self, path: str) -> bool:
        return any(p.path == path for p in self.pages)

    def write_asset(self, path: str, content: str | bytes) -> str:
        target = self.docs_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            target.write_text(content, encoding="utf-8")
        else:
            target.write_bytes(content)
        return path

    def method_cell(self, page: str, label: str) -> Markup:
        """A method's name linked to its page, marked when its scores are imported."""
        badge = Markup(" <small>(imported)</small>") if self.data.is_imported(label) else Markup("")
        return md.link(label, relative(page, self.links.method(label))) + badge
