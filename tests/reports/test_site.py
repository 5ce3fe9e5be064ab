"""The static site: pages, escaping of data (on every page a hostile name really reaches), offline
guarantees, downloads, output safety. Page contents: test_site_pages.py; privacy and empty
databases: test_site_privacy.py."""
from __future__ import annotations

import html
import re

import jinja2
import markdown
import numpy as np
import pandas as pd
import pytest
import yaml

from restorebench.bench.cli import main
from restorebench.bench.store import Store
from restorebench.reports import markdown as md
from restorebench.reports.sample_data import UNAVAILABLE
from restorebench.reports.site import SiteError, build_site, charts, external_requests, make_environment

from html_check import EVIL_DATASET, EVIL_FILE, EVIL_IMAGE, EVIL_METHOD, REPO, assert_shown_as_text, page_of, parse


def test_build_returns_index_and_all_pages(built):
    assert built["index"] == built["out"] / "index.html" and built["index"].exists()
    names = set(built["pages"])
    for expected in ("index.html", "runs.html", "methodology.html", "downloads.html", "datasets/index.html",
                     "methods/index.html", "domains/index.html", "galleries/index.html", "analyses/correlation.html",
                     "analyses/behaviour.html", "analyses/sharpness.html", "analyses/sweeps.html",
                     "metrics.html", "singan.html", "extra.html", "methods/bicubic.html", "methods/zssr.html"):
        assert expected in names, expected
    assert sum(n.startswith("leaderboards/") for n in names) == 2  # deblur and sr
    assert sum(n.startswith("items/") for n in names) == 5 * 4 + 1 + 2 * 4  # every image with files has a page
    assert (built["out"] / ".restorebench-site").exists()
    # generated Markdown went to the work folder, not into the repository
    assert (built["work"] / "docs" / "index.md").exists() and not (REPO / "site" / "docs" / "leaderboards").exists()


def test_handwritten_pages_take_their_place_from_front_matter(built):
    home = built["pages"]["index.html"]
    assert "Hand-written introduction." in home and "nav_section" not in home
    config = yaml.safe_load((built["work"] / "mkdocs.yml").read_text(encoding="utf-8"))
    placed = {target: (section, title) for entry in config["nav"] for section, pages in entry.items() if isinstance(pages, list)
              for page in pages for title, target in page.items()}
    assert placed["metrics.md"] == ("Methodology", "Metrics and calibration")
    assert placed["singan.md"] == ("Methods", "SinGAN notes")
    assert placed["extra.md"] == ("Guides", "Extra page")  # no front matter: Guides, titled by its heading
    assert 'href="metrics.html"' in home and 'href="metrics.html"' in built["pages"]["methodology.html"]


def test_data_strings_appear_as_text_on_every_page(built):
    for name, page in built["pages"].items():
        parsed = parse(page)
        if not name.startswith("items/"):  # the drill-down pages have no site navigation
            assert EVIL_METHOD in " ".join(parsed.text), name  # the imported method is in the navigation, as text
        for attrs, body in parsed.scripts:
            assert "alert(" not in body, name
            assert not attrs.get("src") or not attrs["src"].startswith(("http:", "https:", "//")), name
        for tag, attrs in parsed.tags:
            assert "onerror" not in attrs, (name, tag)
            assert not (tag == "img" and attrs.get("src") == "x"), name
        assert EVIL_METHOD not in page  # never raw in the HTML source
    name, leaderboard = page_of(built, "leaderboards/sr")
    assert EVIL_DATASET in " ".join(parse(leaderboard).text)
    _, method = page_of(built, "methods/script-alert-1-script")
    assert "<title>Method &lt;script&gt;alert(1)&lt;/script&gt;" in method


def notes_under_tables(page: str) -> str:
    """The HTML of the numbered notes under the leaderboard tables (ordered lists)."""
    return " ".join(re.findall(r"<ol>(.*?)</ol>", page, re.S))


def test_a_hostile_file_name_is_text_in_the_leaderboard_notes(built):
    name, leaderboard = page_of(built, "leaderboards/sr")
    notes = notes_under_tables(leaderboard)
    assert f"cannot read {EVIL_FILE}" in html.unescape(re.sub(r"<[^>]+>", "", notes))  # the note is there…
    assert "&lt;img src=x onerror=alert(3)&gt;" in notes and "<img src=x" not in notes  # …escaped
    assert_shown_as_text(leaderboard, f"cannot read {EVIL_FILE}", name)
    _, dataset = page_of(built, "datasets/sample-lr")
    assert "&lt;img src=x onerror=alert(3)&gt;" in notes_under_tables(dataset)


def test_a_hostile_file_name_is_text_on_its_drill_down_page_and_in_the_analyses(built):
    (name, item), = [(n, p) for n, p in built["pages"].items() if n.startswith("items/sample-lr/") and "onerror" in n]
    assert_shown_as_text(item, EVIL_FILE, name)
    assert f"<h1>{html.escape(EVIL_FILE)}</h1>" in item
    # the analysis pages that really show image names: the best/worst lists (it is everyone's
    # best image) and the gallery
    sharpness = built["pages"]["analyses/sharpness.html"]
    assert html.escape(EVIL_FILE, quote=False) in sharpness
    assert_shown_as_text(sharpness, EVIL_FILE, "analyses/sharpness.html")
    gallery = built["pages"]["galleries/sample-lr/index.html"]
    assert_shown_as_text(gallery, EVIL_FILE, "gallery")
    # the best/worst list and the gallery link to the drill-down page of that image
    assert name.split("/")[-1] in sharpness and name.split("/")[-1] in gallery


def test_site_makes_no_request_to_another_host(built):
    assert external_requests(built["out"]) == []
    for name, page in built["pages"].items():
        assert "fonts.googleapis" not in page and "fonts.gstatic" not in page and "unpkg.com" not in page, name
        for tag, attrs in parse(page).tags:
            for key in ("src", "srcset") + (("href",) if tag == "link" else ()):
                value = attrs.get(key) or ""
                assert not re.match(r"^(https?:)?//", value), (name, tag, value)
    assert (built["out"] / "assets" / "restorebench" / "tables.js").exists()


def test_leaderboard_marks_best_unavailable_and_failed(built):
    name, page = page_of(built, "leaderboards/sr")
    assert "niqe ↓" in page and "psnr ↑" in page
    assert "<strong>" in page
    assert "—<sup>[1]</sup>" in page
    text = " ".join(parse(page).text)
    assert f"nima: unavailable: {UNAVAILABLE}" in text  # the reason, as a note, and unavailable is not "failed"
    assert "kernelgan: failed ×" in text  # the failed cases are listed
    assert "+1×∞" in page  # the infinite PSNR is counted, not averaged


def test_downloads_are_complete(built):
    out = built["out"]
    with Store(built["db"], read_only=True) as store:
        n_scores = store.query("SELECT count(*) AS n FROM scores").to_pylist()[0]["n"]
        n_cases = store.query("SELECT count(*) AS n FROM cases").to_pylist()[0]["n"]
    assert len(pd.read_csv(out / "downloads" / "csv" / "scores.csv")) == n_scores
    assert len(pd.read_parquet(out / "downloads" / "parquet" / "cases.parquet")) == n_cases
    board = pd.read_csv(out / "downloads" / "leaderboard.csv")
    assert set(board["level"]) == {"task", "dataset"} and {"rank", "test", "p_adjusted", "significant"} <= set(board.columns)
    assert 'href="downloads/csv/scores.csv"' in built["pages"]["downloads.html"]


def test_refuses_to_overwrite_a_folder_that_is_not_a_site(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(SiteError, match="not empty and is not a restorebench site"):
        build_site(tmp_path / "missing.duckdb", tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_cli_prints_index_and_reports_a_missing_database(tmp_path, capsys):
    db = tmp_path / "empty.duckdb"
    assert main(["init", "--db", str(db)]) == 0
    out = tmp_path / "site"
    capsys.readouterr()
    assert main(["site", "--db", str(db), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str((out / "index.html").resolve())
    assert main(["site", "--db", str(tmp_path / "none.duckdb"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["site", "--db", str(db), "--out", str(out), "--primary-metric", "sr"]) == 2
    assert "TASK=METRIC" in capsys.readouterr().err


@pytest.mark.parametrize("text", [EVIL_METHOD, EVIL_IMAGE, EVIL_FILE, EVIL_DATASET, "a\\b|c", "# heading", "1. item", "- item",
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


def test_charts_are_deterministic_escaped_and_hatch_cells_without_data():
    matrix = np.array([[1.0, np.nan], [np.nan, 1.0]])
    first = charts.heatmap_svg(matrix, labels=[EVIL_METHOD, "b"], title="t")
    assert first == charts.heatmap_svg(matrix, labels=[EVIL_METHOD, "b"], title="t")
    assert first.count('fill="url(#rb-hatch)"') == 2 and first.count(">n/a<") == 2  # no data: hatched, not white
    assert "<script>" not in first and "&lt;script&gt;" in first
    rows = [("a", 1.0, 0.5, 1.5, True, False), ("b", 0.2, 0.1, 0.3, False, True)]
    svg = charts.intervals_svg(rows, title="psnr", x_label="mean")
    assert svg == charts.intervals_svg(rows, title="psnr", x_label="mean") and "b *" in svg
