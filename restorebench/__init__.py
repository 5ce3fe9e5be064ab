"""restorebench: a benchmark harness for image restoration, scored with faithful quality metrics.

The public Python API::

    import restorebench
    niqe = restorebench.metrics.get("niqe")             # a metric, callable on uint8 RGB arrays
    method = restorebench.models.get("bicubic")          # a method: prepare(context), restore(image)
    summary = restorebench.run("bench/specs/smoke.yaml", db="results/smoke.duckdb")

The project's folders ``bench/``, ``models/``, ``metrics/`` and ``reports/`` are installed as the
sub-packages ``restorebench.bench``, ``restorebench.models``, ``restorebench.metrics`` and
``restorebench.reports`` (see ``site/docs/architecture.md``); they are imported on first use.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"
SUBPACKAGES = ("bench", "models", "metrics", "reports")

# In a source checkout this file sits beside the sub-package folders: whichever checkout's
# `restorebench` is imported first (the working folder, PYTHONPATH, a git worktree) also supplies
# `restorebench.bench` & co., never another checkout's through the editable install's mapping.
# An installed wheel has them inside this folder and no pyproject.toml beside it.
_CHECKOUT = Path(__file__).resolve().parent.parent
if (_CHECKOUT / "pyproject.toml").is_file() and all((_CHECKOUT / p / "__init__.py").is_file() for p in SUBPACKAGES):
    __path__.append(str(_CHECKOUT))

if TYPE_CHECKING:  # pragma: no cover
    from restorebench import bench, metrics, models, reports
    from restorebench.bench.runner import RunSummary


def run(spec: str | Path, *, db: str | Path = "results/restorebench.duckdb", out: str | Path = "results",
        **options: Any) -> "RunSummary":
    """Run a benchmark spec into a results database (resuming what is stored); keyword options
    are those of :class:`restorebench.bench.runner.RunOptions` (``workers``, ``fresh``, ``limit``…)."""
    from restorebench.bench.runner import RunOptions, run as run_loaded
    from restorebench.bench.spec import load_spec

    options.setdefault("progress", False)
    return run_loaded(load_spec(spec), RunOptions(db=Path(db), out_dir=Path(out), **options))


def load_spec(path: str | Path):
    """Read and validate a spec file (raises ``SpecError`` listing every problem with file:line)."""
    from restorebench.bench.spec import load_spec as load

    return load(path)


def __getattr__(name: str) -> Any:
    if name in SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'restorebench' has no attribute {name!r}")


__all__ = ["__version__", "load_spec", "run", *SUBPACKAGES]
