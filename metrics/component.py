"""What methods and metrics share: one contract for a registered, versioned component.

A component (a restoration method or a quality metric) has

- a registry ``name`` and a one-line ``summary``;
- typed, keyword-only parameters: a pydantic model ``Params`` (``extra="forbid"``, so a typo is an
  error that names the known parameters), validated when the component is built;
- the checkpoint files a configuration loads (:meth:`Component.weight_keys`, catalogue keys of
  :mod:`restorebench.metrics.weights`), and the networks it builds (:meth:`Component.networks`,
  with parameter counts computed on the meta device — no memory, no weights needed);
- a ``version`` that every stored result carries: the hash of the source of its module **and of
  every project module it imports, transitively** (read from the import statements), of the data
  files it declares, of its parameters, and of the sha256 of each checkpoint it loads. A change to a
  shared helper (``metrics.matlab.imresize``, ``metrics.nss``) therefore changes the version of every
  component that uses it, and of no other. Third-party packages are pinned by ``pyproject.toml`` and
  recorded with each run instead.

This module is part of the foundation of :mod:`restorebench.metrics` (the bottom layer): it imports
nothing from models, bench or reports.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from restorebench.metrics.errors import RestoreBenchError

if TYPE_CHECKING:  # pragma: no cover
    import torch

PROJECT = "restorebench"


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParameterError(RestoreBenchError, ValueError):
    """Parameters a component does not accept. ``problems`` holds ``(parameter, message)`` pairs,
    so a spec can point at the line of each offending key."""

    def __init__(self, component: str, problems: list[tuple[str | None, str]]):
        self.component = component
        self.problems = problems
        listed = "; ".join(f"{key}: {message}" if key else message for key, message in problems)
        super().__init__(f"{component}: {listed}")


def _problems(cls: type["Component"], error: ValidationError) -> list[tuple[str | None, str]]:
    known = ", ".join(cls.Params.model_fields) or "none"
    out: list[tuple[str | None, str]] = []
    for e in error.errors():
        key = str(e["loc"][0]) if e["loc"] else None
        if e["type"] == "extra_forbidden":
            message = f"'{key}' is not a parameter of {cls.kind_name} '{cls.name}' (parameters: {known})"
        elif e["type"] == "missing":
            message = "required parameter is missing"
        elif e["type"] == "literal_error":
            message = f"expected {e['ctx']['expected']}, got {e.get('input')!r}"
        else:
            message = str(e["msg"]).removeprefix("Value error, ")
        out.append((key, message))
    return out


class Component:
    """Base class of :class:`~restorebench.models.base.Method` and
    :class:`~restorebench.metrics.base.Metric`.

    Class attributes:
        name: registry name.
        summary: one line shown by ``restorebench list`` and on the site.
        Params: pydantic model of the parameters (``extra="forbid"``).
        weights: catalogue keys of every checkpoint the component may load (any configuration).
        data_files: files (relative to the module's folder) whose bytes the results depend on —
            parameter tables, trained models shipped in the package; part of the version.
    """

    kind_name: ClassVar[str] = "component"
    name: ClassVar[str]
    summary: ClassVar[str] = ""
    Params: ClassVar[type[BaseModel]] = NoParams
    weights: ClassVar[tuple[str, ...]] = ()
    data_files: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: BaseModel | None = None, **kwargs: Any):
        if params is not None and kwargs:
            raise TypeError("give either a Params instance or keyword parameters, not both")
        try:
            self.params = params if params is not None else self.Params(**kwargs)
        except ValidationError as exc:
            raise ParameterError(f"{self.kind_name} '{self.name}'", _problems(type(self), exc)) from None

    # -- what a configuration uses -----------------------------------------------------------------
    @property
    def params_dict(self) -> dict[str, Any]:
        return self.params.model_dump(mode="json")

    def weight_keys(self) -> tuple[str, ...]:
        """Catalogue keys of the checkpoints this configuration may load; their contents are part
        of its results' identity (a replaced checkpoint means new results, not reused ones)."""
        return self.weights

    def weights_fingerprint(self) -> dict[str, str | None]:
        """``{checkpoint key: sha256 of the file found, or None while missing}``."""
        from restorebench.metrics.weights import fingerprint

        return fingerprint(self.weight_keys())

    @classmethod
    def networks(cls) -> list[dict[str, Any]]:
        """One row per network the component can build: ``variant``, ``network``, ``parameters``
        (trainable parameters, as papers count them), ``weights_key``. Empty for components without
        a network."""
        return []

    # -- versions ----------------------------------------------------------------------------------
    @property
    def code_version(self) -> str:
        """Source closure of the class and its parameters (16 hex)."""
        payload = f"{type(self).__qualname__}|{source_version(type(self))}|{json.dumps(self.params_dict, sort_keys=True)}"
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def version(self) -> str:
        """:attr:`code_version` and the sha256 of every checkpoint this configuration loads: what a
        stored result depends on. A result stored under another version is computed again."""
        weights = sorted(self.weights_fingerprint().items())
        return hashlib.sha256(f"{self.code_version}|{weights}".encode()).hexdigest()[:16]

    # -- description -------------------------------------------------------------------------------
    @classmethod
    def parameter_schema(cls) -> dict[str, dict[str, Any]]:
        """Per parameter: its type, default and description (what ``list --json`` prints)."""
        out = {}
        for key, field in cls.Params.model_fields.items():
            default = None if field.is_required() else field.get_default(call_default_factory=True)
            out[key] = {"type": _type_name(field.annotation), "default": default,
                        "required": field.is_required(), "description": field.description}
        return out

    def describe(self) -> dict[str, Any]:
        from restorebench.metrics.weights import CATALOGUE, status

        return {
            "name": self.name,
            "summary": self.summary or (type(self).__doc__ or "").strip().split("\n")[0],
            "params": self.params_dict,
            "parameters": self.parameter_schema(),
            "weights": [{"key": key, **status(key)} for key in self.weight_keys() if key in CATALOGUE],
            "networks": type(self).networks(),
            "version": self.version,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params_dict})"


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    return text or str(annotation).replace("typing.", "")


# -- source closures --------------------------------------------------------------------------------

def _module_file(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin in (None, "built-in", "frozen") or not str(spec.origin).endswith(".py"):
        return None
    return Path(spec.origin)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imported_modules(name: str, path: Path) -> set[str]:
    """Project modules that the module ``name`` (at ``path``) imports, anywhere in its body."""
    package = name if _is_package(path) else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            # `from package import module` imports a module; `from module import name` does not
            found |= {f"{module}.{alias.name}" for alias in node.names if _module_file(f"{module}.{alias.name}")}
    return {m for m in found if m == PROJECT or m.startswith(PROJECT + ".")}


def source_closure(module: str) -> dict[str, Path]:
    """``{module name: file}`` of ``module`` and every project module it imports, transitively.
    Parent packages' ``__init__`` files are included only where they are imported by name."""
    closure: dict[str, Path] = {}
    pending = [module]
    while pending:
        name = pending.pop()
        if name in closure:
            continue
        path = _module_file(name)
        if path is None:
            continue
        closure[name] = path
        pending += sorted(_imported_modules(name, path) - closure.keys())
    return closure


@functools.cache
def source_version(cls: type) -> str:
    """sha256 of the source closure of ``cls``'s module and of its declared data files (the
    version's code part). Cached per process: a running benchmark sees one version of each file."""
    digest = hashlib.sha256()
    closure = source_closure(cls.__module__)
    for name in sorted(closure):
        digest.update(name.encode() + b"\0" + closure[name].read_bytes() + b"\0")
    folder = Path(closure[cls.__module__]).parent if cls.__module__ in closure else None
    for relative in getattr(cls, "data_files", ()):
        if folder is not None:
            digest.update(relative.encode() + b"\0" + (folder / relative).read_bytes() + b"\0")
    return digest.hexdigest()


# -- networks -------------------------------------------------------------------------------------

def parameter_count(network: "torch.nn.Module") -> int:
    """Number of trainable parameters (buffers excluded), as papers count them."""
    return sum(p.numel() for p in network.parameters())


def meta_parameter_count(build: Callable[[], "torch.nn.Module"]) -> int:
    """:func:`parameter_count` of a network built on the meta device (no memory, no weights)."""
    import torch

    with torch.device("meta"):
        return parameter_count(build())


def meta_shapes(build: Callable[[], "torch.nn.Module"]) -> dict[str, list[int]]:
    """``{state-dict key: shape}`` of a network built on the meta device (what its checkpoint holds)."""
    import torch

    with torch.device("meta"):
        return {k: list(v.shape) for k, v in build().state_dict().items()}
