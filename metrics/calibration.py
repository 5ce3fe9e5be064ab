"""Score calibration pairs and compare with the values of the metric authors' own code.

A calibration folder holds ``ref/X.bmp`` and ``dist/X.bmp`` pairs and, usually, ``official.csv``
(one row per metric, one column per distorted image, the header ``metric,X,Y,…``). Full-reference
metrics compare ``dist/X`` with ``ref/X``; no-reference metrics score ``dist/X``. Only metrics
that are both registered here and listed in the CSV are scored.

    >>> rows = calibrate("../shared/calibration")
    >>> print(format_table(rows))
"""
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from restorebench.metrics.base import REGISTRY
from restorebench.metrics.errors import WeightsUnavailableError
from restorebench.metrics.imageio import IMAGE_SUFFIXES, load_image


CALIBRATION_ENV = "RESTOREBENCH_CALIBRATION_DIR"
# A source checkout's parent folder holds the shared data beside it: <parent>/shared/calibration.
CHECKOUT = Path(__file__).resolve().parents[1]


def find_calibration_folder(checkout: Path = CHECKOUT) -> Path | None:
    """Where the calibration pairs are: ``$RESTOREBENCH_CALIBRATION_DIR`` when set (as given,
    even if missing, so that a wrong setting is reported rather than ignored), else
    ``../shared/calibration`` beside the source checkout when that folder exists, else None."""
    configured = os.environ.get(CALIBRATION_ENV)
    if configured:
        return Path(configured).expanduser()
    beside = checkout.parent / "shared" / "calibration"
    return beside if beside.is_dir() else None


@dataclass(frozen=True)
class Tolerance:
    """How far ``ours`` may be from ``official``: ``|Δ| ≤ absolute`` or ``|Δ|/|official| ≤ relative``."""

    absolute: float | None = None
    relative: float | None = None

    def accepts(self, ours: float, official: float) -> bool:
        if math.isinf(ours) or math.isinf(official):
            return ours == official
        delta = abs(ours - official)
        if self.absolute is not None and delta <= self.absolute:
            return True
        if self.relative is not None and official != 0 and delta / abs(official) <= self.relative:
            return True
        return False

    def __str__(self) -> str:
        parts = []
        if self.absolute is not None:
            parts.append(f"|Δ| ≤ {self.absolute:g}")
        if self.relative is not None:
            parts.append(f"|Δ|/official ≤ {self.relative:.2%}")
        return " or ".join(parts)


# Acceptance of issue 3. psnr's official values have 2 decimals, ssim/ms_ssim 4, so the
# tolerances are at least half a unit of the last printed digit.
TOLERANCES: dict[str, Tolerance] = {
    "psnr": Tolerance(absolute=0.01),
    "psnr_y": Tolerance(absolute=0.01),
    "ssim": Tolerance(absolute=0.0005),
    "ms_ssim": Tolerance(absolute=0.002),
    "niqe": Tolerance(relative=0.005),
    "brisque": Tolerance(absolute=0.05),
    "piqe": Tolerance(absolute=0.05),
}


def read_official(path: str | Path) -> dict[str, dict[str, float]]:
    """``{metric: {image stem: value}}`` from an official-values CSV (header ``metric,X,Y,…``)."""
    path = Path(path)
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header or header[0].strip().lower() != "metric":
            raise ValueError(f"{path}: first column must be 'metric', got header {header}")
        images = [Path(name.strip()).stem for name in header[1:]]  # 'I03' or 'I03.bmp'
        table: dict[str, dict[str, float]] = {}
        for line, row in enumerate(reader, start=2):
            if not row or not row[0].strip():
                continue
            if len(row) != len(header):
                raise ValueError(f"{path}:{line}: expected {len(header)} fields, got {len(row)}")
            table[row[0].strip()] = {image: float(value) for image, value in zip(images, row[1:])}
    return table


def _find_image(folder: Path, stem: str) -> Path:
    for suffix in IMAGE_SUFFIXES:
        for candidate in (folder / f"{stem}{suffix}", folder / f"{stem}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(f"{folder}: no image named {stem} (looked for {', '.join(IMAGE_SUFFIXES)})")


def calibrate(directory: str | Path, official_csv: str | Path | None = None) -> list[dict[str, Any]]:
    """Score every pair in ``directory`` with every registered metric that has an official row.

    Args:
        directory: folder with ``ref/`` and ``dist/`` (same file stems).
        official_csv: the official values; defaults to ``directory/official.csv``.

    Returns:
        One dict per (metric, image), ordered by metric then image: ``metric``, ``image``,
        ``ours``, ``official``, ``delta`` (ours − official), ``relative_delta`` (delta/|official|,
        NaN when official is 0), ``tolerance`` (text) and ``within_tolerance`` (bool, ``None``
        for a metric without a tolerance in :data:`TOLERANCES`). A learned metric whose weights
        file is missing gets NaN values, ``None`` and the reason in ``tolerance``.
    """
    directory = Path(directory)
    official = read_official(official_csv if official_csv is not None else directory / "official.csv")
    registered = set(REGISTRY.names())
    rows: list[dict[str, Any]] = []
    images: dict[str, tuple[Any, Any]] = {}
    for name in sorted(set(official) & registered):
        metric = REGISTRY.get(name)()
        for stem, official_value in official[name].items():
            if stem not in images:
                images[stem] = (
                    load_image(_find_image(directory / "dist", stem)),
                    load_image(_find_image(directory / "ref", stem)),
                )
            dist, ref = images[stem]
            tolerance = TOLERANCES.get(name)
            try:
                ours = metric(dist, ref) if metric.kind == "FR" else metric(dist)
            except WeightsUnavailableError as exc:  # a learned metric without its weights file
                rows.append(_unavailable_row(name, stem, official_value, exc))
                continue
            delta = ours - official_value
            rows.append(
                {
                    "metric": name,
                    "image": stem,
                    "ours": ours,
                    "official": official_value,
                    "delta": delta,
                    "relative_delta": delta / abs(official_value) if official_value != 0 else math.nan,
                    "tolerance": str(tolerance) if tolerance else "",
                    "within_tolerance": tolerance.accepts(ours, official_value) if tolerance else None,
                }
            )
    return rows


def _unavailable_row(name: str, stem: str, official_value: float, error: Exception) -> dict[str, Any]:
    return {
        "metric": name,
        "image": stem,
        "ours": math.nan,
        "official": official_value,
        "delta": math.nan,
        "relative_delta": math.nan,
        "tolerance": f"unavailable: {error}",
        "within_tolerance": None,
    }


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of :func:`calibrate` rows, with one verdict line at the end."""
    header = ("metric", "image", "ours", "official", "Δ", "Δ rel.", "tolerance", "ok")
    lines = [
        (
            row["metric"],
            row["image"],
            f"{row['ours']:.6g}",
            f"{row['official']:.6g}",
            f"{row['delta']:+.4g}",
            "" if math.isnan(row["relative_delta"]) else f"{row['relative_delta']:+.3%}",
            row["tolerance"],
            {True: "yes", False: "NO", None: "-"}[row["within_tolerance"]],
        )
        for row in rows
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines)]
    rule = "  ".join("-" * width for width in widths)

    def render(cells: tuple[str, ...]) -> str:
        return "  ".join(
            str(cell).ljust(width) if index in (0, 1, 6) else str(cell).rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths))
        ).rstrip()

    failed = [f"{row['metric']}/{row['image']}" for row in rows if row["within_tolerance"] is False]
    unchecked = [f"{row['metric']}/{row['image']}" for row in rows if row["within_tolerance"] is None]
    if failed:
        verdict = f"{len(failed)} of {len(rows)} outside tolerance: {', '.join(failed)}"
    elif unchecked:
        verdict = (
            f"{len(rows) - len(unchecked)} values within tolerance; "
            f"{len(unchecked)} not checked: {', '.join(unchecked)}"
        )
    else:
        verdict = f"{len(rows)} values, all within tolerance"
    return "\n".join([render(header), rule, *map(render, lines), rule, verdict])
