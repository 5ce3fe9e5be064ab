"""Helpers shared by several test folders (importable because conftest puts this folder on sys.path)."""
from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def copy_checkout(target: Path) -> Path:
    """A copy of the project's code (no venv, no tests) whose `restorebench` package imports its
    own sub-packages: edit a file there and run it with ``PYTHONPATH=target``."""
    for name in ("restorebench", "bench", "models", "metrics", "reports"):
        shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target
