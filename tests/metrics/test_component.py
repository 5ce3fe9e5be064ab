"""The one contract of methods and metrics, checked on every registered component, and versions
that see every project module a component imports."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from restorebench import metrics, models
from restorebench.metrics.component import Component, ParameterError, source_closure
from restorebench.metrics.weights import CATALOGUE
from tests_support import copy_checkout

ROOT = Path(__file__).resolve().parents[2]
# Components that cannot be built with their defaults alone (none today); name → reason.
NEEDS_PARAMETERS: dict[str, str] = {}


def every_component() -> list[tuple[str, type[Component]]]:
    return [("method", models.method_class(n)) for n in models.available()] + [
        ("metric", metrics.REGISTRY.get(n)) for n in metrics.available()
    ]


@pytest.mark.parametrize("kind,cls", every_component(), ids=lambda v: getattr(v, "name", v))
def test_every_component_keeps_the_contract(kind, cls):
    if cls.name in NEEDS_PARAMETERS:
        pytest.skip(NEEDS_PARAMETERS[cls.name])
    component = cls()
    assert isinstance(component, Component) and component.kind_name == kind
    described = component.describe()
    assert described["name"] == cls.name and described["summary"]
    json.dumps(described, allow_nan=True)  # plain data
    assert set(described["parameters"]) == set(cls.Params.model_fields)
    assert described["params"] == component.params_dict
    # typos are errors naming the known parameters
    with pytest.raises(ParameterError, match="is not a parameter of"):
        cls(no_such_option=1)
    # every checkpoint key is catalogued, and every network row counts its parameters
    assert set(component.weight_keys()) <= set(cls.weights) <= set(CATALOGUE)
    for row in described["networks"]:
        assert isinstance(row["parameters"], int) and row["parameters"] > 0, row
    # the version is stable and depends on the parameters
    assert component.version == cls().version and len(component.version) == 16


def test_learned_components_report_the_official_parameter_counts():
    maniqa = {r["parameters"] for r in metrics.REGISTRY.get("maniqa").networks()}
    assert maniqa == {135_747_530}  # IIGROUP MANIQA (ViT-B/8 backbone included), as the paper's model
    dan = {r["variant"]: r["parameters"] for r in models.method_class("dan").networks()}
    assert len(dan) == 10 and all(count > 4_000_000 for count in dan.values())


def test_components_of_one_module_have_distinct_versions():
    assert models.get("bicubic").code_version != models.get("lanczos").code_version
    assert metrics.get("ms_ssim").version != metrics.get("ms_ssim", method="product").version


def test_the_source_closure_follows_imports_transitively():
    niqe = set(source_closure("restorebench.metrics.niqe"))
    assert {"restorebench.metrics.nss", "restorebench.metrics.matlab", "restorebench.metrics.base"} <= niqe
    psnr = set(source_closure("restorebench.metrics.psnr"))
    assert "restorebench.metrics.matlab" not in psnr and "restorebench.metrics.nss" not in psnr
    zssr = set(source_closure("restorebench.models.zssr"))
    assert "restorebench.metrics.matlab" in zssr and not any(".bench" in m or ".reports" in m for m in zssr)


VERSIONS_SCRIPT = """
import json
from restorebench import metrics, models
print(json.dumps({
    "niqe": metrics.get("niqe").version, "brisque": metrics.get("brisque").version,
    "piqe": metrics.get("piqe").version, "psnr": metrics.get("psnr").version,
    "ssim": metrics.get("ssim").version, "zssr": models.get("zssr").version,
    "wiener": models.get("wiener").version, "bicubic": models.get("bicubic").version,
}))
"""


def versions_in(checkout: Path) -> dict[str, str]:
    result = subprocess.run([sys.executable, "-c", VERSIONS_SCRIPT], cwd=checkout, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(checkout), "HOME": str(checkout)})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_editing_a_shared_helper_changes_exactly_the_versions_that_use_it(tmp_path):
    checkout = copy_checkout(tmp_path / "copy")
    before = versions_in(checkout)
    assert before == versions_in(ROOT)  # the copy is the same code
    with open(checkout / "metrics" / "matlab.py", "a") as handle:
        handle.write("\n# an edit\n")
    after_matlab = versions_in(checkout)
    changed = {k for k in before if before[k] != after_matlab[k]}
    # NIQE, BRISQUE (imresize at 0.5), ZSSR and bicubic use metrics.matlab; PSNR and Wiener do not
    assert {"niqe", "brisque", "zssr", "bicubic"} <= changed and not {"psnr", "wiener"} & changed
    with open(checkout / "metrics" / "nss.py", "a") as handle:
        handle.write("\n# another edit\n")
    after_nss = versions_in(checkout)
    changed = {k for k in before if after_matlab[k] != after_nss[k]}
    assert {"niqe", "brisque"} <= changed and not {"psnr", "zssr", "wiener", "bicubic"} & changed
