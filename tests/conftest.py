"""Test-wide set-up: a private cache folder, and the test methods (misbehaving ones, a counting one
for chains) as plugins."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
PLUGINS = TESTS / "plugins"
SUPPORT = TESTS / "support"

# Before anything imports the registries: the plugin must be registered in this process and in
# every worker process the runner spawns (they inherit the environment).
os.environ.setdefault("RESTOREBENCH_CACHE", tempfile.mkdtemp(prefix="restorebench-test-cache-"))
os.environ["RESTOREBENCH_PLUGINS"] = "faulty_methods,chain_methods"
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH", "")]))
sys.path.insert(0, str(PLUGINS))
sys.path.insert(0, str(SUPPORT))


@pytest.fixture(scope="session")
def builtin_root() -> Path:
    from restorebench.bench.datasets import cache_root
    from restorebench.bench.datasets.builtin import ensure_builtin

    return ensure_builtin(cache_root() / "data", seed=0)


@pytest.fixture
def write_spec(tmp_path):
    """Write a spec YAML text to a file and return its path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def weights_dir(tmp_path, monkeypatch) -> Path:
    """An empty weights folder searched first, and a missing user folder: a test never sees the
    checkpoints installed on the machine it runs on."""
    from restorebench.metrics import weights

    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setenv(weights.ENV_VAR, str(folder))
    monkeypatch.setattr(weights, "DEFAULT_DIR", tmp_path / "default")
    return folder


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small tensors run fastest, and least disturbed by a busy shared CPU, on one thread
    (``pytestmark = pytest.mark.usefixtures("one_torch_thread")`` in a test module)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
