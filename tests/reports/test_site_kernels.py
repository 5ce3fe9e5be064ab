"""The kernel-accuracy page: present when methods' kernel estimates were scored, with the mean of
each kernel metric per set and method; absent otherwise."""
from __future__ import annotations

import re

import numpy as np
import pytest

from restorebench.bench.store import ScoreRow, Store
from restorebench.metrics import kernel_accuracy
from restorebench.reports.sample_data import write_sample_database
from restorebench.reports.site import SiteOptions
from restorebench.reports.site.build import render_docs
from restorebench.reports.site.context import set_name

FAST = SiteOptions(n_resamples=50, page_items=50)


def rendered(db, tmp_path) -> dict[str, str]:
    docs = tmp_path / "docs"
    pages, _, _ = render_docs(db, docs, site_dir=None, options=FAST)
    return {page.path: page.content for page in pages}


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    section = markdown.split(f"## {heading}", 1)[1]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("kernels") / "db.duckdb"
    write_sample_database(db, images_per_set=3, samples=1)
    return db


def test_no_kernel_scores_no_page(sample_db, tmp_path):
    assert "analyses/kernels.md" not in rendered(sample_db, tmp_path)


def test_page_shows_the_mean_kernel_scores_per_set_and_method(sample_db, tmp_path):
    db = tmp_path / "with-kernels.duckdb"
    db.write_bytes(sample_db.read_bytes())
    rng = np.random.default_rng(1)
    expected: dict[str, list[float]] = {}
    with Store(db) as store:
        cases = store.con.execute(
            "SELECT case_id, dataset, group_name FROM current_cases WHERE label = 'zssr' AND task = 'sr' ORDER BY case_id").fetchall()
        assert cases
        store.upsert("metrics", kernel_accuracy.metric_records())
        rows = []
        for case_id, dataset, group in cases:
            error = float(rng.uniform(0.1, 0.9))
            expected.setdefault(set_name(dataset, group), []).append(error)
            rows += [ScoreRow(case_id, kernel_accuracy.KERNEL_ERROR, "ok", value=error),
                     ScoreRow(case_id, kernel_accuracy.KERNEL_PSNR, "ok", value=float("inf"))]
        store.upsert("scores", rows)
    page = rendered(db, tmp_path)["analyses/kernels.md"]
    rows = table_rows(page, "Blind super-resolution")
    assert {re.sub(r"\[(.*?)\]\(.*?\)", r"\1", r[1]) for r in rows} == {"zssr"}  # only the method with kernel scores
    by_set = {r[0]: r for r in rows}
    assert set(by_set) == set(expected)
    for group, values in expected.items():
        _, _, n, error, psnr = by_set[group]
        assert int(n) == len(values)
        assert float(error) == pytest.approx(np.mean(values), abs=5e-4)
        assert psnr == "∞"
    assert r"kernel\_error ↓" in page and r"kernel\_psnr ↑" in page  # directions from the metrics table
