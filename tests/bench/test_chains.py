"""Chains in specs and plans: the factor, planning on matching items only, spec errors at the
stage's line, and a case id that covers every stage."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from restorebench import models
from restorebench.bench.plan import case_id_for, make_plan
from restorebench.bench.spec import SpecError, load_spec
from restorebench.metrics import component
from restorebench.metrics.registry import did_you_mean


def lr_folder(root, scales=(2, 4, 8), n=2, size=8):
    """One set per factor (``set-x2``…), ``n`` LR images of ``size`` pixels with their HR."""
    rng = np.random.default_rng(0)
    for scale in scales:
        set_dir = root / "toy" / f"set-x{scale}"
        (set_dir / "HR").mkdir(parents=True)
        for i in range(n):
            hr = rng.integers(0, 256, (size * scale, size * scale, 3), dtype=np.uint8)
            Image.fromarray(hr).save(set_dir / "HR" / f"{i}.png")
            Image.fromarray(np.ascontiguousarray(hr[::scale, ::scale])).save(set_dir / f"{i}.png")
    return root


def spec(root, methods: str, metrics: str = "[psnr]", datasets: str | None = None) -> str:
    datasets = datasets or f"  - {{name: toy, kind: lr_sets, root: {root}}}"
    return f"name: chains\ndatasets:\n{datasets}\nmethods:\n{methods}\nmetrics: {metrics}\n"


def problems_of(write_spec, text) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_spec(write_spec(text))
    return info.value.problems


def test_a_chain_has_the_product_factor_and_is_planned_on_those_items_only(tmp_path, write_spec):
    root = lr_folder(tmp_path / "lr")
    loaded = load_spec(write_spec(spec(root, """\
  - {name: bicubic}
  - label: bic-x8
    chain:
      - {name: bicubic, scale: 2}
      - {name: lanczos, scale: 4}
  - chain: [{name: bicubic, scale: 2}, {name: bicubic, scale: 2}]
""")))
    bicubic, x8, x4 = loaded.variants
    assert (x8.name, x8.label, x8.sr_scales, x8.tasks) == ("chain", "bic-x8", frozenset({8}), frozenset({"sr"}))
    assert x8.params == {"stages": [{"name": "bicubic", "scale": 2, "params": {"scale": 2}},
                                    {"name": "lanczos", "scale": 4, "params": {"scale": 4}}]}
    assert x8.summary == "bicubic ×2 → lanczos ×4"
    assert [(s.name, s.scale) for s in x8.stages] == [("bicubic", 2), ("lanczos", 4)]
    assert (x4.label, x4.sr_scales) == ("bicubic×2+bicubic×2", frozenset({4}))

    plan = make_plan(loaded)
    groups = {}
    for case in plan.cases:
        groups.setdefault(case.variant.label, set()).add(case.item.group)
    assert groups == {"bicubic": {"set-x2", "set-x4", "set-x8"}, "bic-x8": {"set-x8"}, "bicubic×2+bicubic×2": {"set-x4"}}
    assert len(plan.cases) == 3 * 2 + 2 + 2


def test_a_stage_that_cannot_do_its_factor_is_a_spec_error_at_its_line(tmp_path, write_spec, weights_dir):
    root = lr_folder(tmp_path / "lr")
    path = tmp_path / "spec.yaml"
    found = problems_of(write_spec, spec(root, """\
  - label: blindsr-x8
    chain:
      - {name: blindsr, scale: 2}
      - {name: blindsr, scale: 4}
  - chain:
      - {name: dan, scale: 8}
      - {name: dan, version: v1, setting: 2, scale: 3}
  - chain: [{name: wiener, scale: 2}, {name: bicubic, scale: 2}]
  - chain: [{name: bicubc, scale: 2}, {name: bicubic, scale: 2}]
  - chain: [{name: bicubic, scale: 2, kernel: [a, b]}, {name: bicubic, scale: 2}]
"""))
    assert [p.split(" Known:")[0] for p in found] == [
        f"{path}:8: methods[0].chain[1].scale: stage 2 (blindsr ×4): 'blindsr' with these parameters does ×2 only, not ×4; "
        "make the factor from stages it can do (e.g. ×8 = ×2 ×2 ×2)",
        f"{path}:10: methods[1].chain[0].scale: stage 1 (dan ×8): expected 2, 3 or 4, got 8",
        f"{path}:11: methods[1].chain[1].scale: stage 2 (dan ×3): 'dan' with these parameters cannot do ×3; "
        "make the factor from stages it can do (e.g. ×8 = ×2 ×2 ×2)",
        f"{path}:12: methods[2].chain[0].name: stage 1 (wiener ×2): method 'wiener' does deblur; a chain stage must do sr",
        f"{path}:13: methods[3].chain[0].name: unknown method 'bicubc'. Did you mean 'bicubic'?",
        f"{path}:14: methods[4].chain[0].kernel: stage 1 (bicubic ×2): a list of values (a grid) is not possible inside a chain; "
        "write one chain per configuration",
    ]


def test_a_malformed_chain_entry_is_reported_at_its_line(tmp_path, write_spec):
    root = lr_folder(tmp_path / "lr")
    path = tmp_path / "spec.yaml"
    assert problems_of(write_spec, spec(root, """\
  - chain: [{name: bicubic, scale: 1}, {name: bicubic, scale: 2}]
  - chain: [{name: bicubic, scale: 8}]
  - {chain: [{name: bicubic, scale: 2}, {name: bicubic, scale: 2}], inputs: [motion]}
  - chain: [{scale: 2}, {name: nope, scale: 2}]
""")) == [
        f"{path}:5: methods[0].chain[0].scale: Input should be greater than or equal to 2",
        f"{path}:6: methods[1].chain: List should have at least 2 items after validation, not 1",
        f"{path}:7: methods[2].inputs: unknown field",
        f"{path}:8: methods[3].chain[0].name: required field is missing",
        f"{path}:8: methods[3].chain[1].name: unknown method 'nope'.{did_you_mean('nope', models.available())}",
    ]


def test_a_chain_needs_an_sr_dataset(write_spec, tmp_path):
    text = spec(None, "  - chain: [{name: bicubic, scale: 2}, {name: bicubic, scale: 2}]\n",
                datasets="  - {name: t, kind: blur_triplets, source: builtin}")
    assert problems_of(write_spec, text) == [
        f"{tmp_path / 'spec.yaml'}:5: methods[0].chain: a chain does super-resolution but no dataset in the spec has that task"]


def _chain_variant(write_spec, root, stage1: str, stage2: str, label: str = "c"):
    loaded = load_spec(write_spec(spec(root, f"  - label: {label}\n    chain:\n      - {stage1}\n      - {stage2}\n")))
    return loaded.variants[0]


def test_the_chain_version_and_case_ids_cover_every_stage(tmp_path, write_spec, monkeypatch):
    root = lr_folder(tmp_path / "lr", scales=(8,), n=1)
    log = tmp_path / "log.txt"
    first, second = "{name: bicubic, scale: 2}", f"{{name: test_counting, scale: 4, log: {log}}}"
    base = _chain_variant(write_spec, root, first, second)
    other_param = _chain_variant(write_spec, root, first, second.replace("}", ", offset: 1}"))
    other_method = _chain_variant(write_spec, root, first.replace("bicubic", "lanczos"), second)
    swapped = _chain_variant(write_spec, root, "{name: bicubic, scale: 4}", second.replace("scale: 4", "scale: 2"))
    again = _chain_variant(write_spec, root, first, second)
    versions = {v.code_version for v in (base, other_param, other_method, swapped)}
    assert len(versions) == 4 and again.code_version == base.code_version

    # a change to the code of one stage's method (its source closure) gives new ids too
    real = component.source_version

    def edited(cls):
        return "edited" + real(cls) if cls.__name__ == "Counting" else real(cls)

    monkeypatch.setattr(component, "source_version", edited)
    changed_code = _chain_variant(write_spec, root, first, second)
    assert changed_code.code_version != base.code_version

    item = make_plan(load_spec(write_spec(spec(root, "  - {name: bicubic}\n")))).cases[0].item
    ids = {case_id_for(item, v, 0, 0, "sha") for v in (base, other_param, other_method, swapped, changed_code)}
    assert len(ids) == 5 and case_id_for(item, again, 0, 0, "sha") == case_id_for(item, base, 0, 0, "sha")


def test_a_chain_records_the_checkpoints_of_its_stages_only(tmp_path, write_spec, weights_dir):
    root = lr_folder(tmp_path / "lr", scales=(8,), n=1)
    variant = _chain_variant(write_spec, root, "{name: dan, scale: 2, version: v1, setting: 1}",
                             "{name: dan, scale: 4, version: v1, setting: 1}")
    assert variant.weights == (("danv1-x2-setting1", None), ("danv1-x4-setting1", None))


def test_a_metric_listed_twice_needs_a_label(tmp_path, write_spec):
    root = lr_folder(tmp_path / "lr", scales=(8,), n=1)
    twice = spec(root, "  - {name: bicubic}\n", metrics="[niqe, {name: niqe, variant: skvideo}]")
    assert problems_of(write_spec, twice) == [
        f"{tmp_path / 'spec.yaml'}:7: metrics[1]: metric 'niqe' is listed twice; give one of them a `label` to keep both"]
    labelled = load_spec(write_spec(twice.replace("variant: skvideo}", "variant: skvideo, label: niqe-skvideo}")))
    assert [(m.name, m.key, m.options) for m in labelled.spec.metrics] == [
        ("niqe", "niqe", {}), ("niqe", "niqe-skvideo", {"variant": "skvideo"})]
