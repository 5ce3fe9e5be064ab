"""A name → factory registry with "did you mean" on unknown names (after BasicSR's Registry).

Entries register themselves with a decorator in their own module; ``discover`` imports every
module of a package once so that ``get`` and ``names`` see all of them without a hand-kept list.

Your own methods and metrics: put them in an importable module that uses ``models.register()`` /
``metrics.register()`` and name it in ``$RESTOREBENCH_PLUGINS`` (comma-separated module names).
Worker processes inherit the variable, so plugins work with every executor.
"""
from __future__ import annotations

import difflib
import importlib
import os
import pkgutil
from typing import Callable, Generic, TypeVar

from restorebench.metrics.errors import UnknownNameError

T = TypeVar("T")
PLUGINS_VAR = "RESTOREBENCH_PLUGINS"


def did_you_mean(name: str, choices: list[str]) -> str:
    """A ' Did you mean 'x'?' suffix for an error message, or '' when nothing is close."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


class Registry(Generic[T]):
    def __init__(self, what: str, package: str):
        self._what = what
        self._package = package
        self._entries: dict[str, T] = {}
        self._discovered = False

    def register(self, name: str | None = None) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            key = name or getattr(obj, "name")
            if key in self._entries and self._entries[key] is not obj:
                raise ValueError(f"{self._what} '{key}' is registered twice")
            self._entries[key] = obj
            return obj

        return decorator

    def discover(self) -> None:
        """Import every module and sub-package of the package (once)."""
        if self._discovered:
            return
        self._discovered = True
        package = importlib.import_module(self._package)
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{self._package}.{info.name}")
        for module in filter(None, (m.strip() for m in os.environ.get(PLUGINS_VAR, "").split(","))):
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise UnknownNameError(f"${PLUGINS_VAR} names module '{module}', which cannot be imported: {exc}") from None

    def names(self) -> list[str]:
        self.discover()
        return sorted(self._entries)

    def get(self, name: str) -> T:
        self.discover()
        try:
            return self._entries[name]
        except KeyError:
            known = sorted(self._entries)
            raise UnknownNameError(
                f"unknown {self._what} '{name}'.{did_you_mean(name, known)} "
                f"Known: {', '.join(known)}"
            ) from None

    def __contains__(self, name: str) -> bool:
        self.discover()
        return name in self._entries
