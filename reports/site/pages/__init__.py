"""The page families of the site, each a module with ``build(ctx)``.

:data:`PAGES` is the one ordered registry: the build runs it in this order. The drill-down and
the galleries come first (the leaderboards and the best/worst lists link to the images they
publish); the home page comes last (it links only to pages that exist). Where a page appears in
the navigation is its own ``section``, not its place here.
"""
from __future__ import annotations

from restorebench.reports.site.pages import (behaviour, correlations, datasets, drilldown, galleries, home, kernels, leaderboards,
                                             methods, provenance, sharpness, sweeps)

PAGES = (drilldown, galleries, leaderboards, datasets, methods, correlations, behaviour, sharpness, kernels, sweeps, provenance,
         home)
