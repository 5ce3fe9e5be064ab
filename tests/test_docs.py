"""The documentation's code runs: the worked examples of site/docs/architecture.md."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def load_example(code: str, tmp_path: Path, name: str):
    """Register the example through the same route a user's file takes."""
    from restorebench.metrics.registry import import_plugin

    path = tmp_path / f"{name}.py"
    path.write_text(code.replace("@register()\n", ""))  # a plugin file needs no decorator
    return import_plugin(str(path))


def test_the_architecture_pages_method_and_metric_examples_work(tmp_path, monkeypatch):
    from restorebench import metrics, models
    from restorebench.models.base import RestoreContext

    # registered for this test only: later tests list the registries
    monkeypatch.setattr(models.REGISTRY, "_entries", dict(models.REGISTRY._entries))
    monkeypatch.setattr(metrics.REGISTRY, "_entries", dict(metrics.REGISTRY._entries))

    method_code, metric_code = python_blocks(ROOT / "site" / "docs" / "architecture.md")
    method_module = load_example(method_code, tmp_path, "doc_unsharp")
    metric_module = load_example(metric_code, tmp_path, "doc_mean_level")
    models.REGISTRY._register_classes_of(method_module)
    metrics.REGISTRY._register_classes_of(metric_module)

    from scipy.ndimage import gaussian_filter
    from skimage import data

    sharp = data.astronaut()[::2, ::2]
    blurred = np.clip(gaussian_filter(sharp.astype(float), sigma=(1.5, 1.5, 0)), 0, 255).round().astype(np.uint8)
    method = models.get("unsharp", amount=1.0)
    method.prepare(RestoreContext(task="deblur"))
    restored = method.restore(blurred)
    psnr = metrics.get("psnr")
    assert psnr(restored, sharp) > psnr(blurred, sharp) + 0.5  # sharpening undoes some of the blur
    assert metrics.get("mean_level")(sharp) == sharp.mean()
    assert models.get("unsharp").describe()["parameters"]["amount"]["default"] == 1.0
