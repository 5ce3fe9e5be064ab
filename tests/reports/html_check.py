"""Helpers of the site tests: the sample site with hostile names, and an HTML parser that
separates visible text, scripts and tags."""
from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from restorebench.reports.importing import import_long
from restorebench.reports.sample_data import write_sample_database
from restorebench.reports.site import SiteOptions, build_site

REPO = Path(__file__).resolve().parents[2]
EVIL_METHOD = "<script>alert(1)</script>"
EVIL_IMAGE = '<img src=x onerror="alert(2)">'
EVIL_DATASET = "set|one *two* [three](x) `four`"
#: An image file of the first LR set named like an HTML payload; it is every method's best image
#: (so it reaches the best/worst lists), has its own drill-down page, and zssr's sharpness score
#: of it failed with a message naming it (so it reaches the notes under the leaderboard tables).
EVIL_FILE = "<img src=x onerror=alert(3)>"
FAST = SiteOptions(n_resamples=200, page_items=2)


def make_site_dir(root: Path) -> Path:
    """A site folder like the repository's, with hand-written pages other engineers add."""
    site = root / "site-src"
    (site / "docs").mkdir(parents=True)
    (site / "mkdocs.yml").write_text((REPO / "site" / "mkdocs.yml").read_text())
    (site / "docs" / "index.md").write_text("---\nnav_section: About\n---\n# Title\n\nHand-written introduction.\n")
    (site / "docs" / "metrics.md").write_text("---\nnav_section: Methodology\nnav_title: Metrics and calibration\n---\n"
                                              "# Metrics\n\n| metric | calibration |\n| -- | -- |\n| psnr | exact |\n")
    (site / "docs" / "singan.md").write_text("---\nnav_section: Methods\nnav_title: SinGAN notes\n---\n# SinGAN\n\nNotes on SinGAN.\n")
    (site / "docs" / "extra.md").write_text("# Extra page\n\nWithout front matter.\n")
    return site


def build_sample_site(root: Path) -> dict:
    """The sample database with hostile names (an imported method and dataset, an image file),
    built into a site; returns its folders and every page's HTML."""
    db = root / "results.duckdb"
    write_sample_database(db, images_per_set=4, samples=2, image_dir=root / "images", extra_items={EVIL_FILE: 5.0})
    evil = root / "evil.csv"
    evil.write_text(
        "dataset,method,image,metric,value,domain,task\n"
        + "".join(f'"{EVIL_DATASET}","{EVIL_METHOD}","{EVIL_IMAGE.replace(chr(34), chr(34) * 2)}{i}",niqe,{4 + i / 10},aerial,sr\n' for i in range(6))
    )
    import_long(db, evil)
    out = root / "out"
    index = build_site(db, out, site_dir=make_site_dir(root), work_dir=root / "work", options=FAST)
    pages = {p.relative_to(out).as_posix(): p.read_text(encoding="utf-8") for p in out.rglob("*.html")}
    return {"root": root, "db": db, "out": out, "index": index, "pages": pages, "work": root / "work"}


class TextAndScripts(HTMLParser):
    """Collects the visible text, the <script> elements and every tag with its attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.scripts: list[tuple[dict, str]] = []
        self.tags: list[tuple[str, dict]] = []
        self._in_script: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "script":
            self._in_script = attrs
            self.scripts.append((attrs, ""))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None

    def handle_data(self, data):
        if self._in_script is not None:
            attrs, body = self.scripts[-1]
            self.scripts[-1] = (attrs, body + data)
        else:
            self.text.append(data)


def parse(page: str) -> TextAndScripts:
    parser = TextAndScripts()
    parser.feed(page)
    return parser


def page_of(built: dict, prefix: str) -> tuple[str, str]:
    return next((n, p) for n, p in built["pages"].items() if n.startswith(prefix))


def assert_shown_as_text(page: str, text: str, where: str) -> None:
    """``text`` is on the page as text, and no tag or attribute came out of it."""
    parsed = parse(page)
    assert text in " ".join(parsed.text) or any(text in (a.get("alt") or "") for _, a in parsed.tags), where
    for tag, attrs in parsed.tags:
        assert "onerror" not in attrs and not (tag == "img" and attrs.get("src") == "x"), (where, tag, attrs)
    for attrs, body in parsed.scripts:
        assert "alert(" not in body, where
