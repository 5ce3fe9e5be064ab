"""The static leaderboard site: database → pages → ``mkdocs build --strict``.

    >>> from restorebench.reports.site import build_site
    >>> build_site("results/restorebench.duckdb", "results/site")   # → results/site/index.html

Modules: :mod:`.data` (reading the database), :mod:`.analyses` (every number, one slice of
scores at a time), :mod:`.context` (options, permalinks, Jinja, formatting), :mod:`.cells`
(tables), :mod:`.charts` (SVG), :mod:`.images`, :mod:`.public` (no machine paths published),
:mod:`.pages` (one module per page family, in one ordered registry), :mod:`.mkdocs` (the
MkDocs step and the checks of the result), :mod:`.build` (all of it).
"""
from restorebench.reports.site.build import DEFAULT_DB, DEFAULT_OUT, MARKER, build_site
from restorebench.reports.site.context import SiteError, SiteOptions, make_environment
from restorebench.reports.site.mkdocs import external_requests

__all__ = ["DEFAULT_DB", "DEFAULT_OUT", "MARKER", "SiteError", "SiteOptions", "build_site", "external_requests", "make_environment"]
