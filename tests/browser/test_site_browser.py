"""The built site in a real browser (headless Chromium driven by Playwright): sorting and
filtering work, nothing leaves localhost, no console error, no injected script runs.

Needs Debian's ``chromium`` and the ``playwright`` Python package (its own browser download is
not used: Chromium is launched from /usr/bin/chromium).
"""
from __future__ import annotations

import functools
import http.server
import math
import re
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

from restorebench.reports.importing import import_long
from restorebench.reports.sample_data import write_sample_database
from restorebench.reports.site import SiteOptions, build_site

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
EVIL_METHOD = "<script>alert(1)</script>"

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright==1.65.2)")
if not CHROMIUM.exists():
    pytest.skip("Chromium is not installed (apt-get install -y chromium)", allow_module_level=True)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep the test output readable
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    db = root / "results.duckdb"
    write_sample_database(db, images_per_set=4, samples=1, image_dir=root / "images",
                          extra_methods={EVIL_METHOD: 0.3, "edsr": 1.5, "rcan": 1.2, "swinir": 1.4, "real-esrgan": 0.8})
    evil = root / "evil.csv"
    evil.write_text("dataset,method,image,metric,value,domain\n"
                    + "".join(f'imported-set,"{EVIL_METHOD}",img{i}.png,niqe,{5 + i / 7},aerial\n' for i in range(5)))
    import_long(db, evil)
    out = root / "site"
    build_site(db, out, options=SiteOptions(n_resamples=200, gallery_items=2))
    handler = functools.partial(QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"base": f"http://127.0.0.1:{server.server_port}/", "out": out}
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def browser_page(served):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        events = {"requests": [], "console_errors": [], "page_errors": [], "dialogs": []}
        page.on("request", lambda request: events["requests"].append(request.url))
        page.on("console", lambda message: message.type == "error" and events["console_errors"].append(message.text))
        page.on("pageerror", lambda error: events["page_errors"].append(str(error)))

        def on_dialog(dialog):
            events["dialogs"].append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        try:
            yield page, events
        finally:
            browser.close()


def leaderboard_url(served) -> str:
    (path,) = [p for p in (served["out"] / "leaderboards").glob("sr-*.html")]
    return served["base"] + path.relative_to(served["out"]).as_posix()


def column_values(table, column: int) -> list[float]:
    """The numbers at the start of each visible cell of a column (NaN for "—")."""
    texts = table.locator("tbody tr").evaluate_all(
        f"rows => rows.filter(r => !r.hidden).map(r => r.cells[{column}].textContent.trim())")
    values = []
    for text in texts:
        match = re.match(r"^[-−]?\d+(\.\d+)?", text)
        values.append(float(match.group(0).replace("−", "-")) if match else math.nan)
    return values


def assert_only_localhost(events) -> None:
    hosts = {urlparse(url).hostname for url in events["requests"] if not url.startswith(("data:", "blob:"))}
    assert hosts <= {"127.0.0.1"}, hosts


def test_leaderboard_sorts_filters_and_stays_local(served, browser_page, tmp_path):
    page, events = browser_page
    page.goto(leaderboard_url(served))
    page.wait_for_load_state("networkidle")
    table = page.locator(".md-content table", has=page.locator("th", has_text="psnr")).first
    headers = [h.strip() for h in table.locator("thead th").all_text_contents()]
    column = next(i for i, h in enumerate(headers) if h.startswith("psnr"))
    before = column_values(table, column)
    assert len(before) >= 8  # enough rows for the filter box

    table.locator("thead th").nth(column).click()
    ascending = column_values(table, column)
    finite = [v for v in ascending if not math.isnan(v)]
    assert finite == sorted(finite) and ascending != before
    assert table.locator("thead th").nth(column).get_attribute("aria-sort") == "ascending"

    table.locator("thead th").nth(column).click()
    descending = column_values(table, column)
    finite = [v for v in descending if not math.isnan(v)]
    assert finite == sorted(finite, reverse=True)
    assert table.locator("thead th").nth(column).get_attribute("aria-sort") == "descending"

    # the method names are text: sorting by the first column orders them as strings
    table.locator("thead th").first.click()
    names = table.locator("tbody tr td:first-child").all_text_contents()
    assert [n.strip() for n in names] == sorted((n.strip() for n in names), key=str.lower)
    assert any(EVIL_METHOD in n for n in names)

    filter_box = page.locator(f'.rb-filter input[aria-controls="{table.get_attribute("id")}"]')
    filter_box.fill("zssr")
    visible = table.locator("tbody tr").evaluate_all("rows => rows.filter(r => !r.hidden).map(r => r.cells[0].textContent.trim())")
    assert visible == ["zssr"]
    filter_box.fill("")

    screenshot = tmp_path / "leaderboard.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"screenshot: {screenshot}")
    assert screenshot.stat().st_size > 10_000

    assert_only_localhost(events)
    assert events["console_errors"] == [] and events["page_errors"] == []
    assert events["dialogs"] == []  # the method named <script>alert(1)</script> never ran


def test_every_page_loads_locally_without_errors_or_injected_scripts(served, browser_page, tmp_path):
    page, events = browser_page
    pages = sorted(p.relative_to(served["out"]).as_posix() for p in served["out"].rglob("*.html"))
    assert len(pages) > 20
    for name in pages:
        page.goto(served["base"] + name)
        page.wait_for_load_state("load")
    # the search (a web worker and a local index) shows the hostile name as text, without running it
    page.goto(served["base"] + "index.html")
    page.wait_for_load_state("networkidle")
    page.locator("input.md-search__input").click()
    page.locator("input.md-search__input").press_sequentially("imported", delay=20)
    page.wait_for_selector(".md-search-result__item", timeout=15_000)
    results = page.locator(".md-search-result__list").inner_text()
    assert EVIL_METHOD in results
    page.screenshot(path=str(tmp_path / "search.png"))
    assert_only_localhost(events)
    assert events["console_errors"] == [] and events["page_errors"] == []
    assert events["dialogs"] == []
