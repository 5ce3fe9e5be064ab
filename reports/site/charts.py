"""Small SVG charts written directly (no plotting library): fast enough for hundreds per build,
byte-identical for the same data, legible at phone width (one row per method, its name on its
own line above the bar, so the figure can be narrow), and safe: every text is XML-escaped and an
SVG shown with ``<img>`` runs no script.

- :func:`intervals_svg`: mean ± confidence interval per method (a forest plot).
- :func:`heatmap_svg`: a correlation matrix; cells without data are hatched, never coloured.
- :func:`history_svg`: a method's score over code versions, with intervals; flagged points red.
- :func:`extremes_svg`: per set, a measure (sharpness) of each method's best and worst image.
- :func:`curves_svg`: a metric against a swept parameter, one line per set, with intervals.
"""
from __future__ import annotations

import math
from typing import Sequence
from xml.sax.saxutils import escape

WIDTH = 360  # viewBox units; the page scales the figure to its column (max 640 px)
FONT = 'font-family="system-ui, sans-serif"'
BEST, OTHER, SIGNIFICANT, FLAG = "#1f5fbf", "#555", "#999", "#c62828"
HATCH = ('<defs><pattern id="rb-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
         '<rect width="6" height="6" fill="#fff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#999" stroke-width="2"/></pattern></defs>')


def _svg(width: float, height: float, body: list[str], *, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
            f'height="{height:.0f}" role="img" {FONT}><title>{escape(title)}</title>'
            f'<rect width="100%" height="100%" fill="#fff"/>' + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, *, size: int = 12, anchor: str = "start", color: str = "#222", bold: bool = False) -> str:
    weight = ' font-weight="bold"' if bold else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{color}"{weight}>{escape(str(text))}</text>'


def _fmt(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "∞" if value == math.inf else "−∞" if value == -math.inf else "—"
    magnitude = abs(value)
    return f"{value:.3g}" if magnitude >= 1000 or (magnitude < 0.01 and value != 0) else f"{value:.3f}".rstrip("0").rstrip(".")


def _scale(values: Sequence[float], left: float, right: float):
    finite = [v for v in values if v is not None and math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if high == low:
        low, high = low - 0.5, high + 0.5
    pad = (high - low) * 0.05
    low, high = low - pad, high + pad
    return (lambda v: left + (v - low) / (high - low) * (right - left)), low, high


def _axis(position, low: float, high: float, y: float, left: float, right: float) -> list[str]:
    out = [f'<line x1="{left}" y1="{y}" x2="{right}" y2="{y}" stroke="#888"/>']
    for i in range(5):
        value = low + (high - low) * i / 4
        x = position(value)
        out.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" stroke="#888"/>')
        out.append(_text(x, y + 16, _fmt(value), size=10, anchor="middle", color="#555"))
    return out


def intervals_svg(rows: Sequence[tuple[str, float, float, float, bool, bool]], *, title: str, x_label: str) -> str:
    """Rows ``(label, mean, low, high, best, significant)`` from top to bottom: a dot at the mean
    and a line over the interval; the best in blue, a method significantly different from the
    best in grey with ``*``. A missing interval draws the dot alone."""
    left, right, row_height = 8.0, WIDTH - 8.0, 34
    position, low, high = _scale([v for r in rows for v in r[1:4]], left + 20, right - 20)
    body = [_text(left, 16, title, size=13, bold=True)]
    y = 30.0
    for label, mean, ci_low, ci_high, best, significant in rows:
        color = BEST if best else SIGNIFICANT if significant else OTHER
        body.append(_text(left, y + 11, f"{label}{' *' if significant else ''}  {_fmt(mean)}", size=12, color=color, bold=best))
        cy = y + 22
        if math.isfinite(ci_low) and math.isfinite(ci_high):
            body.append(f'<line x1="{position(ci_low):.1f}" y1="{cy}" x2="{position(ci_high):.1f}" y2="{cy}" stroke="{color}" stroke-width="2"/>')
        if math.isfinite(mean):
            body.append(f'<circle cx="{position(mean):.1f}" cy="{cy}" r="4" fill="{color}"/>')
        y += row_height
    body += _axis(position, low, high, y + 4, left, right)
    body.append(_text(WIDTH / 2, y + 34, x_label, size=11, anchor="middle", color="#444"))
    return _svg(WIDTH, y + 42, body, title=title)


def _colour(value: float) -> str:
    """Blue (−1) → white (0) → red (+1), as matplotlib's RdBu_r."""
    value = max(-1.0, min(1.0, value))
    t = abs(value)
    target = (178, 24, 43) if value > 0 else (33, 102, 172)
    r, g, b = (round(255 + (c - 255) * t) for c in target)
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap_svg(matrix: Sequence[Sequence[float]], *, labels: Sequence[str], title: str) -> str:
    """A correlation matrix (−1…1) with the values written in; a cell without data (NaN) is
    hatched and says "n/a", so it cannot be read as ρ ≈ 0."""
    n = len(labels)
    cell = max(26.0, min(48.0, (WIDTH - 120) / max(n, 1)))
    label_width = 110.0
    body = [HATCH, _text(8, 16, title, size=13, bold=True)]
    top = 30.0
    for i, label in enumerate(labels):
        y = top + i * cell
        body.append(_text(label_width - 4, y + cell / 2 + 4, _short(label, 16), size=10, anchor="end"))
        for j in range(n):
            x = label_width + j * cell
            value = matrix[i][j]
            if value is None or not math.isfinite(value):
                body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell:.1f}" height="{cell:.1f}" fill="url(#rb-hatch)" stroke="#fff"/>')
                body.append(_text(x + cell / 2, y + cell / 2 + 3, "n/a", size=9, anchor="middle", color="#333"))
            else:
                body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell:.1f}" height="{cell:.1f}" fill="{_colour(value)}" stroke="#fff"/>')
                body.append(_text(x + cell / 2, y + cell / 2 + 3, f"{value:.2f}", size=9, anchor="middle",
                                  color="#fff" if abs(value) > 0.6 else "#111"))
    bottom = top + n * cell
    for j, label in enumerate(labels):
        x = label_width + j * cell + cell / 2
        body.append(f'<text x="{x:.1f}" y="{bottom + 6:.1f}" font-size="10" text-anchor="end" fill="#222" '
                    f'transform="rotate(-50 {x:.1f} {bottom + 6:.1f})">{escape(_short(label, 16))}</text>')
    width = max(WIDTH, label_width + n * cell + 8)
    body.append(_text(8, bottom + 86, "hatched: no data (fewer than 3 pairs, or a constant column)", size=10, color="#555"))
    return _svg(width, bottom + 96, body, title=title)


def history_svg(points: Sequence[tuple[str, float, float, float, bool]], *, title: str, y_label: str) -> str:
    """Points ``(version, mean, low, high, flagged)`` in time order: a line through the means,
    interval bars, flagged points (a change beyond the previous interval) in red."""
    left, right, top, bottom = 44.0, WIDTH - 10.0, 28.0, 150.0
    values = [v for p in points for v in p[1:4] if v is not None and math.isfinite(v)]
    lowest, highest = (min(values), max(values)) if values else (0.0, 1.0)
    if highest == lowest:
        lowest, highest = lowest - 0.5, highest + 0.5
    y_of = lambda v: bottom - (v - lowest) / (highest - lowest) * (bottom - top)  # noqa: E731
    step = (right - left) / max(len(points) - 1, 1)
    x_of = lambda i: left + (i * step if len(points) > 1 else (right - left) / 2)  # noqa: E731
    body = [_text(8, 16, title, size=13, bold=True),
            f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#888"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#888"/>',
            _text(left - 4, top + 4, _fmt(highest), size=10, anchor="end", color="#555"),
            _text(left - 4, bottom, _fmt(lowest), size=10, anchor="end", color="#555")]
    path = [f"{x_of(i):.1f},{y_of(p[1]):.1f}" for i, p in enumerate(points) if math.isfinite(p[1])]
    if len(path) > 1:
        body.append(f'<polyline points="{" ".join(path)}" fill="none" stroke="{OTHER}" stroke-width="1.5"/>')
    for i, (version, mean, low, high, flagged) in enumerate(points):
        colour = FLAG if flagged else BEST
        if math.isfinite(low) and math.isfinite(high):
            body.append(f'<line x1="{x_of(i):.1f}" y1="{y_of(low):.1f}" x2="{x_of(i):.1f}" y2="{y_of(high):.1f}" stroke="{colour}"/>')
        if math.isfinite(mean):
            body.append(f'<circle cx="{x_of(i):.1f}" cy="{y_of(mean):.1f}" r="{5 if flagged else 3.5}" fill="{colour}"/>')
        body.append(_text(x_of(i), bottom + 14, _short(version, 10), size=9, anchor="middle", color="#555"))
    body.append(_text(WIDTH / 2, bottom + 32, y_label, size=11, anchor="middle", color="#444"))
    return _svg(WIDTH, bottom + 40, body, title=title)


def extremes_svg(rows: Sequence[tuple[str, Sequence[tuple[str, float, float]]]], *, title: str, x_label: str) -> str:
    """Per set (``rows``: set name, then ``(method, best image's value, worst image's value)``):
    a filled dot for the best image, a hollow one for the worst, joined by a line."""
    left, right = 8.0, WIDTH - 8.0
    position, low, high = _scale([v for _, methods in rows for _, b, w in methods for v in (b, w)], left + 20, right - 20)
    colours = ["#1f5fbf", "#c62828", "#2e7d32", "#6a1b9a"]
    names = sorted({m for _, methods in rows for m, _, _ in methods})
    body = [_text(left, 16, title, size=13, bold=True)]
    legend = "  ".join(f"{m}" for m in names)
    body.append(_text(left, 32, f"● best  ○ worst image — {legend}", size=10, color="#444"))
    y = 44.0
    for set_label, methods in rows:
        body.append(_text(left, y + 10, _short(set_label, 48), size=11))
        for k, (method, best, worst) in enumerate(methods):
            cy = y + 20 + 10 * k
            colour = colours[names.index(method) % len(colours)]
            if math.isfinite(best) and math.isfinite(worst):
                body.append(f'<line x1="{position(best):.1f}" y1="{cy}" x2="{position(worst):.1f}" y2="{cy}" stroke="{colour}"/>')
            if math.isfinite(best):
                body.append(f'<circle cx="{position(best):.1f}" cy="{cy}" r="4" fill="{colour}"/>')
            if math.isfinite(worst):
                body.append(f'<circle cx="{position(worst):.1f}" cy="{cy}" r="4" fill="#fff" stroke="{colour}" stroke-width="1.5"/>')
        y += 24 + 10 * len(methods)
    body += _axis(position, low, high, y + 4, left, right)
    body.append(_text(WIDTH / 2, y + 34, x_label, size=11, anchor="middle", color="#444"))
    return _svg(WIDTH, y + 42, body, title=title)


COLOURS = ["#1f5fbf", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#5d4037", "#ad1457", "#546e7a"]


def curves_svg(lines: dict[str, Sequence[tuple[float, float, float, float]]], *, title: str, x_label: str, y_label: str) -> str:
    """One line per name through points ``(x, mean, low, high)`` with interval bars; lines are
    shifted sideways by a few hundredths of the x range so their bars do not hide each other."""
    left, right, top, bottom = 44.0, WIDTH - 10.0, 30.0, 190.0
    xs = [p[0] for points in lines.values() for p in points]
    ys = [v for points in lines.values() for p in points for v in p[1:4] if v is not None and math.isfinite(v)]
    x_low, x_high = (min(xs), max(xs)) if xs else (0.0, 1.0)
    y_low, y_high = (min(ys), max(ys)) if ys else (0.0, 1.0)
    x_high, y_high = (x_high if x_high > x_low else x_low + 1), (y_high if y_high > y_low else y_low + 1)
    x_of = lambda x: left + 10 + (x - x_low) / (x_high - x_low) * (right - left - 20)  # noqa: E731
    y_of = lambda y: bottom - (y - y_low) / (y_high - y_low) * (bottom - top)  # noqa: E731
    body = [_text(8, 16, title, size=13, bold=True),
            f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#888"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#888"/>',
            _text(left - 4, top + 4, _fmt(y_high), size=10, anchor="end", color="#555"),
            _text(left - 4, bottom, _fmt(y_low), size=10, anchor="end", color="#555")]
    for x in sorted(set(xs)):
        body.append(_text(x_of(x), bottom + 14, _fmt(x), size=10, anchor="middle", color="#555"))
    legend = []
    for index, (name, points) in enumerate(lines.items()):
        colour = COLOURS[index % len(COLOURS)]
        dodge = (index - (len(lines) - 1) / 2) * 0.02 * (right - left)
        coords = [(x_of(x) + dodge, mean, low, high) for x, mean, low, high in sorted(points)]
        path = [f"{cx:.1f},{y_of(mean):.1f}" for cx, mean, _, _ in coords if math.isfinite(mean)]
        if len(path) > 1:
            body.append(f'<polyline points="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        for cx, mean, low, high in coords:
            if math.isfinite(low) and math.isfinite(high):
                body.append(f'<line x1="{cx:.1f}" y1="{y_of(low):.1f}" x2="{cx:.1f}" y2="{y_of(high):.1f}" stroke="{colour}"/>')
            if math.isfinite(mean):
                body.append(f'<circle cx="{cx:.1f}" cy="{y_of(mean):.1f}" r="3.5" fill="{colour}"/>')
        legend.append((name, colour))
    for i, (name, colour) in enumerate(legend):  # a coloured key per line, below the axis label
        y = bottom + 50 + 14 * i
        body.append(f'<circle cx="12" cy="{y - 4}" r="4" fill="{colour}"/>')
        body.append(_text(22, y, _short(name, 48), size=11))
    body.append(_text(WIDTH / 2, bottom + 30, f"{x_label} → ({y_label})", size=11, anchor="middle", color="#444"))
    return _svg(WIDTH, bottom + 56 + 14 * len(legend), body, title=title)


def _short(text: str, limit: int = 32) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
