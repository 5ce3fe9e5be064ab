"""What the site publishes about the machine that built it (nothing), and what an empty database
looks like (it says so on every page; empty analyses leave the navigation)."""
from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

from restorebench.bench.cli import main
from restorebench.reports.site import SiteError, SiteOptions, build_site
from restorebench.reports.site import public
from restorebench.reports.site.public import Scrubber

from html_check import parse


@pytest.mark.parametrize("text, expected", [
    ("/home/alice/data/set1/0001.png", "~/data/set1/0001.png"),
    ("weights file nima.pth missing in /root/.cache/restorebench/weights/nima.pth", "weights file nima.pth missing in $RESTOREBENCH_WEIGHTS/nima.pth"),
    ("python /opt/venv/bin/restorebench run /srv/specs/x.yaml", "python …/restorebench run …/x.yaml"),
    ("/Users/bob/x.csv,/work/proj/out/a.png", "~/x.csv,./out/a.png"),
    ("see https://github.com/a/b/blob/c.py and ratio 1/2", "see https://github.com/a/b/blob/c.py and ratio 1/2"),
    ("RuntimeError: out of memory", "RuntimeError: out of memory"),
])
def test_scrubber_rewrites_paths_the_same_in_python_and_in_duckdb(text, expected):
    scrub = Scrubber([("/root/.cache/restorebench/weights", "$RESTOREBENCH_WEIGHTS"), ("/work/proj", "."), ("/root", "~")])
    assert scrub.text(text) == expected
    with duckdb.connect() as con:
        assert con.execute(f"SELECT {scrub.sql('x')} FROM (SELECT ? AS x)", [text]).fetchone()[0] == expected


def test_no_path_of_the_build_machine_anywhere_in_the_site(built):
    """Pages, charts, the search index and the downloads show the database's folder as ``.``,
    the home folder as ``~``; the build checks it too (and would fail)."""
    root, home = str(built["root"]), str(Path.home())
    for path in built["out"].rglob("*"):
        if path.suffix in (".html", ".svg", ".json", ".csv", ".js", ".css", ".xml"):
            text = path.read_text(encoding="utf-8", errors="replace")
            assert root not in text, path
            assert f"{home}/" not in text or path.parts[-3:-1] == ("assets", "javascripts"), path
    cases = (built["out"] / "downloads" / "csv" / "cases.csv").read_text()
    assert "./images/" in cases  # the recorded image paths, relative to the database's folder
    runs = " ".join(parse(built["pages"]["runs.html"]).text)
    assert "evil.csv" in runs and "restorebench run sample.yaml" in runs


def test_the_build_refuses_to_publish_a_path_it_failed_to_scrub(tmp_path, monkeypatch):
    from restorebench.reports.sample_data import write_sample_database

    db = tmp_path / "r.duckdb"
    write_sample_database(db, images_per_set=2, samples=1, image_dir=tmp_path / "images")
    with duckdb.connect(str(db)) as con:  # a message naming a file, as a failing method writes it
        con.execute("UPDATE cases SET error = 'cannot read ' || input_path WHERE status = 'failed'")
    build_site(db, tmp_path / "ok", options=SiteOptions(n_resamples=50))
    assert "cannot read ./images/" in (tmp_path / "ok" / "leaderboards" / "sr.html").read_text()
    monkeypatch.setattr(public.Scrubber, "text", lambda self, value: value)  # a scrubber that misses everything
    with pytest.raises(SiteError, match="contains paths of this machine"):
        build_site(db, tmp_path / "out", options=SiteOptions(n_resamples=50))


def test_an_empty_database_says_so_on_every_page_and_has_no_analyses(tmp_path, capsys):
    db = tmp_path / "empty.duckdb"
    assert main(["init", "--db", str(db)]) == 0
    assert "created an empty restorebench database" in capsys.readouterr().out
    out = tmp_path / "site"
    assert main(["site", "--db", str(db), "--out", str(out), "--keep-markdown", str(tmp_path / "md")]) == 0
    pages = {p.relative_to(out).as_posix(): p.read_text() for p in out.rglob("*.html") if p.name != "404.html"}
    assert len(pages) >= 8
    for name, page in pages.items():
        assert "The database holds no results yet" in " ".join(parse(page).text), name
    assert not (out / "analyses").exists() and not (out / "galleries").exists()
    nav = str(yaml.safe_load((tmp_path / "md" / "mkdocs.yml").read_text())["nav"])
    assert "Analyses" not in nav and "Galleries" not in nav and "Leaderboards" not in nav
    assert "Latest runs" not in pages["index.html"]


def test_init_keeps_an_existing_database_and_refuses_a_foreign_one(tmp_path, capsys):
    db = tmp_path / "r.duckdb"
    assert main(["init", "--db", str(db)]) == 0
    assert main(["init", "--db", str(db)]) == 0
    assert "already a restorebench database" in capsys.readouterr().out
    foreign = tmp_path / "other.duckdb"
    with duckdb.connect(str(foreign)) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
    assert main(["init", "--db", str(foreign)]) == 2
    assert "did not create" in capsys.readouterr().err
