"""What may be published: text and files of the site without the build machine's paths.

A results database records where things were on the machine that made it: image files, the
spec, the imported CSV, the weights folder in a message, the command line of the virtual
environment. Under ``/home/<user>`` that publishes a user name. :class:`Scrubber` rewrites every
absolute path of the site's text (and of the downloadable tables, in SQL):

- the weights and cache folders → ``$RESTOREBENCH_WEIGHTS``, ``$RESTOREBENCH_CACHE``;
- the working folder and the database's folder → ``.``;
- a home folder (``/home/<user>``, ``/Users/<user>``, ``/root``, or this machine's ``~``) → ``~``;
- any other absolute path → ``…/`` and its last component (the file name is what a reader needs).

The same ordered rules run in Python (:meth:`Scrubber.text`) and in DuckDB
(:meth:`Scrubber.sql`, RE2 syntax: no look-behind).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable

#: Characters that may precede a path (start of text, space, quote, bracket, =, comma, colon).
_BEFORE = r"""(^|[\s"'(\[=,:;])"""
_SEGMENT = r"""[^/\s"'<>|,;)\]]"""


def _folders_rule(folders: list[str], name: str) -> tuple[str, str]:
    """One rule for every folder shown as ``name`` (fewer passes over long tables)."""
    alternatives = "|".join(re.escape(f.rstrip("/")) for f in folders)
    return (_BEFORE + f"(?:{alternatives})" + r"(/|$|[\s\"')\],;])", r"\1" + name + r"\2")


class Scrubber:
    """Ordered (pattern, replacement) rules; ``folders`` maps a folder to the name shown."""

    def __init__(self, folders: Iterable[tuple[str | Path, str]] = ()):
        by_name: dict[str, list[str]] = {}
        seen = set()
        # Longest folder first: a cache inside the home folder keeps its own name.
        for folder, name in sorted(((str(f), n) for f, n in folders), key=lambda fn: -len(fn[0])):
            if folder and folder not in seen and folder != "/":
                seen.add(folder)
                by_name.setdefault(name, []).append(folder)
        rules = [_folders_rule(names, name) for name, names in by_name.items()]
        #: The folders whose paths must never appear in a built site (checked after the build).
        self.folders = sorted(seen)
        rules += [
            (_BEFORE + r"/(?:home|Users)/[^/\s\"'<>]+", r"\1~"),
            (_BEFORE + r"/root(/|$)", r"\1~\2"),
            (_BEFORE + r"/(?:" + _SEGMENT + r"+/)+(" + _SEGMENT + r"*)", r"\1…/\2"),
        ]
        self.rules = [(re.compile(p), r) for p, r in rules]
        self._sql_rules = rules

    @classmethod
    def for_machine(cls, *, db: Path, extra: Iterable[tuple[str | Path, str]] = ()) -> "Scrubber":
        """The rules for this machine: its weights and cache folders, working folder, database
        folder and home folder (resolved and as given, since either may be recorded)."""
        from restorebench.metrics.weights import search_dirs

        folders: list[tuple[str | Path, str]] = list(extra)
        for folder in search_dirs():
            folders.append((folder, "$RESTOREBENCH_WEIGHTS"))
        cache = Path(os.environ.get("RESTOREBENCH_CACHE", "~/.cache/restorebench")).expanduser()
        folders.append((cache, "$RESTOREBENCH_CACHE"))
        for folder in (Path.cwd(), db.resolve().parent):
            folders.append((folder, "."))
        folders.append((Path.home(), "~"))
        expanded = []
        for folder, name in folders:
            expanded.append((str(folder), name))
            try:
                expanded.append((str(Path(folder).resolve()), name))
            except OSError:
                pass
        return cls(expanded)

    def text(self, value: Any) -> Any:
        """``value`` with every absolute path rewritten; non-strings pass unchanged."""
        if not isinstance(value, str) or "/" not in value:
            return value
        for pattern, replacement in self.rules:
            value = pattern.sub(replacement, value)
        return value

    def sql(self, expression: str) -> str:
        """A DuckDB expression applying the rules to the text ``expression`` (only texts with a
        slash are rewritten: most are names and messages)."""
        rewritten = expression
        for pattern, replacement in self._sql_rules:
            rewritten = f"regexp_replace({rewritten}, {_sql_literal(pattern)}, {_sql_literal(replacement)}, 'g')"
        return f"CASE WHEN contains({expression}, '/') THEN {rewritten} ELSE {expression} END"


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def scrub_json(value: Any, scrub: Scrubber) -> Any:
    """Every string inside a JSON-like value (dicts, lists), scrubbed."""
    if isinstance(value, dict):
        return {k: scrub_json(v, scrub) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_json(v, scrub) for v in value]
    return scrub.text(value)
