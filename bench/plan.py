"""Planning: a validated spec → the list of cases to run, each with a content-hashed id.

``case = (dataset item, method variant, seed, sample)``. The id hashes the item's image files
(bytes, not names), the variant's name, label and code version (its source and parameters), the
seed and the sample index — so a changed image or a changed method never reuses a stale result,
and re-running an unchanged spec finds every finished case again.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from restorebench.bench.datasets import Item, load_items
from restorebench.bench.spec import LoadedSpec, Variant, canonical_json, dataset_task
from restorebench.metrics.errors import RestoreBenchError
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
    input_sha256: str | None


@dataclass
class Plan:
    loaded: LoadedSpec
    items: dict[str, list[Item]]
    cases: list[Case]

    @property
    def case_ids(self) -> list[str]:
        return [c.case_id for c in self.cases]


def case_id_for(item: Item, variant: Variant, seed: int, sample: int, input_sha256: str | None,
                files: dict[str, str | None] | None = None) -> str:
    """The content-hashed id of a case. ``files``: digests of the item's other files (computed
    once per item by :func:`item_files`); ``input_sha256`` None for an item that cannot be read."""
    files = item_files(item) if files is None else files
    payload = {
        "dataset": item.dataset,
        "item": item.item,
        "input": input_sha256,
        **files,
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


def set_items(items: list[Item]) -> list[Item]:
    """One item per LR set (domain, set) of ``items``: what set-level methods train on and sample
    from. Its images are the set's readable ones; a set with none is planned with a problem."""
    groups: dict[tuple, list[Item]] = {}
    for item in items:
        if item.task == "sr":
            groups.setdefault((item.dataset, item.domain, item.group), []).append(item)
    out = []
    for (dataset, domain, group), members in groups.items():
        usable = tuple(m.input_path for m in members if m.problem is None)
        out.append(Item(
            dataset=dataset, task="sr", item=f"{domain}/{group}", input_path=members[0].input_path,
            domain=domain, group=group, scale=members[0].scale, align="none", set_paths=usable or (members[0].input_path,),
            problem=None if usable else f"set {domain}/{group} has no readable image to train on",
        ))
    return out


def set_digest(paths: tuple[Path, ...]) -> str:
    """The identity of a set: the sha256 of its files' names and sha256s, in order."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path.name}\0{file_digest(path)}\n".encode())
    return digest.hexdigest()


def item_files(item: Item) -> dict[str, str | None]:
    """Digests of the reference, training and kernel files of an item (raises OSError)."""
    return {
        "reference": file_digest(item.reference_path),
        "training": file_digest(item.training_path) if item.training_path != item.reference_path else None,
        "psf": file_digest(item.psf_path),
    }


def _applies(variant: Variant, item: Item) -> bool:
    if item.task not in variant.tasks or variant.set_level != bool(item.set_paths):
        return False
    if variant.datasets and item.dataset not in variant.datasets:
        return False
    if variant.inputs and item.blur is not None and item.blur not in variant.inputs:
        return False
    if item.task == "sr" and variant.sr_scales is not None and item.scale not in variant.sr_scales:
        return False
    return True


class PlanError(RestoreBenchError):
    pass


#: More cases than this need ``--max-cases``: a typo in a grid must not plan for hours.
DEFAULT_MAX_CASES = 100_000


def make_plan(loaded: LoadedSpec, *, limit: int | None = None, max_cases: int = DEFAULT_MAX_CASES) -> Plan:
    """Expand a spec into cases. ``limit`` caps the items per dataset (a quick look at a big spec).

    An item whose files cannot be read is planned with its ``problem`` set (the runner records it
    as ``invalid_input``), never aborting the plan; a dataset folder that cannot be listed at all
    raises :class:`~restorebench.bench.datasets.DatasetError`."""
    spec = loaded.spec
    items: dict[str, list[Item]] = {}
    cases: list[Case] = []
    for dataset in spec.datasets:
        dataset_items = load_items(dataset, seed=spec.seed)
        if limit is not None:
            dataset_items = dataset_items[:limit]
        items[dataset.name] = dataset_items
        assert all(i.task == dataset_task(dataset.kind) for i in dataset_items)
        if any(v.set_level for v in loaded.variants):
            dataset_items = dataset_items + set_items(dataset_items)
        for item in dataset_items:
            input_sha, files = None, {"reference": None, "training": None, "psf": None}
            if item.problem is None:
                try:
                    input_sha = set_digest(item.set_paths) if item.set_paths else file_digest(item.input_path)
                    files = item_files(item)
                except OSError as exc:
                    item = dataclasses.replace(item, problem=f"{exc.filename or item.input_path}: cannot read file ({exc.strerror or exc})")
            for variant in loaded.variants:
                if not _applies(variant, item):
                    continue
                for seed in spec.all_seeds:
                    for sample in range(variant.samples):
                        cid = case_id_for(item, variant, seed, sample, input_sha, files)
                        cases.append(Case(cid, item, variant, seed, sample, input_sha))
                        if len(cases) > max_cases:
                            raise PlanError(
                                f"spec {loaded.path} plans more than {max_cases:,} cases (datasets × method variants × "
                                f"seeds × samples); check its grids, or allow more with --max-cases N"
                            )
    if not cases:
        raise PlanError(f"spec {loaded.path} plans no case: {_why_empty(loaded, items)}")
    return Plan(loaded=loaded, items=items, cases=cases)


def _why_empty(loaded: LoadedSpec, items: dict[str, list[Item]]) -> str:
    reasons = []
    for variant in loaded.variants:
        fitting = [name for name, its in items.items() if any(_applies(variant, i) for i in its)]
        if not fitting:
            reasons.append(f"method '{variant.label}' applies to no item (tasks {'/'.join(sorted(variant.tasks))}"
                           + (f", datasets {list(variant.datasets)}" if variant.datasets else "")
                           + (f", SR factors {sorted(variant.sr_scales)}" if variant.sr_scales is not None else "") + ")")
    return "; ".join(reasons) or "the datasets hold no items"
