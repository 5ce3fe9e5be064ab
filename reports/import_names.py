"""Image names of imported scores: pairing them, and checking that they pair.

Published per-image scores name their images as the tool that scored them did: one metric's
file says ``0001_res.png``, another's ``0001.png``; a generative technique names its outputs
``seed1092_res.png``. A case is one output image, so names must be brought to one *item* name
before cases are made:

- ``--match-stem REGEX``: the item is the regular expression's first group (or its whole match)
  in the image name, e.g. ``(\\d+)`` makes ``0001_res.png`` and ``0001.png`` both ``0001``;
- ``--map FILE.csv``: a CSV with header ``image,item`` naming the item of each listed image
  (unlisted names stay as they are).

Then :func:`check_pairing` refuses metrics of one method and dataset that share no item — each
output would become two cases and a dataset of 400 outputs would say 800 images — and returns
warnings for methods of one dataset that share no item (their comparisons on the site are
unpaired).
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from restorebench.metrics.errors import RestoreBenchError


class ImportPairingError(RestoreBenchError):
    """Image names that cannot be paired, or a name mapping that cannot be used."""


@dataclass(frozen=True)
class NameMatcher:
    """How image names become item names (see the module docstring)."""

    pattern: re.Pattern[str] | None = None
    mapping: dict[str, str] | None = None
    described: str = ""

    @classmethod
    def from_options(cls, *, match_stem: str | None = None, map_file: str | Path | None = None) -> "NameMatcher":
        if match_stem and map_file:
            raise ImportPairingError("give either --match-stem or --map, not both")
        if match_stem:
            try:
                pattern = re.compile(match_stem)
            except re.error as exc:
                raise ImportPairingError(f"--match-stem {match_stem!r} is not a regular expression: {exc}") from None
            return cls(pattern=pattern, described=f"--match-stem {match_stem}")
        if map_file:
            return cls(mapping=read_mapping(Path(map_file)), described=f"--map {Path(map_file).name}")
        return cls()

    def item(self, image: str, *, where: str) -> str:
        if self.pattern is not None:
            found = self.pattern.search(image)
            if not found or not (found.group(1) if self.pattern.groups else found.group(0)):
                raise ImportPairingError(f"{where}: image name {image!r} does not match --match-stem {self.pattern.pattern!r}")
            return found.group(1) if self.pattern.groups else found.group(0)
        if self.mapping is not None:
            return self.mapping.get(image, image)
        return image


def read_mapping(path: Path) -> dict[str, str]:
    """``{image: item}`` from a CSV with header ``image,item``."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ImportPairingError(f"{path}: cannot read the name mapping ({exc.strerror})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [c.strip().lower() for c in next(reader, [])]
    if header != ["image", "item"]:
        raise ImportPairingError(f"{path}:1: a name mapping needs the header image,item (got {','.join(header) or 'nothing'})")
    mapping: dict[str, str] = {}
    for row in reader:
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise ImportPairingError(f"{path}:{reader.line_num}: expected 'image,item'")
        image, item = row[0].strip(), row[1].strip()
        if mapping.get(image, item) != item:
            raise ImportPairingError(f"{path}:{reader.line_num}: image {image!r} is mapped twice ({mapping[image]!r}, {item!r})")
        mapping[image] = item
    return mapping


def apply_matcher(records: Sequence[Any], matcher: NameMatcher, *, source: Path) -> list[Any]:
    """``records`` with their image names replaced by item names; two scores of one metric that
    now name the same item are an error (the mapping merged two outputs)."""
    if matcher.pattern is None and matcher.mapping is None:
        return list(records)
    out, seen = [], {}
    for r in records:
        item = matcher.item(r.image, where=f"{source}:{r.line}")
        key = (r.dataset, r.method, item, r.metric)
        if key in seen:
            raise ImportPairingError(f"{source}:{r.line}: {matcher.described} makes image {r.image!r} the same item "
                                     f"{item!r} as {seen[key][1]!r} (line {seen[key][0]}) for metric {r.metric!r}")
        seen[key] = (r.line, r.image)
        out.append(replace(r, image=item))
    return out


def check_pairing(records: Iterable[Any], existing: Iterable[dict[str, Any]] = (), *, source: Path) -> list[str]:
    """Refuse metrics of one (dataset, method) that share no item; return warnings for methods of
    one (dataset, metric) that share none. ``existing``: rows ``dataset, method, metric, item``
    already imported into the database (they take part in both checks)."""
    names: dict[tuple[str, str, str], set[str]] = {}
    for r in records:
        names.setdefault((r.dataset, r.method, r.metric), set()).add(r.image)
    new_keys = set(names)
    for row in existing:
        names.setdefault((row["dataset"], row["method"], row["metric"]), set()).add(row["item"])
    by_method: dict[tuple[str, str], dict[str, set[str]]] = {}
    by_metric: dict[tuple[str, str], dict[str, set[str]]] = {}
    for (dataset, method, metric), items in names.items():
        by_method.setdefault((dataset, method), {})[metric] = items
        by_metric.setdefault((dataset, metric), {})[method] = items
    for (dataset, method), metrics in sorted(by_method.items()):
        for a, b in _disjoint_pairs(metrics):
            if (dataset, method, a) in new_keys or (dataset, method, b) in new_keys:
                raise ImportPairingError(
                    f"{source}: metrics {a!r} and {b!r} of method {method!r} on dataset {dataset!r} share no image name "
                    f"(e.g. {_example(metrics[a])!r} and {_example(metrics[b])!r}): each output would be counted twice. "
                    f"Pair the names with --match-stem REGEX (e.g. '(\\d+)') or --map FILE.csv (header image,item)")
    warnings = []
    for (dataset, metric), methods in sorted(by_metric.items()):
        for a, b in _disjoint_pairs(methods):
            if (dataset, a, metric) in new_keys or (dataset, b, metric) in new_keys:
                warnings.append(f"methods {a!r} and {b!r} on dataset {dataset!r} ({metric}) share no image name "
                                f"(e.g. {_example(methods[a])!r} and {_example(methods[b])!r}): they will be compared with "
                                f"an unpaired test; if the images are the same, pair their names with --match-stem or --map")
    return warnings


def _disjoint_pairs(sets: dict[str, set[str]]) -> list[tuple[str, str]]:
    keys = sorted(sets)
    return [(a, b) for i, a in enumerate(keys) for b in keys[i + 1:] if sets[a] and sets[b] and not (sets[a] & sets[b])]


def _example(items: set[str]) -> str:
    return min(items)
