"""What the site's pages say: the overall leaderboard, labelled comparisons, the drill-down and
galleries, permalinks and history, analyses plugged in by the data (a sweep parameter, a metric
that measures sharpness), hatched heatmaps, dropped metrics."""
from __future__ import annotations

import math
import posixpath
import re
from pathlib import Path

import pandas as pd
import yaml
from PIL import Image

from restorebench.reports.sample_data import write_sample_database
from restorebench.reports.site import SiteOptions, build_site
from restorebench.reports.site import data as site_data

from html_check import EVIL_FILE, parse


def table_after(page: str, heading: str) -> list[list[str]]:
    """The rows (cell texts) of the first table after the heading (``<h1>``…``<h6>``) that
    starts with ``heading``."""
    start = re.search(r"<h\d[^>]*>\s*" + re.escape(heading), page).start()
    table = re.search(r"<table[^>]*>(.*?)</table>", page[start:], re.S).group(1)
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        rows.append([" ".join(parse(cell).text).strip() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)])
    return rows


def first_number(text: str) -> float:
    match = re.match(r"[−-]?\d+(\.\d+)?", text.replace("−", "-"))
    return float(match.group(0)) if match else math.nan


def test_overall_leaderboard_on_the_home_page_and_the_task_page(built):
    pages = built["pages"]
    for name, heading in (("index.html", "Blind super-resolution"), ("leaderboards/sr.html", "Overall")):
        rows = table_after(pages[name], heading)
        header, body = rows[0], rows[1:]
        assert header[:4] == ["method", "rank", "images", "nima (mean over images) ↑"], name
        primary = [first_number(r[3]) for r in body]
        finite = [v for v in primary if not math.isnan(v)]
        assert finite == sorted(finite, reverse=True) and len(finite) >= 2, name  # ordered by the primary metric
        assert [r[1] for r in body][:len(finite)] == [str(i) for i in range(1, len(finite) + 1)]
        assert "(mean over sets)" in header[4] and header[5] == "sets won–lost"
    task = pages["leaderboards/sr.html"]
    assert "By domain (nima)" in task and "plots/means-" in task  # per-domain rows and the mean ± CI charts
    assert 'alt="nima (Blind super-resolution): mean and 95 % interval' in task


def test_primary_metric_option_orders_the_overall_table(tmp_path):
    db = tmp_path / "r.duckdb"
    write_sample_database(db, images_per_set=3, samples=1)
    build_site(db, tmp_path / "out", options=SiteOptions(n_resamples=50, primary_metrics={"sr": "niqe"}))
    rows = table_after((tmp_path / "out" / "leaderboards" / "sr.html").read_text(), "Overall")
    assert rows[0][3] == "niqe (mean over images) ↓"
    values = [first_number(r[3]) for r in rows[1:] if not math.isnan(first_number(r[3]))]
    assert values == sorted(values)  # lower is better: the best first


def test_comparisons_say_which_test_and_how_many_pairs(built):
    rows = table_after(built["pages"]["leaderboards/sr.html"], "Comparisons with the best (all images)")
    header = rows[0]
    assert header[3:5] == ["test", "pairs"]
    tests = {(r[0], r[1]): (r[3], r[4], r[-1]) for r in rows[1:]}
    # the imported method's images are other images: no pairs, an unpaired test, labelled
    unpaired = [v for (metric, method), v in tests.items() if v[1] == "0"]
    assert unpaired and all(t == "Mann–Whitney U (unpaired)" and verdict in ("yes", "no") for t, _, verdict in unpaired)
    paired = [v for v in tests.values() if v[0] == "Wilcoxon signed-rank (paired)"]
    assert paired and all(int(pairs) > 0 for _, pairs, _ in paired)
    assert all(verdict in ("yes", "no", "not tested") for _, _, verdict in tests.values())


def test_drill_down_pages_show_every_output_at_native_size_with_crops_and_scores(built):
    out = built["out"]
    (path,) = [p for p in (out / "items" / "sample-lr").glob("*.html") if "onerror" in p.name]
    page = path.read_text()
    parsed = parse(page)
    natives = [a for t, a in parsed.tags if t == "img" and "rb-native" in (a.get("class") or "")]
    crops = [a for t, a in parsed.tags if t == "img" and "rb-zoom-img" in (a.get("class") or "")]
    titles = " ".join(parsed.text)
    for name in ("input", "reference", "bicubic", "kernelgan", "zssr"):
        assert name in titles
    assert len(natives) == len(crops) == 5  # input, reference and 3 outputs, each with its crop
    for attrs in natives:
        file = (path.parent / attrs["src"]).resolve()
        with Image.open(file) as image:
            assert (int(attrs["width"]), int(attrs["height"])) == image.size  # native size
    rows = table_after(page, "Scores of this image")
    assert rows[0][:2] == ["method", "nima ↑"] and {r[0] for r in rows[1:]} == {"bicubic", "kernelgan", "zssr"}
    assert "drilldown.js" in page and 'rel="next"' in page


def test_the_drill_down_is_linked_from_leaderboards_galleries_and_best_worst_lists(built):
    pages = built["pages"]
    for source in ("leaderboards/sr.html", "galleries/sample-lr/index.html", "analyses/sharpness.html"):
        targets = {posixpath.normpath(posixpath.join(posixpath.dirname(source), href))
                   for href in re.findall(r'href="([^"#]*items/[^"#]+\.html)"', pages[source])}
        assert targets and targets <= {n for n in pages if n.startswith("items/")}, source


def test_galleries_are_paginated_and_lazy(built):
    pages = built["pages"]
    gallery_pages = sorted(n for n in pages if n.startswith("galleries/sample-lr/"))
    assert len(gallery_pages) == math.ceil((5 * 4 + 1) / 2)  # 21 images, 2 per page (FAST.page_items)
    first = pages["galleries/sample-lr/index.html"]
    assert 'href="page-2.html"' in first and 'href="page-11.html"' in first
    thumbs = [a for t, a in parse(first).tags if t == "img" and "thumbs/" in (a.get("src") or "")]
    assert thumbs and all(a.get("loading") == "lazy" for a in thumbs)
    config = yaml.safe_load((built["work"] / "mkdocs.yml").read_text())
    nav = str(config["nav"])
    assert "galleries/sample-lr/index.md" in nav and "page-2.md" not in nav  # one entry per dataset


def test_method_permalinks_come_from_labels_and_history_flags_a_moved_score(built):
    pages = built["pages"]
    assert "methods/zssr.html" in pages and "methods/singan-start-scale-1.html" in pages
    zssr = pages["methods/zssr.html"]
    assert "History: nima (sr)" in zssr and "plots/history-" in zssr
    rows = table_after(zssr, "History: nima (sr)")
    assert len(rows) == 3  # header, the earlier code version, the current one
    assert rows[2][-1] == "moved beyond the previous interval"  # quality 1.5 worse before: flagged
    assert "Computed by run run-sample" in " ".join(parse(zssr).text) and "sample CPU" in zssr


def test_imported_methods_show_their_source_and_claim_no_machine(built):
    method = built["pages"]["methods/script-alert-1-script.html"]
    text = " ".join(" ".join(parse(method).text).split())
    assert "Imported from evil.csv" in text and "is not known to restorebench" in text
    assert "sample CPU" not in method and "Computed by run" not in text


def test_sweep_curves_come_from_the_methods_parameters(built):
    sweeps = built["pages"]["analyses/sweeps.html"]
    assert "singan: nima ↑ against gen_start_scale" in " ".join(parse(sweeps).text)
    rows = table_after(sweeps, "singan: nima")
    assert rows[0] == ["set", "gen_start_scale", "n", "mean [CI]"]
    assert {r[1] for r in rows[1:]} == {"1", "2", "3"} and {r[2] for r in rows[1:]} == {"8"}  # 4 images × 2 samples
    assert "sweep-grid-" in sweeps


def test_behaviour_page_says_which_metrics_it_dropped(built):
    text = " ".join(parse(built["pages"]["analyses/behaviour.html"]).text)
    assert "sharpness — measures sharpness, not image quality" in text
    assert "refused" in text


def test_heatmaps_hatch_cells_without_data(built):
    page = built["pages"]["analyses/correlation.html"]
    plots = re.findall(r'src="\.\./(plots/method-correlation-[^"]+\.svg)"', page)
    svgs = [(built["out"] / p).read_text() for p in plots]
    # the imported method shares no image with the others: its cells are hatched, not white
    assert any('fill="url(#rb-hatch)"' in svg and "&lt;script&gt;alert(1" in svg for svg in svgs)


def test_sharpness_page_is_plugged_in_by_what_a_metric_measures(tmp_path, monkeypatch):
    db = tmp_path / "r.duckdb"
    write_sample_database(db, images_per_set=3, samples=1)
    import duckdb

    with duckdb.connect(str(db)) as con:  # the same scores under a name no registry knows
        con.execute("UPDATE scores SET metric = 'rms_contrast' WHERE metric = 'sharpness'")
        con.execute("UPDATE metrics SET name = 'rms_contrast' WHERE name = 'sharpness'")
    build_site(db, tmp_path / "a", options=SiteOptions(n_resamples=50))
    assert not (tmp_path / "a" / "analyses" / "sharpness.html").exists()
    real = site_data.registry_attribute
    monkeypatch.setattr(site_data, "registry_attribute",
                        lambda metric, attribute: "sharpness" if (metric, attribute) == ("rms_contrast", "measures") else real(metric, attribute))
    build_site(db, tmp_path / "b", options=SiteOptions(n_resamples=50))
    page = (tmp_path / "b" / "analyses" / "sharpness.html").read_text()
    assert "rms_contrast of the best and worst image" in page
    assert site_data.registry_attribute("sharpness", "measures") == "sharpness"  # the shipped metric declares it


def test_tables_hide_all_unavailable_columns_and_sort_by_direction(built):
    board = pd.read_csv(built["out"] / "downloads" / "leaderboard.csv")
    assert EVIL_FILE not in set(board["label"])
    page = built["pages"]["leaderboards/sr.html"]
    assert 'data-rb-dir="desc"' in page and 'data-rb-dir="asc"' in page  # the script sorts best first
    script = (built["out"] / "assets" / "restorebench" / "tables.js").read_text()
    assert "rb-toggles" in script and "(no scores)" in script
    css = (built["out"] / "assets" / "restorebench" / "restorebench.css").read_text()
    assert "position: sticky" in css and "overflow-x: auto" in css
