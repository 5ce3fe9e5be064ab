"""The dependency stack of site/docs/architecture.md, checked on the source: no import points up.

    restorebench (the public API)
    command line          restorebench.bench.cli, restorebench.bench.commands.*
    reports               restorebench.reports.*          (analyses, site)
    harness               restorebench.bench.*            (spec, plan, runner, executors, store, datasets)
    methods | metrics     restorebench.models.* | restorebench.metrics.* (two siblings: a method never scores itself)
    foundation            restorebench.metrics.{errors, imageio, matlab, registry, weights, device, component, locks}

A module may import its own layer and the layers below it, never a layer above (nor its sibling).
Imports inside functions count: a lazy import up the stack is still an edge up the stack.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"bench": "restorebench.bench", "models": "restorebench.models", "metrics": "restorebench.metrics",
           "reports": "restorebench.reports", "restorebench": "restorebench"}
FOUNDATION = {f"restorebench.metrics.{m}" for m in ("errors", "imageio", "matlab", "registry", "weights", "device", "component", "locks")}
RANK = {"api": 6, "cli": 5, "reports": 4, "harness": 3, "methods": 2, "metrics": 2, "foundation": 1}


def layer(module: str) -> str:
    if module == "restorebench":
        return "api"
    if module in FOUNDATION or module == "restorebench.metrics":  # the package's __init__ is its public face
        return "foundation" if module in FOUNDATION else "metrics"
    if module.startswith(("restorebench.bench.cli", "restorebench.bench.commands")):
        return "cli"
    for prefix, name in (("restorebench.reports", "reports"), ("restorebench.bench", "harness"),
                         ("restorebench.models", "methods"), ("restorebench.metrics", "metrics")):
        if module == prefix or module.startswith(prefix + "."):
            return name
    raise ValueError(module)


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            found[".".join((package, *parts))] = path
    return found


MODULES = modules()


def imported(module: str, path: Path) -> set[str]:
    """Project modules (or packages) named by the import statements of a module."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            submodules = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES}
            names |= submodules
            if len(submodules) < len(node.names):  # some names are objects of the module itself
                names.add(base)
    return {n for n in names if n in MODULES}


EDGES = sorted((m, t) for m, p in MODULES.items() for t in imported(m, p) if t != m)


def test_the_modules_are_found():
    assert {"restorebench.bench.runner", "restorebench.metrics.niqe", "restorebench.models.zssr"} <= set(MODULES)
    assert len(EDGES) > 100


@pytest.mark.parametrize("source,target", EDGES, ids=lambda v: v.removeprefix("restorebench."))
def test_no_import_points_up_the_stack(source, target):
    a, b = layer(source), layer(target)
    if b == "foundation" or (a == b):
        return
    assert RANK[a] > RANK[b], f"{source} ({a}) imports {target} ({b}): an edge up the stack or across siblings"


def test_foundation_imports_only_foundation():
    for module in FOUNDATION:
        assert all(t in FOUNDATION for t in imported(module, MODULES[module])), module


def test_every_import_of_the_project_is_namespaced():
    """No `import metrics` / `from bench...`: the old top-level names would shadow, or be shadowed
    by, other projects' packages."""
    for path in [*ROOT.joinpath("tests").rglob("*.py"), *(p for p in MODULES.values())]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            assert not any(n.split(".")[0] in {"bench", "models", "metrics", "reports"} for n in names), path


def test_sql_that_writes_lives_in_the_store():
    """Only the store writes to the database (INSERT, UPDATE, DELETE, CREATE, ALTER)."""
    import re

    writes = re.compile(r"""["'](?:\s*)(INSERT( OR REPLACE)? INTO|UPDATE \w+ SET|DELETE FROM|CREATE( OR REPLACE)? (TABLE|VIEW)|ALTER TABLE|DROP TABLE)\b""")
    allowed = {"restorebench.bench.store", "restorebench.bench.runner"}  # the runner marks stale runs interrupted inside store.writing()
    for module, path in MODULES.items():
        if module not in allowed:
            assert not writes.search(path.read_text()), f"{module} writes SQL itself; add a Store method"
