"""The README cannot drift: every shell command of its ```sh blocks and its Python example run
as written, in a scratch folder laid out like the checkout. A block preceded by an
`<!-- untested: reason -->` line is skipped (a synopsis, or the whole benchmark and test suite)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BIN = Path(sys.executable).parent


def blocks(language: str) -> list[str]:
    found = []
    for match in re.finditer(rf"(<!-- untested:[^\n]*-->\n)?```{language}\n(.*?)```", README, flags=re.S):
        if match.group(1) is None:
            found.append(match.group(2))
    return found


def commands() -> list[str]:
    lines = []
    for block in blocks("sh"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith(("#", ". ", "source ")):
                lines.append(line)
    return lines


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """A working folder with the checkout's bench/ and site/ (specs, docs images) but its own results/."""
    folder = tmp_path_factory.mktemp("readme")
    for name in ("bench", "site"):
        (folder / name).symlink_to(ROOT / name)
    return folder


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RESTOREBENCH_PLUGINS"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_the_readme_has_commands_to_test():
    assert len(commands()) >= 10 and len(blocks("python")) == 1


@pytest.mark.parametrize("command", commands())
def test_every_readme_command_works_as_written(scratch, command):
    result = subprocess.run(["bash", "-c", command], cwd=scratch, env=environment(), capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"`{command}` exited {result.returncode}:\n{output[-3000:]}"
    assert "Traceback" not in output


def test_the_readme_python_example_runs(scratch):
    (code,) = blocks("python")
    result = subprocess.run([sys.executable, "-c", code], cwd=scratch, env=environment(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    before, after = map(float, result.stdout.splitlines()[0].split())
    assert after > before  # the Wiener filter with the true kernel undoes some of the blur
