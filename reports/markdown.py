"""Safe Markdown building blocks for the generated pages.

Every string that comes from data (method, dataset, image and file names, error messages,
imported text) may contain HTML or Markdown syntax. :func:`escape` turns any value into
Markdown that renders as exactly that text: HTML metacharacters become entities and Markdown
metacharacters (including the table cell separator ``|``) are backslash-escaped. Trusted markup
that we generate ourselves is a :class:`markupsafe.Markup` and passes through unchanged; the
Jinja environment of :mod:`reports.site` escapes every other ``{{ value }}`` with :func:`escape`.
"""
from __future__ import annotations

import html
import json
import math
import re
from typing import Any, Iterable, Sequence

from markupsafe import Markup

# Characters that mean something anywhere in a line. All are in Python-Markdown's ESCAPED_CHARS
# ("|" is added by the tables extension); a backslash before any other character would stay
# visible, so only escapable characters are ever escaped.
_INLINE_SPECIALS = re.compile(r"([\\`*_{}\[\]()!|])")
# "#", "-", "+" (headings, lists, rules) and "1. " (ordered lists) mean something only at the
# start of a block; escaping them everywhere would make the Markdown source unreadable
# ("builtin\-lr", "1\.00"), so only a leading one is escaped.
_BLOCK_START = re.compile(r"^(\s*)([#+\-]|\d+[.)](?=\s|$))")


def _escape_block_start(match: re.Match[str]) -> str:
    lead, token = match.group(1), match.group(2)
    if token[0] in "#+-":
        return f"{lead}\\{token}"  # "\##" is enough: the rest is then plain text
    return f"{lead}{token[:-1]}\\{token[-1]}"  # "1." → "1\."


def escape(value: Any) -> Markup:
    """Markdown that renders as the plain text of ``value`` (``None`` → "—").

    ``<`` ``>`` ``&`` ``"`` ``'`` become HTML entities; ``\\ ` * _ { } [ ] ( ) ! |`` get a
    backslash; a leading ``#``, ``-``, ``+`` or ``1.`` is escaped too; line breaks become
    spaces (a table row is one line).
    """
    if isinstance(value, Markup):
        return value
    if value is None:
        return Markup("—")
    text = " ".join(str(value).splitlines())
    text = html.escape(text, quote=True)
    text = _INLINE_SPECIALS.sub(r"\\\1", text)
    text = _BLOCK_START.sub(_escape_block_start, text)
    return Markup(text)


def html_text(value: Any) -> str:
    """HTML-escaped text for places that MkDocs inserts as raw HTML without Markdown (page and
    navigation titles)."""
    return html.escape(" ".join(str(value).splitlines()), quote=True)


def bold(value: Any) -> Markup:
    return Markup(f"**{escape(value)}**")


def link(text: Any, href: str) -> Markup:
    """A Markdown link whose target is a path we generated (never data); ``text`` is escaped
    unless it is Markup (an image, say)."""
    return Markup(f"[{escape(text)}]({href})")


def image(alt: Any, src: str, *, width: int | None = None, lazy: bool = False) -> Markup:
    """An ``<img>`` in Markdown; ``src`` is a path we generated; ``lazy`` loads it only when it
    scrolls into view."""
    attributes = ([f'width="{width}"'] if width else []) + (['loading="lazy"'] if lazy else [])
    return Markup(f"![{escape(alt)}]({src})" + (f"{{ {' '.join(attributes)} }}" if attributes else ""))


def code_block(text: str, *, language: str = "") -> Markup:
    """A fenced code block that shows ``text`` verbatim, whatever backticks it contains
    (the fence is longer than the longest run of backticks inside)."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return Markup(f"{fence}{language}\n{text}\n{fence}")


def front_matter(*, title: str, hide_toc: bool = False) -> Markup:
    """YAML front matter with the page title, HTML-escaped because MkDocs themes print
    ``page.meta.title`` as raw HTML (and Material's ``striptags`` would unescape it otherwise);
    ``hide_toc`` hides Material's right-hand table of contents."""
    hide = "hide:\n  - toc\n" if hide_toc else ""
    return Markup(f"---\ntitle: {json.dumps(html_text(title))}\n{hide}---\n")


def number(value: Any, *, digits: int = 3) -> str:
    """A number for a table cell: ``digits`` significant decimals, ∞ for infinities, — for NaN."""
    if value is None:
        return "—"
    x = float(value)
    if math.isnan(x):
        return "—"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x != 0 and (abs(x) >= 1e6 or abs(x) < 10 ** -digits):
        return f"{x:.{digits}g}"
    return f"{x:.{digits}f}"


def p_value(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def table(
    headers: Sequence[Any],
    rows: Iterable[Sequence[Any]],
    *,
    align: Sequence[str] | None = None,
) -> Markup:
    """A Markdown (pipe) table. Cells are :func:`escape`-d unless already Markup.

    ``align`` per column: ``"l"``, ``"r"`` or ``"c"``. An empty table gives an empty string.
    """
    rows = [list(r) for r in rows]
    if not rows:
        return Markup("")
    align = list(align) if align else ["l"] * len(headers)
    rule = {"l": ":--", "r": "--:", "c": ":-:"}
    lines = [
        "| " + " | ".join(escape(h) for h in headers) + " |",
        "| " + " | ".join(rule[a] for a in align) + " |",
    ]
    for row in rows:
        lines.append("| " + " | ".join(escape(c) if c != "" else Markup(" ") for c in row) + " |")
    return Markup("\n".join(lines))
