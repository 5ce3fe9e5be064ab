"""The dependency direction of DESIGN.md, checked on the source (so a stray import fails CI)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOUNDATION = {"metrics.errors", "metrics.imageio", "metrics.matlab", "metrics.registry", "metrics.weights", "metrics.device", "metrics.component"}


def imports_of(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                names |= {f"{node.module}.{a.name}" for a in node.names}
        found[str(path.relative_to(ROOT))] = {n.removeprefix("restorebench.") for n in names if n.startswith("restorebench.")} | {
            f"OLD-TOP-LEVEL:{n}" for n in names if top(n) in {"bench", "models", "metrics", "reports"}}
    return found


def test_every_import_of_the_project_is_namespaced():
    for package in ("bench", "models", "metrics", "reports", "tests"):
        for path, names in imports_of(package).items():
            assert not {n for n in names if n.startswith("OLD-TOP-LEVEL:")}, path


def top(name: str) -> str:
    return name.split(".")[0]


def test_metrics_import_no_other_project_package():
    for path, names in imports_of("metrics").items():
        assert not {n for n in names if top(n) in {"models", "bench", "reports"}}, path


def test_models_use_only_the_foundation_of_metrics():
    for path, names in imports_of("models").items():
        assert not {n for n in names if top(n) in {"bench", "reports"}}, path
        beyond = {n for n in names if top(n) == "metrics" and n not in FOUNDATION and n.rsplit(".", 1)[0] not in FOUNDATION}
        assert not beyond, (path, beyond)


def test_reports_read_the_database_through_bench_store_only():
    for path, names in imports_of("reports").items():
        bench = {n for n in names if top(n) == "bench"}
        allowed = ("bench.store", "bench.folders")
        assert all(n.split(".")[:2] in [a.split(".") for a in allowed] for n in bench), (path, bench)
        assert not {n for n in names if top(n) == "models"}, path
