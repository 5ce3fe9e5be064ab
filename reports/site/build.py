"""``build_site``: database → Markdown pages (Jinja) → ``mkdocs build --strict`` → checks.

The database is opened read-only. The pages of :data:`restorebench.reports.site.pages.PAGES`
are rendered into a temporary ``docs`` folder together with the hand-written pages of
``site/docs``, the static assets, SVG charts, images and the downloads; then MkDocs (Material
theme) builds the site into the output folder. Nothing is written into the repository. The
build fails rather than publish a page that loads a resource from another host or contains a
path of the build machine.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import yaml

from restorebench.bench.folders import claim_folder
from restorebench.bench.store import Store
from restorebench.reports.site.analyses import analyse
from restorebench.reports.site.context import STATIC_DIR, Links, Page, SiteContext, SiteError, SiteOptions, make_environment
from restorebench.reports.site.data import load_site_data
from restorebench.reports.site.images import ImageFiles
from restorebench.reports.site.mkdocs import (copy_handwritten, external_requests, finalize_config, front_matter,
                                              load_base_config, machine_paths, navigation, run_mkdocs)
from restorebench.reports.site.pages import PAGES
from restorebench.reports.site.public import Scrubber

PACKAGE_DIR = Path(__file__).resolve().parent.parent
#: The repository's ``site`` folder (mkdocs.yml and hand-written pages) in a source checkout.
REPO_SITE_DIR = PACKAGE_DIR.parent / "site"
DEFAULT_DB = Path("results/restorebench.duckdb")
DEFAULT_OUT = Path("results/site")
#: A file in every built site; the builder only ever empties a folder that has it (or is empty).
MARKER = ".restorebench-site"
#: The marker of a folder of generated Markdown kept with ``--keep-markdown``.
MARKDOWN_MARKER = ".restorebench-markdown"
EMPTY_NOTE = ('!!! note "Empty database"\n    The database holds no results yet: run `restorebench run SPEC` or '
              '`restorebench import …`, then build the site again.\n\n')


def prepare_output(out: Path) -> None:
    """Refuse to let MkDocs empty a folder that is not a previous restorebench site."""
    if out.exists() and not out.is_dir():
        raise SiteError(f"--out {out} is a file, not a folder")
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise SiteError(f"--out {out} is not empty and is not a restorebench site: refusing to overwrite it "
                        f"(choose an empty or new folder)")
    out.mkdir(parents=True, exist_ok=True)


def render_docs(db: Path, docs_dir: Path, *, site_dir: Path | None, options: SiteOptions) -> tuple[list[Page], list, Scrubber]:
    """Render every page, asset and download into ``docs_dir``; returns the pages, the
    hand-written pages ``(name, section, title)`` and the scrubber of this machine's paths."""
    docs_dir.mkdir(parents=True, exist_ok=True)
    handwritten, intro = copy_handwritten(site_dir, docs_dir)
    shutil.copytree(STATIC_DIR, docs_dir / "assets" / "restorebench", dirs_exist_ok=True)
    scrub = Scrubber.for_machine(db=db)
    with Store(db, read_only=True) as store:
        data = load_site_data(store, db_path=db, scrub=scrub, downloads_dir=docs_dir / "downloads")
        analyses = analyse(store, data, options)
        links = Links(labels=data.all_labels, datasets=data.all_datasets, domains=data.domains, tasks=data.tasks)
        ctx = SiteContext(data=data, analyses=analyses, options=options, docs_dir=docs_dir, env=make_environment(),
                          links=links, store=store, handwritten=[name for name, _, _ in handwritten], intro=intro,
                          images=ImageFiles(db_path=db, docs_dir=docs_dir, thumbnail_px=options.thumbnail_px))
        for module in PAGES:
            module.build(ctx)
    for page in ctx.pages:
        target = docs_dir / page.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(with_empty_note(page.content) if data.empty else page.content, encoding="utf-8")
    if data.empty:
        for name, _, _ in handwritten:
            path = docs_dir / name
            path.write_text(with_empty_note(path.read_text(encoding="utf-8")), encoding="utf-8")
    return ctx.pages, handwritten, scrub


def with_empty_note(text: str) -> str:
    """The page with the empty-database note after its front matter and title."""
    meta, body = front_matter(text)
    head = text[: len(text) - len(body)]
    lines = body.split("\n", 1)
    if lines[0].startswith("# "):
        return head + lines[0] + "\n\n" + EMPTY_NOTE + (lines[1] if len(lines) > 1 else "")
    return head + EMPTY_NOTE + body


def build_site(
    db: str | Path = DEFAULT_DB,
    out: str | Path = DEFAULT_OUT,
    *,
    site_dir: str | Path | None = REPO_SITE_DIR,
    work_dir: str | Path | None = None,
    options: SiteOptions = SiteOptions(),
    strict: bool = True,
) -> Path:
    """Build the static site for ``db`` into ``out``; returns the path of ``index.html``.

    ``site_dir`` holds ``mkdocs.yml`` and the hand-written ``docs/`` (default: the repository's
    ``site/``); ``work_dir`` keeps the generated Markdown for inspection (default: a temporary
    folder that is removed afterwards).
    """
    db, out = Path(db), Path(out).resolve()
    site_dir = Path(site_dir) if site_dir is not None else None
    prepare_output(out)
    temporary = None
    if work_dir is None:
        temporary = tempfile.TemporaryDirectory(prefix="restorebench-site-")
        work = Path(temporary.name)
    else:
        work = claim_folder(Path(work_dir).resolve(), MARKDOWN_MARKER, option="--keep-markdown",
                            note="generated Markdown of a restorebench site; replaced on every build")
    # Written first: MkDocs keeps hidden files when it empties the folder, so a build that fails
    # half-way still leaves a folder that the next build may replace.
    (out / MARKER).write_text("built by restorebench site; this folder is replaced on every build\n", encoding="utf-8")
    try:
        docs_dir = work / "docs"
        pages, handwritten, scrub = render_docs(db, docs_dir, site_dir=site_dir, options=options)
        config = finalize_config(load_base_config(site_dir), docs_dir=docs_dir, site_dir=out, nav=navigation(pages, handwritten))
        config_file = work / "mkdocs.yml"
        config_file.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
        run_mkdocs(config_file, strict=strict)
    finally:
        if temporary is not None:
            temporary.cleanup()
    leaks = external_requests(out)
    if leaks:
        listed = "; ".join(f"{f}: {u}" for f, u in leaks[:5])
        raise SiteError(f"the built site would load resources from other hosts ({len(leaks)}): {listed}")
    found = machine_paths(out, scrub.folders, authored=[name for name, _, _ in handwritten])
    if found:
        listed = "; ".join(f"{f}: {p}" for f, p in found[:5])
        raise SiteError(f"the built site contains paths of this machine ({len(found)} file(s)): {listed}")
    return out / "index.html"
