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

from restorebench.bench.datasets import DatasetError, Item, image_files


class ScaleUnknown(DatasetError):
    pass


def _declared_scale(meta: Path) -> int:
    try:
        value = json.loads(meta.read_text(encoding="utf-8"))["scale"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScaleUnknown(f"{meta}: not a readable JSON file ({exc})") from None
    except (KeyError, TypeError):
        raise ScaleUnknown(f"{meta}: has no \"scale\" entry") from None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 16:
        raise ScaleUnknown(f"{meta}: \"scale\" must be an integer 1…16, got {value!r}")
    return value


def _ratio(lr: Path, hr: Path) -> int | None:
    """The HR/LR width ratio of a pair when it is a whole number (headers only: a decompression
    bomb or a truncated file is not decoded here)."""
    try:
        with Image.open(lr) as small, Image.open(hr) as big:
            ratio = big.size[0] / small.size[0]
            exact = big.size[1] == round(ratio) * small.size[1]
    except (OSError, ValueError, Image.DecompressionBombError, ZeroDivisionError):
        return None
    return int(round(ratio)) if exact and abs(ratio - round(ratio)) < 1e-6 and round(ratio) >= 1 else None


def _scale(set_dir: Path, pairs: list[tuple[Path, Path]], spec) -> int:
    if spec.scale:
        return spec.scale
    meta = set_dir / "degradation.json"
    if meta.is_file():
        return _declared_scale(meta)
    for lr, hr in pairs:  # the first pair whose headers can be read
        ratio = _ratio(lr, hr)
        if ratio is not None:
            return ratio
    raise ScaleUnknown(
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
            lrs, broken = image_files(lr_dir)
            entries = [(p, None) for p in lrs] + broken
            entries.sort(key=lambda e: e[0].name)
            if spec.limit:
                entries = entries[: spec.limit]
            if not entries:
                continue
            hrs = {lr: hr_dir / lr.name for lr, _ in entries if hr_dir is not None and (hr_dir / lr.name).is_file()}
            try:
                scale, set_problem = _scale(set_dir, [(lr, hrs[lr]) for lr, bad in entries if bad is None and lr in hrs], spec), None
            except ScaleUnknown as exc:
                scale, set_problem = 1, str(exc)
            psf = set_dir / "kernel.psf.npy"
            for lr, problem in entries:
                items.append(
                    Item(
                        dataset=spec.name,
                        task="sr",
                        item=f"{domain_dir.name}/{set_dir.name}/{lr.stem}",
                        input_path=lr,
                        reference_path=hrs.get(lr),
                        psf_path=psf if psf.is_file() else None,
                        domain=domain_dir.name,
                        group=set_dir.name,
                        scale=scale,
                        align=spec.align,
                        problem=problem or set_problem,
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
