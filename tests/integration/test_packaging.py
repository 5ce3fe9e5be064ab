"""The distribution: one import namespace, its own code despite look-alike packages, plugins
through entry points and through a file."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from tests_support import copy_checkout

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "restorebench.bench.cli"]

PLUGIN = '''
"""A third-party method and metric: one file each would do; here one file holds both."""
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from restorebench.metrics.base import Metric
from restorebench.models.base import Method


class Brighten(Method):
    """Adds a constant to every pixel (clipped): a restoration method in a dozen lines."""

    name = "plugin_brighten"
    tasks = frozenset({"deblur", "sr"})

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        amount: int = Field(10, ge=0, le=255, description="added to every channel")

    def restore(self, image):
        out = np.clip(image.astype(np.int16) + self.params.amount, 0, 255).astype(np.uint8)
        s = self.ctx.scale if self.ctx.task == "sr" else 1
        return np.repeat(np.repeat(out, s, 0), s, 1)


class MeanLevel(Metric):
    """Mean grey level of the image."""

    name = "plugin_mean_level"
    kind = "NR"
    higher_is_better = True
    value_range = (0.0, 255.0)

    def compute(self, image, reference):
        return float(image.mean())
'''


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RESTOREBENCH_PLUGINS", "PYTHONPATH")}
    return {**env, **extra}


def test_every_package_folder_is_in_the_distribution():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = setuptools["package-dir"]
    listed = set(setuptools["packages"])
    for package, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            assert ".".join((package, *relative)) in listed, f"{init.parent} is missing from [tool.setuptools] packages"


def test_the_wheel_installs_one_top_level_package(tmp_path):
    source = copy_checkout(tmp_path / "source")  # setuptools writes build/ into the tree it builds
    shutil.copy(ROOT / "README.md", source / "README.md")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(source)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("restorebench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"restorebench"}
    for expected in ("restorebench/bench/specs/default.yaml", "restorebench/metrics/data/niqe_live/niqe_pris_params.npz",
                     "restorebench/reports/templates", "restorebench/models/dan/manifest.json"):
        assert any(n.startswith(expected) for n in names), expected


def test_unrelated_models_and_metrics_packages_do_not_shadow_ours(tmp_path, write_spec):
    decoys = tmp_path / "decoys"
    for name in ("models", "metrics", "bench", "reports"):
        (decoys / name).mkdir(parents=True)
        (decoys / name / "__init__.py").write_text("raise ImportError('a decoy package was imported')\n")
    spec = write_spec("""
name: decoys
workers: 0
datasets: [{name: b, kind: lr_sets, source: builtin, sets: [page-x2-iso], limit: 1}]
methods: [{name: bicubic}]
metrics: [psnr]
""")
    result = subprocess.run([*CLI, "run", str(spec), "--db", str(tmp_path / "db.duckdb"), "--out", str(tmp_path / "out"), "--no-progress"],
                            cwd=tmp_path, env=clean_env(PYTHONPATH=str(decoys)), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "1 ok" in result.stdout


def make_distribution(site: Path) -> None:
    """A throw-away installed distribution: a module and its .dist-info with entry points, as pip
    would lay them out in site-packages."""
    info = site / "rb_example_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "rb_example_plugin.py").write_text(PLUGIN)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rb-example-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[restorebench.methods]\nplugin_brighten = rb_example_plugin:Brighten\n\n"
        "[restorebench.metrics]\nplugin_mean_level = rb_example_plugin:MeanLevel\n"
    )


def test_a_plugin_distribution_registers_through_entry_points(tmp_path, write_spec):
    site = tmp_path / "site-packages"
    make_distribution(site)
    env = clean_env(PYTHONPATH=str(site))
    listed = subprocess.run([*CLI, "list", "methods"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0 and "plugin_brighten" in listed.stdout and "amount: int, default 10" in listed.stdout
    spec = write_spec("""
name: plugin
workers: 1
datasets: [{name: b, kind: blur_triplets, source: builtin, ids: [1_BUILTIN]}]
methods: [{name: identity}, {name: plugin_brighten, amount: 20}]
metrics: [plugin_mean_level]
""")
    db = tmp_path / "db.duckdb"
    ran = subprocess.run([*CLI, "run", str(spec), "--db", str(db), "--out", str(tmp_path / "out"), "--no-progress"],
                         env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        means = dict(con.execute("SELECT method, avg(value) FROM results GROUP BY method").fetchall())
    assert 15 < means["plugin_brighten"] - means["identity"] <= 20  # +20, less where it clipped


def test_a_plugin_file_needs_no_install_and_no_pythonpath(tmp_path):
    plugin = tmp_path / "elsewhere" / "my_plugin.py"
    plugin.parent.mkdir()
    plugin.write_text(PLUGIN)
    listed = subprocess.run([*CLI, "list", "metrics"], env=clean_env(RESTOREBENCH_PLUGINS=str(plugin)), capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert "plugin_mean_level" in listed.stdout
    missing = subprocess.run([*CLI, "list", "metrics"], env=clean_env(RESTOREBENCH_PLUGINS=str(tmp_path / "nope.py")), capture_output=True, text=True)
    assert missing.returncode == 2 and "nope.py, which does not exist" in missing.stderr and "Traceback" not in missing.stderr
