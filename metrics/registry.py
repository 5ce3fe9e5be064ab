"""A name → class registry with "did you mean" on unknown names (after BasicSR's Registry).

Entries register themselves with a decorator in their own module; ``discover`` imports every
module of the package once so that ``get`` and ``names`` see all of them without a hand-kept list.

Your own methods and metrics (plugins) come in two ways:

- **an installed distribution** declares them as entry points, the Python convention (as pytest and
  asv plugins do)::

      [project.entry-points."restorebench.methods"]
      my_method = "my_package.my_method:MyMethod"     # a Method subclass (or a module that registers)

  and likewise the group ``restorebench.metrics``;
- **a file or module for a quick experiment**, without installing anything: name it in
  ``$RESTOREBENCH_PLUGINS`` (comma-separated; a path to a ``.py`` file, or an importable module
  name). Its subclasses of ``Method``/``Metric`` that set ``name`` are registered (no decorator
  needed). Worker processes inherit the variable, so such plugins work with every executor.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import importlib.util
import os
import pkgutil
import sys
from pathlib import Path
from typing import Callable, Generic, TypeVar

from restorebench.metrics.errors import UnknownNameError

T = TypeVar("T")
PLUGINS_VAR = "RESTOREBENCH_PLUGINS"


def did_you_mean(name: str, choices: list[str]) -> str:
    """A ' Did you mean 'x'?' suffix for an error message, or '' when nothing is close."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def import_plugin(reference: str) -> object:
    """Import a plugin named by a ``.py`` file path or a module name (``$RESTOREBENCH_PLUGINS``)."""
    if reference.endswith(".py") or os.sep in reference:
        path = Path(reference).expanduser().resolve()
        if not path.is_file():
            raise UnknownNameError(f"${PLUGINS_VAR} names file {reference}, which does not exist")
        name = f"restorebench_plugin_{path.stem}"
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before executing: pickling of its classes finds it by name
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise UnknownNameError(f"${PLUGINS_VAR}: {reference} fails to import: {type(exc).__name__}: {exc}") from None
        return module
    try:
        return importlib.import_module(reference)
    except ImportError as exc:
        raise UnknownNameError(
            f"${PLUGINS_VAR} names module '{reference}', which cannot be imported: {exc} "
            f"(give the path of the .py file instead, or add its folder to PYTHONPATH)"
        ) from None


class Registry(Generic[T]):
    def __init__(self, what: str, package: str, entry_point_group: str, base: type | None = None):
        self._what = what
        self._base = base
        self._package = package
        self._group = entry_point_group
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
        """Import every module and sub-package of the package, then the plugins (once)."""
        if self._discovered:
            return
        self._discovered = True
        package = importlib.import_module(self._package)
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{self._package}.{info.name}")
        for entry in importlib.metadata.entry_points(group=self._group):
            try:
                loaded = entry.load()
            except Exception as exc:  # a broken plugin names itself instead of breaking every command
                dist = entry.dist.name if entry.dist else "?"
                raise UnknownNameError(
                    f"plugin '{entry.name}' ({entry.value}, distribution {dist}) of group {self._group} "
                    f"cannot be loaded: {type(exc).__name__}: {exc}"
                ) from None
            if isinstance(loaded, type) and loaded not in self._entries.values():
                self.register(getattr(loaded, "name", entry.name))(loaded)
        for reference in filter(None, (m.strip() for m in os.environ.get(PLUGINS_VAR, "").split(","))):
            self._register_classes_of(import_plugin(reference))

    def _register_classes_of(self, module: object) -> None:
        """A plugin module's own subclasses of the base class need no decorator."""
        if self._base is None:
            return
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, self._base) and value is not self._base
                    and value.__module__ == getattr(module, "__name__", None) and "name" in vars(value)
                    and value not in self._entries.values()):
                self.register()(value)  # type: ignore[arg-type]

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
