"""Restoration methods, each usable on its own::

    >>> import models
    >>> method = models.get("bicubic")
    >>> method.prepare(models.RestoreContext(task="sr", scale=4))
    >>> upscaled = method.restore(low_res)
"""
from __future__ import annotations

from typing import Any

from restorebench.models.base import REGISTRY, Method, Resources, RestoreContext, register


def method_class(name: str) -> type[Method]:
    """The class registered as ``name`` (raises with a "did you mean" on unknown names)."""
    return REGISTRY.get(name)


def get(name: str, **params: Any) -> Method:
    """Build the method registered as ``name`` with validated ``params``."""
    return method_class(name)(**params)


def available() -> list[str]:
    return REGISTRY.names()


__all__ = ["Method", "Resources", "RestoreContext", "available", "get", "method_class", "register"]
