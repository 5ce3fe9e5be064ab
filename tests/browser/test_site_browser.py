"""The built site in a real browser (headless Chromium driven by Playwright): the overall table,
labelled comparisons, tables that scroll with the method column in view on a phone, sorting and
filtering, the drill-down with its zoom crops; nothing leaves localhost, no page shows a path of
the build machine, no injected script runs. It also takes the screenshots of the docs
(``site/docs/images``; RESTOREBENCH_UPDATE_SCREENSHOTS=1 writes them there).

Needs Debian's ``chromium`` and the ``playwright`` Python package (its own browser download is
not used: Chromium is launched from /usr/bin/chromium).
"""
from __future__ import annotations

import functools
import http.server
import math
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright import sync_api

from restorebench.bench.cli import main
from restorebench.reports.sample_data import write_sample_database

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
EVIL_METHOD = "<script>alert(1)</script>"
EVIL_FILE = "<img src=x onerror=alert(3)>"
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "site" / "docs" / "images"
SCREENSHOTS = ("overall-table.png", "drilldown.png")

pytestmark = pytest.mark.browser

if not CHROMIUM.exists():
    # CI installs Debian's Chromium (.ci/run); there a missing browser is a failure, not a skip
    if os.environ.get("CI"):
        pytest.fail("Chromium is not installed (apt-get install -y chromium), and CI is set", pytrace=False)
    pytest.skip("Chromium is not installed (apt-get install -y chromium)", allow_module_level=True)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep the test output readable
        pass


def serve(folder: Path):
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A site built with the command line from the sample database, hostile names included:
    an image file named like an HTML payload, and a CSV of payloads through `import long`."""
    root = tmp_path_factory.mktemp("browser")
    db = root / "results.duckdb"
    write_sample_database(db, images_per_set=4, samples=1, image_dir=root / "images", extra_items={EVIL_FILE: 5.0},
                          extra_methods={"edsr": 1.5, "rcan": 1.2, "swinir": 1.4, "real-esrgan": 0.8})
    evil = root / "evil.csv"
    evil.write_text("dataset,method,image,metric,value,domain\n"
                    + "".join(f'imported-set,"{EVIL_METHOD}","{EVIL_FILE} {i}",niqe,{5 + i / 7},aerial\n' for i in range(5)))
    assert main(["import", "long", str(evil), "--db", str(db), "--source", f'"><script>alert(4)</script>']) == 0
    out = root / "site"
    assert main(["site", "--db", str(db), "--out", str(out)]) == 0
    server = serve(out)
    try:
        yield {"base": f"http://127.0.0.1:{server.server_port}/", "out": out, "root": root}
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def browser(served):
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        events = {"requests": [], "console_errors": [], "page_errors": [], "dialogs": []}

        def open_page(width: int = 1400):
            page = chromium.new_page(viewport={"width": width, "height": 1000})
            page.on("request", lambda request: events["requests"].append(request.url))
            page.on("console", lambda message: message.type == "error" and events["console_errors"].append(message.text))
            page.on("pageerror", lambda error: events["page_errors"].append(str(error)))

            def on_dialog(dialog):
                events["dialogs"].append(dialog.message)
                dialog.dismiss()

            page.on("dialog", on_dialog)
            return page

        try:
            yield open_page, events
        finally:
            chromium.close()


def assert_clean(events) -> None:
    """Nothing left localhost, nothing failed, no injected script ran."""
    hosts = {urlparse(url).hostname for url in events["requests"] if not url.startswith(("data:", "blob:"))}
    assert hosts <= {"127.0.0.1"}, hosts
    assert events["console_errors"] == [] and events["page_errors"] == []
    assert events["dialogs"] == []


def overall_table(page):
    return page.locator("h2#overall ~ table, h2#overall ~ div table").first


def cell_numbers(table, column: int) -> list[float]:
    texts = table.locator("tbody tr").evaluate_all(
        f"rows => rows.filter(r => !r.hidden).map(r => r.cells[{column}].textContent.trim())")
    out = []
    for text in texts:
        match = re.match(r"^[-−]?\d+(\.\d+)?", text.replace("=", ""))
        out.append(float(match.group(0).replace("−", "-")) if match else math.nan)
    return out


def test_overall_table_sorted_by_the_primary_metric_and_unpaired_comparisons_labelled(served, browser):
    open_page, events = browser
    page = open_page()
    page.goto(served["base"] + "leaderboards/sr.html")
    page.wait_for_load_state("networkidle")
    table = overall_table(page)
    headers = [h.strip() for h in table.locator("thead th").all_text_contents()]
    assert headers[:3] == ["method", "rank", "images"] and headers[3].startswith("nima (mean over images) ↑")
    values = [v for v in cell_numbers(table, 3) if not math.isnan(v)]
    assert len(values) >= 6 and values == sorted(values, reverse=True)  # the primary metric, best first
    ranks = [r.strip() for r in table.locator("tbody tr td:nth-child(2)").all_text_contents()][:len(values)]
    assert ranks[0] in ("1", "=1")
    # the first click on a higher-is-better column puts the best first
    table.locator("thead th").nth(3).click()
    assert table.locator("thead th").nth(3).get_attribute("aria-sort") == "descending"
    assert [v for v in cell_numbers(table, 3) if not math.isnan(v)] == values

    comparisons = page.locator("h3#comparisons-with-the-best-all-images ~ table, h3#comparisons-with-the-best-all-images ~ div table").first
    rows = comparisons.locator("tbody tr").evaluate_all("rows => rows.map(r => Array.from(r.cells, c => c.textContent.trim()))")
    header = [h.strip() for h in comparisons.locator("thead th").all_text_contents()]
    test, pairs, verdict = header.index("test"), header.index("pairs"), header.index("significant")
    without_pairs = [r for r in rows if r[pairs] == "0"]
    assert without_pairs  # the imported method's images are not the others'
    for r in without_pairs:
        assert r[test] in ("Mann–Whitney U (unpaired)", "not tested") and r[verdict] in ("yes", "no", "not tested")
        assert r[test] != "not tested" or r[verdict] == "not tested"
    assert_clean(events)


def test_the_method_column_stays_in_view_when_a_table_scrolls_on_a_phone(served, browser):
    open_page, events = browser
    page = open_page(width=390)
    page.goto(served["base"] + "leaderboards/sr.html")
    page.wait_for_load_state("networkidle")
    table = overall_table(page)
    # the box that scrolls: the table's nearest ancestor narrower than the table
    scroller = "t => { let e = t; while (e && !(e.scrollWidth > e.clientWidth + 100)) e = e.parentElement; return e; }"
    assert table.evaluate(f"t => {{ const e = ({scroller})(t); return e && e.clientWidth <= 390 && e !== document.documentElement; }}")
    cell = table.locator("tbody tr").first.locator("td").nth(0)
    cell.scroll_into_view_if_needed()
    before = cell.bounding_box()
    table.evaluate(f"t => {{ const e = ({scroller})(t); e.scrollLeft = e.scrollWidth; }}")
    page.wait_for_timeout(100)
    assert table.evaluate(f"t => ({scroller})(t).scrollLeft") > 100
    assert page.evaluate("window.scrollX") == 0  # the table scrolled, not the page
    after = cell.bounding_box()
    # sticky: it stays at the scrolling box's left edge (it would be 1000 px to the left otherwise)
    assert 0 <= after["x"] <= before["x"] and after["x"] + after["width"] <= 390
    # and it is the cell that is seen there (not hidden under the scrolled columns)
    seen = page.evaluate("([x, y]) => document.elementFromPoint(x, y).closest('td, th').cellIndex",
                         [after["x"] + after["width"] / 2, after["y"] + after["height"] / 2])
    assert seen == 0
    assert_clean(events)


def test_the_drill_down_opens_from_a_leaderboard_and_its_zoom_crops_load(served, browser):
    open_page, events = browser
    page = open_page()
    page.goto(served["base"] + "leaderboards/sr.html")
    page.wait_for_load_state("networkidle")
    link = page.locator("a[href*='items/']").first
    with page.expect_navigation():
        link.click()
    assert "/items/" in page.url
    page.wait_for_load_state("networkidle")
    crops = page.locator("img.rb-zoom-img")
    assert crops.count() >= 4  # input, reference and the outputs
    loaded = crops.evaluate_all("imgs => imgs.map(i => i.complete && i.naturalWidth > 0)")
    assert all(loaded)
    # the crops follow the pointer on every image at once
    before = crops.evaluate_all("imgs => imgs.map(i => i.style.transform)")
    native = page.locator("img.rb-native").nth(2)
    box = native.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] * 0.9)
    after = crops.evaluate_all("imgs => imgs.map(i => i.style.transform)")
    assert all(a != b for a, b in zip(after, before))
    assert_clean(events)


def test_every_page_loads_locally_without_errors_scripts_or_machine_paths(served, browser):
    open_page, events = browser
    page = open_page()
    root, home = str(served["root"]), str(Path.home())
    pages = sorted(p.relative_to(served["out"]).as_posix() for p in served["out"].rglob("*.html"))
    assert len(pages) > 40
    for name in pages:
        page.goto(served["base"] + name)
        page.wait_for_load_state("load")
        content = page.content()
        assert root not in content and not re.search(re.escape(home) + r"/", content), name
    # the search (a web worker and a local index) shows the hostile names as text, without running them
    page.goto(served["base"] + "index.html")
    page.wait_for_load_state("networkidle")
    page.locator("input.md-search__input").click()
    page.locator("input.md-search__input").press_sequentially("imported", delay=20)
    page.wait_for_selector(".md-search-result__item", timeout=15_000)
    assert EVIL_METHOD in page.locator(".md-search-result__list").inner_text()
    assert_clean(events)


def test_leaderboard_tables_sort_filter_and_toggle_metrics(served, browser):
    open_page, events = browser
    page = open_page()
    page.goto(served["base"] + "leaderboards/sr.html")
    page.wait_for_load_state("networkidle")
    table = page.locator("h2#sample-lr ~ table, h2#sample-lr ~ div table").first
    headers = [h.strip() for h in table.locator("thead th").all_text_contents()]
    column = next(i for i, h in enumerate(headers) if h.startswith("niqe"))
    table.locator("thead th").nth(column).click()  # lower is better: ascending first
    values = [v for v in cell_numbers(table, column) if not math.isnan(v)]
    assert values == sorted(values) and table.locator("thead th").nth(column).get_attribute("aria-sort") == "ascending"
    overall = overall_table(page)  # eight methods: a filter box
    filter_box = page.locator(f'.rb-filter input[aria-controls="{overall.get_attribute("id")}"]')
    filter_box.fill("zssr")
    visible = overall.locator("tbody tr").evaluate_all("rows => rows.filter(r => !r.hidden).map(r => r.cells[0].textContent.trim())")
    assert visible == ["zssr"]
    filter_box.fill("")
    toggle = page.locator(f'.rb-toggles input[aria-controls="{table.get_attribute("id")}"]').nth(0)
    toggle.uncheck()
    assert table.locator("thead th").nth(3).evaluate("h => getComputedStyle(h).display") == "none"
    assert_clean(events)


def test_screenshots_of_the_docs(tmp_path_factory, browser):
    """The overall table and a drill-down page of a site without hostile names, as the docs show
    them (site/docs/site.md)."""
    root = tmp_path_factory.mktemp("docs")
    db = root / "results.duckdb"
    write_sample_database(db, images_per_set=3, samples=1, image_dir=root / "images",
                          extra_methods={"edsr": 1.5, "rcan": 1.2, "swinir": 1.4})
    assert main(["site", "--db", str(db), "--out", str(root / "site")]) == 0
    server = serve(root / "site")
    open_page, events = browser
    try:
        base = f"http://127.0.0.1:{server.server_port}/"
        page = open_page(width=1100)
        page.goto(base + "leaderboards/sr.html")
        page.wait_for_load_state("networkidle")
        overall_table(page).screenshot(path=str(root / SCREENSHOTS[0]))
        page = open_page(width=900)
        page.goto(base + "galleries/sample-lr/index.html")
        page.wait_for_load_state("networkidle")
        with page.expect_navigation():
            page.locator("a[href*='items/']").nth(1).click()
        page.wait_for_load_state("networkidle")
        native = page.locator("img.rb-native").nth(2).bounding_box()
        page.mouse.move(native["x"] + native["width"] * 0.3, native["y"] + native["height"] * 0.6)
        page.screenshot(path=str(root / SCREENSHOTS[1]), clip={"x": 0, "y": 0, "width": 900, "height": 620})
    finally:
        server.shutdown()
        server.server_close()
    for name in SCREENSHOTS:
        assert 5_000 < (root / name).stat().st_size < 400_000, name
        if os.environ.get("RESTOREBENCH_UPDATE_SCREENSHOTS"):
            DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / name, DOCS_IMAGES / name)
        assert (DOCS_IMAGES / name).is_file(), f"{name}: run with RESTOREBENCH_UPDATE_SCREENSHOTS=1 once and commit it"
    assert_clean(events)
