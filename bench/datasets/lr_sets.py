"""The blind-SR layout: ``<root>/<domain>/<set>/`` holding the low-resolution images.

Ground truth, when there is any, is a folder ``HR/`` inside the set with the same file names (the
LR images may then also sit in a sibling ``LR/`` folder). The SR factor comes from the spec's
``scale``, else from ``degradation.json`` in the set folder (the builtin data writes one), else
from the HR/LR size ratio of the first pair.
"""
from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from restorebench.bench.datasets import DatasetError, Item
from restorebench.metrics.imageio import IMAGE_SUFFIXES


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _scale(set_dir: Path, lr: Path, hr: Path | None, spec) -> int:
    if spec.scale:
        return spec.scale
    meta = set_dir / "degradation.json"
    if meta.is_file():
        return int(json.loads(meta.read_text())["scale"])
    if hr is not None:
        with Image.open(lr) as small, Image.open(hr) as big:
            ratio = big.size[0] / small.size[0]
        if abs(ratio - round(ratio)) < 1e-6 and round(ratio) >= 1:
            return int(round(ratio))
    raise DatasetError(
        f"dataset '{spec.name}': cannot tell the SR factor of set {set_dir} — add `scale: N` to the dataset in the spec"
    )


def load(root: Path, spec) -> list[Item]:
    items: list[Item] = []
    domains = sorted(p for p in root.iterdir() if p.is_dir())
    wanted = set(spec.sets or [])
    for domain_dir in domains:
        for set_dir in sorted(p for p in domain_dir.iterdir() if p.is_dir()):
            if wanted and not ({set_dir.name, f"{domain_dir.name}/{set_dir.name}"} & wanted):
                continue
            lr_dir = set_dir / "LR" if (set_dir / "LR").is_dir() else set_dir
            hr_dir = set_dir / "HR" if (set_dir / "HR").is_dir() else None
            lrs = _images(lr_dir)
            if spec.limit:
                lrs = lrs[: spec.limit]
            if not lrs:
                continue
            first_hr = hr_dir / lrs[0].name if hr_dir and (hr_dir / lrs[0].name).is_file() else None
            scale = _scale(set_dir, lrs[0], first_hr, spec)
            psf = set_dir / "kernel.psf.npy"
            for lr in lrs:
                hr = hr_dir / lr.name if hr_dir is not None and (hr_dir / lr.name).is_file() else None
                items.append(
                    Item(
                        dataset=spec.name,
                        task="sr",
                        item=f"{domain_dir.name}/{set_dir.name}/{lr.stem}",
                        input_path=lr,
                        reference_path=hr,
                        psf_path=psf if psf.is_file() else None,
                        domain=domain_dir.name,
                        group=set_dir.name,
                        scale=scale,
                        align=spec.align,
                    )
                )
    if wanted:
        found = {i.group for i in items} | {f"{i.domain}/{i.group}" for i in items}
        missing = sorted(wanted - found)
        if missing:
            raise DatasetError(f"dataset '{spec.name}': no set {', '.join(missing)} under {root}")
    if not items:
        raise DatasetError(f"dataset '{spec.name}': no images found under {root}/<domain>/<set>/")
    return items
