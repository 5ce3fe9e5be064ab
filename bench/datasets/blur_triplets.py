"""The public blur dataset layout: ``sharp/``, ``motion_blurred/``, ``defocused_blurred/`` with
files ``{id}_{DEVICE}_{S|M|F}.{jpg|JPG|png}`` (S sharp, M motion, F defocus).

Each complete triplet gives two items, the motion-blurred and the defocus-blurred image, both with
the sharp image as reference and training image. A kernel stored beside a blurred image as
``<stem>.psf.npy`` (the builtin data does this) is passed to non-blind methods. Incomplete
triplets are reported by name and skipped.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from restorebench.bench.datasets import DatasetError, Item

FOLDERS = {"S": "sharp", "M": "motion_blurred", "F": "defocused_blurred"}
BLUR_OF = {"M": "motion", "F": "defocus"}
_NAME = re.compile(r"^(?P<id>.+)_(?P<kind>[SMF])\.(jpg|JPG|jpeg|JPEG|png|PNG)$")


def _index(folder: Path, kind: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.iterdir()):
        match = _NAME.match(path.name)
        if match and match["kind"] == kind:
            found[match["id"]] = path
    return found


def _sort_key(triplet_id: str) -> tuple:
    # natural order: "2_IPHONE" before "10_IPHONE"
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", triplet_id))


def load(root: Path, spec) -> list[Item]:
    missing_folders = [name for name in FOLDERS.values() if not (root / name).is_dir()]
    if missing_folders:
        raise DatasetError(
            f"dataset '{spec.name}': {root} is not a blur-triplet folder (missing {', '.join(f'{n}/' for n in missing_folders)})"
        )
    index = {kind: _index(root / folder, kind) for kind, folder in FOLDERS.items()}
    ids = sorted(set().union(*index.values()), key=_sort_key)
    if spec.ids:
        unknown = sorted(set(spec.ids) - set(ids))
        if unknown:
            known = ", ".join(ids[:12]) + (", …" if len(ids) > 12 else "")
            raise DatasetError(f"dataset '{spec.name}': no triplet with id {', '.join(unknown)} in {root} (ids there: {known or 'none'})")
        ids = [i for i in ids if i in set(spec.ids)]
    complete = [i for i in ids if all(i in index[k] for k in FOLDERS)]
    incomplete = [i for i in ids if i not in complete]
    if incomplete:
        print(
            f"restorebench: dataset '{spec.name}': skipping {len(incomplete)} incomplete triplet(s): "
            + ", ".join(f"{i} (missing {'/'.join(FOLDERS[k] for k in FOLDERS if i not in index[k])})" for i in incomplete[:10])
            + (" …" if len(incomplete) > 10 else ""),
            file=sys.stderr,
        )
    if spec.limit:
        complete = complete[: spec.limit]
    items = []
    for triplet_id in complete:
        sharp = index["S"][triplet_id]
        for kind in ("M", "F"):
            blurred = index[kind][triplet_id]
            psf = blurred.with_name(blurred.stem + ".psf.npy")
            items.append(
                Item(
                    dataset=spec.name,
                    task="deblur",
                    item=f"{triplet_id}/{BLUR_OF[kind]}",
                    input_path=blurred,
                    reference_path=sharp,
                    training_path=sharp,
                    psf_path=psf if psf.is_file() and spec.size is None else None,
                    group=BLUR_OF[kind],
                    blur=BLUR_OF[kind],
                    size=spec.size,
                    align=spec.align,
                )
            )
    return items
