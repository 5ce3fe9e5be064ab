"""The plan: every case has its own id, and the id changes with everything the result depends on."""
from __future__ import annotations

import numpy as np
from PIL import Image

from restorebench.bench.plan import make_plan
from restorebench.bench.spec import load_spec


def lr_folder(root, n=2):
    rng = np.random.default_rng(0)
    folder = root / "lr" / "d" / "s"
    (folder / "HR").mkdir(parents=True)
    for i in range(n):
        hr = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        Image.fromarray(hr).save(folder / "HR" / f"{i}.png")
        Image.fromarray(hr[::2, ::2]).save(folder / f"{i}.png")
    return root / "lr"


def plan_ids(write_spec, root, extra="", methods="[{name: bicubic}]"):
    spec = write_spec(f"""
name: ids
{extra}
datasets: [{{name: toy, kind: lr_sets, root: {root}}}]
methods: {methods}
metrics: [psnr]
""")
    return {(c.item.item, c.variant.label, c.seed, c.sample): c.case_id for c in make_plan(load_spec(spec)).cases}


def test_every_seed_and_sample_is_its_own_case(tmp_path, write_spec):
    root = lr_folder(tmp_path)
    ids = plan_ids(write_spec, root, extra="seeds: [0, 1, 2]", methods="[{name: bicubic}, {name: test_slow, seconds: 0}]")
    assert len(ids) == 2 * 2 * 3 and len(set(ids.values())) == len(ids)
    assert plan_ids(write_spec, root, extra="seed: 5") != plan_ids(write_spec, root, extra="seed: 6")


def test_the_id_follows_the_reference_and_the_parameters(tmp_path, write_spec):
    root = lr_folder(tmp_path)
    before = plan_ids(write_spec, root)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / "d" / "s" / "HR" / "0.png")  # a new ground truth
    after = plan_ids(write_spec, root)
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {("d/s/0", "bicubic", 0, 0)}
    assert plan_ids(write_spec, root, methods="[{name: bicubic, label: a}]") != plan_ids(write_spec, root, methods="[{name: bicubic, label: b}]")
    assert set(plan_ids(write_spec, root, methods="[{name: lanczos}]").values()).isdisjoint(after.values())
