"""The MkDocs step: hand-written pages (placed in the navigation by their front matter), the
configuration that keeps the site offline, the navigation, the build, and the checks of the
result (no request to another host, no path of the build machine).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from restorebench.reports import markdown as md
from restorebench.reports.site.context import Page, SiteError

#: Navigation sections in order; the generated pages and the hand-written ones share them.
SECTIONS = [None, "Leaderboards", "Datasets", "Domains", "Methods", "Analyses", "Galleries", "Methodology", "Guides", "About"]
DEFAULT_SECTION = "Guides"
DEFAULT_CONFIG: dict[str, Any] = {
    "site_name": "restorebench leaderboard",
    "theme": {"name": "material", "font": False},
    "markdown_extensions": ["tables", "attr_list", "admonition", {"toc": {"permalink": True}}],
    "plugins": ["search"],
}
FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)


def front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The YAML front matter of a Markdown page (``{}`` without one) and the rest of the text."""
    match = FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError:
        meta = {}
    return (meta if isinstance(meta, dict) else {}), text[match.end():]


def copy_handwritten(site_dir: Path | None, docs_dir: Path) -> tuple[list[tuple[str, str, str]], str]:
    """Copy ``site/docs`` into ``docs_dir``. Returns ``(name, section, title)`` of the top-level
    Markdown pages — section and title from the front matter (``nav_section``, ``nav_title``),
    else "Guides" and the first heading — and the text of ``index.md`` (shown on the generated
    home page, without its front matter and title)."""
    source = site_dir / "docs" if site_dir else None
    if source is None or not source.is_dir():
        return [], ""
    intro = ""
    pages = []
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_dir() or any(part.startswith(".") for part in rel.parts) or rel.parts[0] == "generated":
            continue
        if rel.as_posix() == "index.md":
            _, body = front_matter(path.read_text(encoding="utf-8"))
            intro = re.sub(r"\A\s*#\s[^\n]*\n", "", body)
            continue
        target = docs_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        if path.suffix == ".md" and len(rel.parts) == 1:
            meta, body = front_matter(path.read_text(encoding="utf-8"))
            heading = re.search(r"^#\s+(.+)$", body, re.M)
            title = str(meta.get("nav_title") or (heading.group(1).strip() if heading else path.stem.replace("-", " ").capitalize()))
            pages.append((rel.as_posix(), str(meta.get("nav_section") or DEFAULT_SECTION), title))
    return pages, intro


def load_base_config(site_dir: Path | None) -> dict[str, Any]:
    """``site/mkdocs.yml`` (safe YAML: no Python tags), or a built-in default without one."""
    path = site_dir / "mkdocs.yml" if site_dir else None
    if path is None or not path.exists():
        return json.loads(json.dumps(DEFAULT_CONFIG))
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SiteError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(config, dict):
        raise SiteError(f"{path}: expected a mapping of MkDocs settings")
    return config


def finalize_config(base: Mapping[str, Any], *, docs_dir: Path, site_dir: Path, nav: list[Any]) -> dict[str, Any]:
    """The base settings plus the generated navigation, and the settings that keep the site
    offline enforced whatever the base says."""
    config = json.loads(json.dumps(base))
    config["docs_dir"] = str(docs_dir)
    config["site_dir"] = str(site_dir)
    config["nav"] = nav
    config["use_directory_urls"] = False  # pages open from the file system too
    theme = config.setdefault("theme", {"name": "material"})
    theme["font"] = False  # no Google Fonts: the site must not contact another host
    extra = config.setdefault("extra", {})
    extra["generator"] = False
    extra["polyfills"] = []  # Material would add CDN shims for some plugins
    plugins = [p for p in config.get("plugins", ["search"]) if (p if isinstance(p, str) else next(iter(p))) not in ("offline", "privacy", "social")]
    config["plugins"] = plugins
    # Further gallery pages are reached through their page links, not the navigation.
    config.setdefault("validation", {})["omitted_files"] = "ignore"
    for asset, key in (("assets/restorebench/restorebench.css", "extra_css"), ("assets/restorebench/tables.js", "extra_javascript")):
        config[key] = [c for c in config.get(key, []) if c != asset] + [asset]
    return config


def navigation(pages: Sequence[Page], handwritten: Sequence[tuple[str, str, str]]) -> list[Any]:
    """Nav entries in section order; titles are HTML-escaped (themes print them as raw HTML)."""
    sections: dict[str | None, list[Any]] = {}
    for page in pages:
        if not page.in_nav:
            continue
        entry = {md.html_text(page.nav_title or page.title): page.path}
        if page.path.endswith("/index.md"):
            sections.setdefault(page.section, []).insert(0, entry)  # a section's overview comes first
        else:
            sections.setdefault(page.section, []).append(entry)
    for name, section, title in handwritten:
        sections.setdefault(section, []).append({md.html_text(title): name})
    nav: list[Any] = []
    for section in SECTIONS + sorted(s for s in sections if s not in SECTIONS):
        if section not in sections:
            continue
        if section is None:
            nav.extend(sections[None])
        else:
            nav.append({section: sections[section]})
    # Home first, downloads and runs last among the top-level pages.
    top = [e for e in nav if not isinstance(next(iter(e.values())), list)]
    rest = [e for e in nav if isinstance(next(iter(e.values())), list)]
    home = [e for e in top if next(iter(e.values())) == "index.md"]
    tail = [e for e in top if next(iter(e.values())) != "index.md"]
    return home + rest + tail


def run_mkdocs(config_file: Path, *, strict: bool = True) -> None:
    command = [sys.executable, "-m", "mkdocs", "build", "--config-file", str(config_file), "--clean"]
    if strict:
        command.append("--strict")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONHASHSEED="0")
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        raise SiteError("mkdocs build failed:\n  " + "\n  ".join(lines[-20:]))


EXTERNAL_RESOURCE = re.compile(
    r"""<(?:script|link|img|iframe|source|audio|video|embed|object|track)\b[^>]*?\b(?:src|href|data|srcset)\s*=\s*["']?\s*((?:[a-z][a-z0-9+.-]*:)?//[^"'\s>]+)""",
    re.IGNORECASE,
)
CSS_EXTERNAL = re.compile(r"""(?:url\(\s*["']?|@import\s+["'])\s*((?:https?:)?//[^"')\s]+)""", re.IGNORECASE)


def external_requests(site_dir: Path) -> list[tuple[str, str]]:
    """(file, URL) of every resource a built page or stylesheet would load from another host.
    Plain links (``<a href>``) are navigation, not requests, and are allowed."""
    found = []
    for path in sorted(site_dir.rglob("*")):
        if path.suffix == ".html":
            urls = EXTERNAL_RESOURCE.findall(path.read_text(encoding="utf-8", errors="replace"))
        elif path.suffix == ".css":
            urls = CSS_EXTERNAL.findall(path.read_text(encoding="utf-8", errors="replace"))
        else:
            continue
        found += [(path.relative_to(site_dir).as_posix(), url) for url in urls if not url.startswith("http://www.w3.org/")]
    return found


THEME_ASSETS = ("assets/javascripts/", "assets/stylesheets/")


def machine_paths(site_dir: Path, folders: Sequence[str | Path], *, authored: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(file, folder) for every page, stylesheet, script or chart made from data that contains
    one of the build machine's ``folders`` (home, working folder, database folder, caches).
    ``authored``: the hand-written pages (``metrics.md``…), whose text is the authors' own."""
    skipped = {name[:-3] + ".html" for name in authored}
    needles = sorted({str(f).rstrip("/") for f in folders if str(f).rstrip("/") not in ("", "/")}, key=len, reverse=True)
    found = []
    for path in sorted(site_dir.rglob("*")):
        rel = path.relative_to(site_dir).as_posix()
        # The theme's own files are not data; the downloads are scrubbed by DuckDB as written.
        if (path.suffix not in (".html", ".css", ".js", ".svg", ".xml", ".txt") or rel.startswith(THEME_ASSETS)
                or rel in skipped):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for needle in needles:
            if re.search(r"(?<![\w.~/-])" + re.escape(needle) + r"(?![\w.-])", text):
                found.append((rel, needle))
                break
    return found
