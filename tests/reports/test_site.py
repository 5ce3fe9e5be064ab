"""The static site: pages, escaping of data, offline guarantees, downloads, output safety."""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import markdown
import numpy as np
import pandas as pd
import pytest

from restorebench.bench.cli import main
from restorebench.bench.store import Store
from restorebench.reports import markdown as md
from restorebench.reports import plots
from restorebench.reports.importing import import_long
from restorebench.reports.sample_data import UNAVAILABLE, write_sample_database
from restorebench.reports.site import SiteError, SiteOptions, build_site, external_requests, make_environment

REPO = Path(__file__).resolve().parents[2]
EVIL_METHOD = "<script>alert(1)</script>"
EVIL_IMAGE = '<img src=x onerror="alert(2)">'
EVIL_DATASET = "set|one *two* [three](x) `four`"
FAST = SiteOptions(n_resamples=200, gallery_items=2)


def make_site_dir(root: Path) -> Path:
    """A site folder like the repository's, with hand-written pages other engineers add."""
    site = root / "site-src"
    (site / "docs").mkdir(parents=True)
    (site / "mkdocs.yml").write_text((REPO / "site" / "mkdocs.yml").read_text())
    (site / "docs" / "index.md").write_text("# Title\n\nHand-written introduction.\n")
    (site / "docs" / "metrics.md").write_text("# Metrics\n\n| metric | calibration |\n| -- | -- |\n| psnr | exact |\n")
    (site / "docs" / "singan.md").write_text("# SinGAN\n\nNotes on SinGAN.\n")
    return site


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("site")
    db = root / "results.duckdb"
    write_sample_database(db, images_per_set=4, samples=2, image_dir=root / "images")
    evil = root / "evil.csv"
    evil.write_text(
        "dataset,method,image,metric,value,domain,task\n"
        + "".join(f'"{EVIL_DATASET}","{EVIL_METHOD}","{EVIL_IMAGE.replace(chr(34), chr(34) * 2)}{i}",niqe,{4 + i / 10},aerial,sr\n' for i in range(6))
    )
    import_long(db, evil)
    out = root / "out"
    index = build_site(db, out, site_dir=make_site_dir(root), work_dir=root / "work", options=FAST)
    pages = {p.relative_to(out).as_posix(): p.read_text(encoding="utf-8") for p in out.rglob("*.html")}
    return {"db": db, "out": out, "index": index, "pages": pages, "work": root / "work"}


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


def test_build_returns_index_and_all_pages(built):
    assert built["index"] == built["out"] / "index.html" and built["index"].exists()
    names = set(built["pages"])
    for expected in ("index.html", "runs.html", "methodology.html", "downloads.html", "datasets/index.html",
                     "methods/index.html", "domains/index.html", "galleries/index.html", "analyses/correlation.html",
                     "analyses/behaviour.html", "analyses/sharpness.html", "analyses/start-scale.html",
                     "metrics.html", "singan.html"):
        assert expected in names, expected
    assert sum(n.startswith("leaderboards/") for n in names) == 2  # deblur and sr
    assert sum(n.startswith("methods/") for n in names) >= 10
    assert (built["out"] / ".restorebench-site").exists()
    # generated Markdown went to the work folder, not into the repository
    assert (built["work"] / "docs" / "index.md").exists() and not (REPO / "site" / "docs" / "leaderboards").exists()


def test_handwritten_pages_are_in_the_navigation(built):
    home = built["pages"]["index.html"]
    assert 'href="metrics.html"' in home and 'href="singan.html"' in home
    assert "Hand-written introduction." in home
    assert "psnr" in built["pages"]["metrics.html"] and "exact" in built["pages"]["metrics.html"]
    assert 'href="metrics.html"' in built["pages"]["methodology.html"]


def test_data_strings_appear_as_text_on_every_page(built):
    for name, page in built["pages"].items():
        parsed = parse(page)
        text = " ".join(parsed.text)
        # the imported method is in the navigation of every page, as text
        assert EVIL_METHOD in text, name
        for attrs, body in parsed.scripts:
            assert "alert(" not in body, name
            assert not attrs.get("src") or not attrs["src"].startswith(("http:", "https:", "//")), name
        for tag, attrs in parsed.tags:
            assert "onerror" not in attrs, (name, tag)
            assert not (tag == "img" and attrs.get("src") == "x"), name
        assert EVIL_METHOD not in page  # never raw in the HTML source
    leaderboard = next(p for n, p in built["pages"].items() if n.startswith("leaderboards/sr"))
    text = " ".join(parse(leaderboard).text)
    assert EVIL_DATASET in text
    method_pages = [p for n, p in built["pages"].items() if n.startswith("methods/import-script-alert")]
    assert method_pages and "<title>Method &lt;script&gt;alert(1)&lt;/script&gt;" in method_pages[0]


def test_image_names_are_escaped_in_analysis_pages(built):
    sharp_or_behaviour = built["pages"]["analyses/behaviour.html"] + built["pages"]["analyses/correlation.html"]
    assert "<img src=x" not in sharp_or_behaviour


def test_site_makes_no_request_to_another_host(built):
    assert external_requests(built["out"]) == []
    for name, page in built["pages"].items():
        assert "fonts.googleapis" not in page and "fonts.gstatic" not in page and "unpkg.com" not in page, name
        for tag, attrs in parse(page).tags:
            for key in ("src", "srcset") + (("href",) if tag == "link" else ()):
                value = attrs.get(key) or ""
                assert not re.match(r"^(https?:)?//", value), (name, tag, value)
    assert (built["out"] / "assets" / "restorebench" / "tables.js").exists()


def test_leaderboard_marks_best_unavailable_and_significance(built):
    name, page = next((n, p) for n, p in built["pages"].items() if n.startswith("leaderboards/sr"))
    assert "niqe ↓" in page and "psnr ↑" in page
    assert "<strong>" in page
    assert "—<sup>[1]</sup>" in page
    assert UNAVAILABLE in " ".join(parse(page).text)  # the reason, as a note
    assert "failed ×" in page  # the failed cases are listed
    assert "+1×∞" in page  # the infinite PSNR is counted, not averaged


def test_pages_show_provenance_methods_and_analyses(built):
    pages = built["pages"]
    runs = " ".join(parse(pages["runs.html"]).text)
    assert "0123456789abcdef0123456789abcdef01234567" in runs and "sample CPU" in runs
    assert "a ``` fence inside" in runs  # the spec is shown verbatim
    assert "evil.csv" in runs  # the imported file, with its sha256
    method = next(p for n, p in pages.items() if n.startswith("methods/singan-s2"))
    assert "gen_start_scale" in method and "restore s" in method
    assert "lowest-10 overlap" in pages["analyses/behaviour.html"]
    assert "Spearman" in pages["analyses/correlation.html"]
    assert ".svg" in pages["analyses/start-scale.html"] and "defocus" in pages["analyses/start-scale.html"]
    assert "best image" in pages["analyses/sharpness.html"]
    gallery = next(p for n, p in pages.items() if n.startswith("galleries/sample-triplets"))
    assert gallery.count('src="../thumbs/') >= 2 * 2 * 7  # 2 sets × 2 images × (input, reference, 5 methods)
    domain = next(p for n, p in pages.items() if n.startswith("domains/aerial"))
    assert "best set" in domain and "aerial-a" in domain


def test_downloads_are_complete(built):
    out = built["out"]
    with Store(built["db"], read_only=True) as store:
        n_scores = store.query("SELECT count(*) AS n FROM scores").to_pylist()[0]["n"]
        n_cases = store.query("SELECT count(*) AS n FROM cases").to_pylist()[0]["n"]
    assert len(pd.read_csv(out / "downloads" / "csv" / "scores.csv")) == n_scores
    assert len(pd.read_parquet(out / "downloads" / "parquet" / "cases.parquet")) == n_cases
    assert 'href="downloads/csv/scores.csv"' in built["pages"]["downloads.html"]


def test_refuses_to_overwrite_a_folder_that_is_not_a_site(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(SiteError, match="not empty and is not a restorebench site"):
        build_site(tmp_path / "missing.duckdb", tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_empty_database_builds_and_cli_prints_index(tmp_path, capsys):
    db = tmp_path / "empty.duckdb"
    Store(db).close()
    out = tmp_path / "site"
    assert main(["site", "--db", str(db), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str((out / "index.html").resolve())
    assert "no scores yet" in (out / "index.html").read_text()
    assert main(["site", "--db", str(tmp_path / "none.duckdb"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("text", [EVIL_METHOD, EVIL_IMAGE, EVIL_DATASET, "a\\b|c", "# heading", "1. item", "- item",
                                  "---", "x_y_z *a* **b**", "&amp; &lt;", "line\nbreak", "{: .cls } :smile: ~~s~~"])
def test_escape_renders_exactly_the_text(text):
    rendered = markdown.markdown(f"| h |\n| -- |\n| {md.escape(text)} |\n\n{md.escape(text)}", extensions=["tables", "attr_list"])
    parsed = parse(rendered)
    expected = " ".join(text.splitlines())
    cells = re.findall(r"<td>(.*?)</td>", rendered, re.S)
    assert html.unescape(cells[0]) == expected
    assert [t for t, _ in parsed.tags if t not in ("table", "thead", "tbody", "tr", "th", "td", "p")] == []


def test_jinja_is_strict_and_escapes_by_default():
    env = make_environment()
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()
    assert env.from_string("{{ x }}|{{ y }}").render(x="<b>|", y=md.bold("ok")) == "&lt;b&gt;\\||**ok**"


def test_svg_plots_are_deterministic_and_undated():
    matrix = np.array([[1.0, 0.5], [0.5, 1.0]])
    first = plots.heatmap_svg(matrix, labels=["a $x$", "b"], title="t")
    assert first == plots.heatmap_svg(matrix, labels=["a $x$", "b"], title="t")
    assert "<dc:date>" not in first and "Matplotlib v" not in first and "<text" not in first
    curve = {"motion": [(1, 5.0, 4.0, 6.0), (2, 5.5, float("nan"), float("nan"))]}
    assert plots.start_scale_svg(curve, metric="nima") == plots.start_scale_svg(curve, metric="nima")


def test_singan_grid_shows_one_sample_per_start_scale(built, monkeypatch, tmp_path):
    import json

    from PIL import Image

    import restorebench.reports.singan_grid as real
    from restorebench.reports.site import SiteContext, _resolver, load_site_data, singan_grids

    calls = []
    draw = real.singan_grid

    def recording_grid(sharp, blurred, samples_by_scale, **options):
        calls.append((sharp.shape, blurred.shape, {n: s.shape for n, s in samples_by_scale.items()}, options))
        if len(calls) == 2:
            raise ValueError("broken grid")
        return draw(sharp, blurred, samples_by_scale, **options)

    monkeypatch.setattr(real, "singan_grid", recording_grid)
    data = load_site_data(built["db"])
    ctx = SiteContext(data=data, options=FAST, docs_dir=tmp_path, env=make_environment())
    params = {r["variant_id"]: json.loads(r["params"]) if r["params"] else {} for r in data.methods.to_dict("records")}
    grids = singan_grids(ctx, params, _resolver(built["db"]))
    # one image per start scale (the sample data has 3 start scales × 2 samples), blur named
    assert calls[0][:3] == ((48, 64, 3), (48, 64, 3), {1: (48, 64, 3), 2: (48, 64, 3), 3: (48, 64, 3)})
    assert calls[0][3]["blur"] in {"motion", "defocus"}
    assert grids[0]["error"] is None
    drawn = np.asarray(Image.open(tmp_path / grids[0]["image"]))
    assert drawn.shape[1] == 5 * 64 + 6 * real.GAP  # sharp, blurred, n = 1, 2, 3 side by side
    assert grids[1]["image"] is None and "broken grid" in grids[1]["error"]  # shown on the page, not a crash
