"""Image-quality metrics, each usable on its own: ``metrics.get("niqe")(image)``.

``metrics`` is the bottom layer of the project: it imports nothing from ``models``, ``bench`` or
``reports``. Its foundation modules (``errors``, ``imageio``, ``matlab``, ``registry``,
``weights``) are shared with ``models``; its metric modules are not.
"""
from __future__ import annotations

from typing import Any

from restorebench.metrics.base import REGISTRY, Metric, register
from restorebench.metrics.batch import score_many
from restorebench.metrics.errors import (
    ImageTooSmallError,
    InvalidImageError,
    RestoreBenchError,
    SizeMismatchError,
    UnknownNameError,
    WeightsUnavailableError,
)


def get(name: str, **options: Any) -> Metric:
    """Build the metric registered as ``name`` with keyword ``options``."""
    return REGISTRY.get(name)(**options)


def available() -> list[str]:
    """Names of all registered metrics."""
    return REGISTRY.names()


__all__ = [
    "ImageTooSmallError",
    "InvalidImageError",
    "Metric",
    "RestoreBenchError",
    "SizeMismatchError",
    "UnknownNameError",
    "WeightsUnavailableError",
    "available",
    "get",
    "register",
    "score_many",
]
