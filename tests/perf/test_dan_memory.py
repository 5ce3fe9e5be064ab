"""DAN ×4 on a 512×512 input stays within 4 GiB of memory on the CPU (tiling), measured in a
child process (see ``tests/perf/dan_memory.py``). Slow on a CPU (minutes): perf only."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.perf
LIMIT_MIB = 4 * 1024


def _script():
    spec = importlib.util.spec_from_file_location("dan_memory", Path(__file__).with_name("dan_memory.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dan_x4_512_peak_memory(benchmark):
    result = benchmark.pedantic(_script().measure, kwargs={"size": 512, "scale": 4}, rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    assert result["output"] == [2048, 2048, 3]
    assert result["peak_rss_mib"] < LIMIT_MIB, result
