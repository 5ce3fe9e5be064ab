"""The performance-regression check's arithmetic (tests/perf/compare_revisions.py), and that it
runs a real revision in a worktree and leaves no worktree behind."""
from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "perf" / "compare_revisions.py"
spec = importlib.util.spec_from_file_location("compare_revisions", SCRIPT)
compare_revisions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_revisions)


def test_best_of_takes_each_benchmarks_minimum_over_passes():
    runs = [{"a": 2.0, "b": 1.0}, {"a": 1.5, "b": 3.0, "c": 9.0}]
    assert compare_revisions.best_of(runs) == {"a": 1.5, "b": 1.0, "c": 9.0}


def test_compare_flags_only_ratios_above_one_plus_threshold():
    base = {"fast": 1.0, "same": 2.0, "slow": 1.0, "gone": 1.0}
    head = {"fast": 0.5, "same": 2.0, "slow": 1.51, "new": 1.0}
    rows, slower = compare_revisions.compare(base, head, threshold=0.5)
    assert [(name, round(ratio, 2)) for name, _, _, ratio in rows] == [("fast", 0.5), ("same", 1.0), ("slow", 1.51)]
    assert slower == ["slow"]
    assert compare_revisions.compare(base, head, threshold=0.6)[1] == []


def test_an_unknown_base_is_reported_and_passes(capsys):
    assert compare_revisions.main(["--base", "no-such-revision-anywhere"]) == 0
    assert "is not a commit of this clone" in capsys.readouterr().out


@pytest.mark.parametrize("failing, expected", [("head", 1), ("base", 0)])
def test_failed_benchmarks_fail_only_when_they_are_the_working_trees(monkeypatch, capsys, failing, expected):
    """The base is a real worktree checkout of HEAD (removed afterwards); the benchmark sessions
    are replaced by one that fails for one side."""
    if compare_revisions.resolve("HEAD") is None:
        pytest.skip("not a git clone")
    trees: list[Path] = []

    def fake_run(tree: Path, out: Path) -> dict[str, float]:
        trees.append(tree)
        side = "head" if tree == compare_revisions.ROOT else "base"
        if side == "base":
            assert (tree / "pyproject.toml").exists() and (tree / "tests" / "perf").is_dir()
        if side == failing:
            raise compare_revisions.BenchmarksFailed("E   assert 7.0 <= 5.0")
        return {"x": 1.0}

    monkeypatch.setattr(compare_revisions, "run_benchmarks", fake_run)
    assert compare_revisions.main(["--base", "HEAD", "--passes", "2"]) == expected
    out = capsys.readouterr().out
    assert "assert 7.0 <= 5.0" in out
    assert ("working tree's benchmarks failed" in out) == (failing == "head")
    assert trees[0] != compare_revisions.ROOT and len(trees) == (2 if failing == "head" else 1)
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=compare_revisions.ROOT, capture_output=True, text=True).stdout
    assert str(trees[0]) not in worktrees and not trees[0].exists()
