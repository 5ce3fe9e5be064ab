"""The terminal leaderboard and the site compute their tables with the same function: on the
database of the shipped smoke benchmark they agree on every mean, rank and star."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

import restorebench
from restorebench.bench.cli import main
from restorebench.reports import markdown as md
from restorebench.reports.site import SiteOptions, build_site

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("smoke")
    db = root / "smoke.duckdb"
    summary = restorebench.run(REPO / "bench" / "specs" / "smoke.yaml", db=db, out=root / "out", workers=0)
    assert summary.status_counts.get("ok", 0) > 0
    out = root / "site"
    build_site(db, out, options=SiteOptions(n_resamples=200))
    return {"db": db, "out": out}


def terminal_rows(db: Path, capsys) -> list[dict]:
    assert main(["leaderboard", "--db", str(db), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_terminal_and_site_agree_on_every_mean_rank_and_star(smoke, capsys):
    terminal = terminal_rows(smoke["db"], capsys)
    site = pd.read_csv(smoke["out"] / "downloads" / "leaderboard.csv", keep_default_na=False, na_values=[""])
    site = site[site["level"] == "dataset"].set_index(["dataset", "metric", "label"])
    assert len(terminal) == len(site) > 20  # 2 datasets × 5 methods × 6 metrics, minus what does not apply
    for row in terminal:
        other = site.loc[(row["dataset"], row["metric"], row["label"])]
        mean = row["mean"] if not isinstance(row["mean"], str) else float(row["mean"])
        assert other["mean"] == pytest.approx(mean, rel=1e-12), row
        assert other["n"] == row["n"]
        assert (math.isnan(other["rank"]) and row["rank"] is None) or other["rank"] == row["rank"], row
        site_star = str(other["significant"]).lower() == "true"
        assert site_star == (row["significant"] is True), row


def test_the_site_shows_what_the_terminal_prints(smoke, capsys):
    """Every mean of the terminal's table is printed in the site's cell of that method and
    metric, and the terminal's rank-1 cells are the site's bold ones."""
    terminal = terminal_rows(smoke["db"], capsys)
    pages = {p.name: p.read_text(encoding="utf-8") for p in (smoke["out"] / "leaderboards").glob("*.html")}
    text = " ".join(pages.values())
    for row in terminal:
        if row["mean"] is None or isinstance(row["mean"], str):
            continue
        shown = md.number(row["mean"])
        cell = f"<strong>{shown}</strong>" if row["rank"] == 1 else shown
        assert cell in text, row
    assert main(["leaderboard", "--db", str(smoke["db"])]) == 0
    printed = capsys.readouterr().out
    assert "* significantly different from the best" in printed and "best mean" not in printed
    cells = printed_cells(printed)
    for row in terminal:
        if row["rank"] is None:
            continue
        tie = "=" if row["tied"] else ""
        star = "*" if row["significant"] is True else ""
        expected = f"{fmt(row['mean'])} ({tie}{int(row['rank'])}){star}"
        assert cells[(row["dataset"], row["label"], row["metric"])] == expected, row


def printed_cells(printed: str) -> dict[tuple[str, str, str], str]:
    """``(dataset, method, metric) → cell`` of the terminal's tables (columns are separated by
    two or more spaces; a cell has single spaces)."""
    cells, dataset, header = {}, None, None
    for line in printed.splitlines():
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) == 1 and parts[0] and not parts[0].startswith(("(", "[", "-")):
            dataset, header = parts[0], None
        elif parts[0] == "method":
            header = [p.split()[0] for p in parts]
        elif header and parts[0] and not parts[0].startswith("-") and len(parts) == len(header):
            for metric, cell in zip(header[2:], parts[2:]):
                cells[(dataset, parts[0], metric)] = re.sub(r"\[\d+(,\d+)*\]$", "", cell)
    return cells


def fmt(value) -> str:
    from restorebench.bench.commands.leaderboard import _fmt

    return _fmt(float(value) if isinstance(value, str) else value)
