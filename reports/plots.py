"""Matplotlib figures as deterministic SVG text (the curves of a parameter sweep; the other
charts of the site are drawn directly, :mod:`restorebench.reports.site.charts`).

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


def _short(text: str, limit: int = 32) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
