"""Matplotlib figures as deterministic SVG text.

The same data always give byte-identical SVG: a fixed ``svg.hashsalt`` (element ids), no date in
the metadata, text drawn as paths (no font files or web fonts needed to view them, and no
embedded text that a browser could interpret), and math text off so a ``$`` in a method name is
just a character. Figures are built with :class:`matplotlib.figure.Figure`, never pyplot, so no
global state or GUI backend is involved.
"""
from __future__ import annotations

import io
import math
from typing import Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

SVG_RC = {
    "svg.hashsalt": "restorebench",
    "svg.fonttype": "path",
    "text.parse_math": False,
    "font.size": 9,
    "axes.prop_cycle": matplotlib.cycler(color=[
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f",
    ]),
}


def figure_to_svg(fig: Figure) -> str:
    """SVG text of ``fig`` without a date or a generator version that would change the bytes."""
    buffer = io.StringIO()
    with matplotlib.rc_context(SVG_RC):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    return buffer.getvalue()


def _new_figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(SVG_RC):
        return Figure(figsize=(width, height))


def start_scale_svg(
    curves: Mapping[str, Sequence[tuple[float, float, float, float]]],
    *,
    metric: str,
    x_label: str = "generation start scale",
) -> str:
    """Metric versus start scale, one line per curve name, with 95 % CI error bars.

    ``curves`` maps a legend label to points ``(scale, mean, ci_low, ci_high)``; NaN CI bounds
    draw no bar. Curves are shifted sideways by a few hundredths of a scale so that their error
    bars do not hide each other.
    """
    with matplotlib.rc_context(SVG_RC):
        fig = _new_figure(6.0, 3.6)
        ax = fig.add_subplot()
        for index, (label, points) in enumerate(curves.items()):
            dodge = (index - (len(curves) - 1) / 2) * 0.06
            xs = np.array([p[0] for p in points], dtype=float) + dodge
            ys = np.array([p[1] for p in points], dtype=float)
            low = np.array([p[2] for p in points], dtype=float)
            high = np.array([p[3] for p in points], dtype=float)
            yerr = np.vstack([np.where(np.isnan(low), 0, ys - low), np.where(np.isnan(high), 0, high - ys)])
            ax.errorbar(xs, ys, yerr=np.clip(yerr, 0, None), marker="o", capsize=3, label=label)
        ax.set_xlabel(x_label)
        ax.set_ylabel(f"{metric} (mean ± 95 % CI)")
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if curves:
            ax.legend(fontsize=8)
        return figure_to_svg(fig)


def heatmap_svg(matrix: np.ndarray, *, labels: Sequence[str], title: str) -> str:
    """A symmetric correlation matrix (−1…1) as a heatmap with the values written in."""
    n = len(labels)
    size = max(3.0, 0.55 * n + 1.5)
    with matplotlib.rc_context(SVG_RC):
        fig = _new_figure(size + 0.8, size)
        ax = fig.add_subplot()
        image = ax.imshow(np.ma.masked_invalid(matrix), vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_xticks(range(n), labels=[_short(s) for s in labels], rotation=45, ha="right")
        ax.set_yticks(range(n), labels=[_short(s) for s in labels])
        for i in range(n):
            for j in range(n):
                value = matrix[i, j]
                if not math.isnan(value):
                    ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if abs(value) > 0.6 else "black")
        ax.set_title(title)
        fig.colorbar(image, ax=ax, shrink=0.8)
        return figure_to_svg(fig)


def paired_bars_svg(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    y_label: str,
    title: str,
) -> str:
    """Grouped bars: one group per category, one bar per series (NaN draws nothing)."""
    n_series = max(1, len(series))
    width = 0.8 / n_series
    x = np.arange(len(categories))
    with matplotlib.rc_context(SVG_RC):
        fig = _new_figure(max(5.0, 0.45 * len(categories) * n_series + 1.5), 3.4)
        ax = fig.add_subplot()
        for i, (name, values) in enumerate(series.items()):
            ax.bar(x + (i - (n_series - 1) / 2) * width, np.asarray(values, dtype=float), width, label=_short(name))
        ax.set_xticks(x, labels=[_short(c) for c in categories], rotation=45, ha="right")
        ax.set_ylabel(y_label)
        ax.set_title(title)
        ax.grid(True, axis="y", alpha=0.3)
        if series:
            ax.legend(fontsize=8)
        return figure_to_svg(fig)


def _short(text: str, limit: int = 32) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
