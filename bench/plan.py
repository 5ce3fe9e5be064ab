"""Planning: a validated spec → the list of cases to run, each with a content-hashed id.

``case = (dataset item, method variant, seed, sample)``. The id hashes the item's image files
(bytes, not names), the variant's name, label and code version (its source and parameters), the
seed and the sample index — so a changed image or a changed method never reuses a stale result,
and re-running an unchanged spec finds every finished case again.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from restorebench.bench.datasets import Item, load_items
from restorebench.bench.spec import LoadedSpec, Variant, canonical_json, dataset_task
from restorebench.metrics.imageio import file_sha256

_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path | None) -> str | None:
    """sha256 of a file's bytes, memoised on (path, size, mtime)."""
    if path is None:
        return None
    st = os.stat(path)
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _FILE_HASHES:
        _FILE_HASHES[key] = file_sha256(path)
    return _FILE_HASHES[key]


@dataclass(frozen=True)
class Case:
    case_id: str
    item: Item
    variant: Variant
    seed: int
    sample: int
    input_sha256: str


@dataclass
class Plan:
    loaded: LoadedSpec
    items: dict[str, list[Item]]
    cases: list[Case]

    @property
    def case_ids(self) -> list[str]:
        return [c.case_id for c in self.cases]


def case_id_for(item: Item, variant: Variant, seed: int, sample: int, input_sha256: str) -> str:
    payload = {
        "dataset": item.dataset,
        "item": item.item,
        "input": input_sha256,
        "reference": file_digest(item.reference_path),
        "training": file_digest(item.training_path) if item.training_path != item.reference_path else None,
        "psf": file_digest(item.psf_path),
        "scale": item.scale,
        "size": item.size,
        "method": variant.name,
        "label": variant.label,
        "code_version": variant.code_version,
        "weights": dict(variant.weights),
        "seed": seed,
        "sample": sample,
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:24]


def _applies(variant: Variant, item: Item) -> bool:
    if item.task not in variant.tasks:
        return False
    if variant.datasets and item.dataset not in variant.datasets:
        return False
    if variant.inputs and item.blur is not None and item.blur not in variant.inputs:
        return False
    if item.task == "sr" and variant.sr_scales is not None and item.scale not in variant.sr_scales:
        return False
    return True


def make_plan(loaded: LoadedSpec, *, limit: int | None = None) -> Plan:
    """Expand a spec into cases. ``limit`` caps the items per dataset (a quick look at a big spec)."""
    spec = loaded.spec
    items: dict[str, list[Item]] = {}
    cases: list[Case] = []
    for dataset in spec.datasets:
        dataset_items = load_items(dataset, seed=spec.seed)
        if limit is not None:
            dataset_items = dataset_items[:limit]
        items[dataset.name] = dataset_items
        assert all(i.task == dataset_task(dataset.kind) for i in dataset_items)
        for item in dataset_items:
            input_sha = file_digest(item.input_path)
            assert input_sha is not None
            for variant in loaded.variants:
                if not _applies(variant, item):
                    continue
                for seed in spec.all_seeds:
                    for sample in range(variant.samples):
                        cid = case_id_for(item, variant, seed, sample, input_sha)
                        cases.append(Case(cid, item, variant, seed, sample, input_sha))
    return Plan(loaded=loaded, items=items, cases=cases)
