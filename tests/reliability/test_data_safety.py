"""Nothing a user names is deleted, no two outputs share a file, no finished batch is lost.

Regression tests for the fault-injection campaign's first findings (issue 10, items 1–3): each
of them failed on the code before the fix.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest
from PIL import Image

from restorebench.bench.cli import main as cli
from restorebench.bench.runner import RunOptions, run
from restorebench.bench.spec import SpecError, load_spec
from restorebench.bench.store import Store, StoreWriteError
from restorebench.reports.sample_data import write_sample_database


def run_spec(path: Path, db: Path, out: Path, **options) -> object:
    return run(load_spec(path), RunOptions(db=db, out_dir=out, progress=False, workers=0, **options))


# -- 1. a folder the user named is never emptied -------------------------------------------------

@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    write_sample_database(db, images_per_set=2)
    return db


def test_keep_markdown_refuses_a_folder_it_did_not_create(sample_db, tmp_path, capsys):
    kept = tmp_path / "km"
    (kept / "p").mkdir(parents=True)
    (kept / "p" / "t.txt").write_text("x")
    code = cli(["site", "--db", str(sample_db), "--out", str(tmp_path / "s"), "--keep-markdown", str(kept)])
    assert code == 2
    err = capsys.readouterr().err
    assert "--keep-markdown" in err and "not created by restorebench" in err and "Traceback" not in err
    assert (kept / "p" / "t.txt").read_text() == "x"


def test_keep_markdown_reuses_its_own_folder(sample_db, tmp_path):
    kept = tmp_path / "km"
    for _ in range(2):  # the second build replaces the folder the first one created
        assert cli(["site", "--db", str(sample_db), "--out", str(tmp_path / "s"), "--keep-markdown", str(kept)]) == 0
    assert (kept / "mkdocs.yml").is_file() and (kept / "docs" / "index.md").is_file()
    assert (kept / ".restorebench-markdown").is_file()


def test_site_out_refuses_a_foreign_folder(sample_db, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("keep me")
    assert cli(["site", "--db", str(sample_db), "--out", str(out)]) == 2
    assert (out / "thesis.tex").read_text() == "keep me"


# -- 2. output names are unique by construction -----------------------------------------------------

COLLIDING_NAMES = ("a b", "a_b", "é", "ü")


def colliding_lr_set(root: Path) -> Path:
    rng = np.random.default_rng(1)
    folder = root / "lr" / "toy" / "set1"
    (folder / "HR").mkdir(parents=True)
    for name in COLLIDING_NAMES:
        hr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(hr).save(folder / "HR" / f"{name}.png")
        Image.fromarray(hr[::2, ::2]).save(folder / f"{name}.png")
    return root / "lr"


def spec_for(root: Path, metrics: str, tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(f"""
name: collide
datasets:
  - {{name: toy, kind: lr_sets, root: {root}}}
methods:
  - {{name: identity}}
metrics: {metrics}
""")
    return path


def test_items_whose_names_collide_after_cleaning_get_their_own_outputs(tmp_path):
    root = colliding_lr_set(tmp_path)
    db = tmp_path / "db.duckdb"
    run_spec(spec_for(root, "[sharpness]", tmp_path), db, tmp_path / "out")
    with Store(db, read_only=True) as store:
        rows = store.con.execute("SELECT item, output_path, output_sha256 FROM cases").fetchall()
    assert sorted(r[0] for r in rows) == sorted(f"toy/set1/{n}" for n in COLLIDING_NAMES)
    assert len({r[1] for r in rows}) == len(COLLIDING_NAMES)
    for _, path, sha in rows:  # every stored hash still describes its file
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == sha


def test_rescoring_never_scores_a_file_that_is_not_the_cases_output(tmp_path):
    root = colliding_lr_set(tmp_path)
    db = tmp_path / "db.duckdb"
    run_spec(spec_for(root, "[sharpness]", tmp_path), db, tmp_path / "out")
    with Store(db, read_only=True) as store:
        path, sha = store.con.execute("SELECT output_path, output_sha256 FROM cases WHERE item = 'toy/set1/a b'").fetchall()[0]
    # someone overwrites one output with another image
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(path)
    summary = run_spec(spec_for(root, "[sharpness, piqe]", tmp_path), db, tmp_path / "out")
    assert summary.executed == 1 and summary.rescored == 3  # the edited case ran again
    with Store(db, read_only=True) as store:
        (new_sha,) = store.con.execute("SELECT output_sha256 FROM cases WHERE item = 'toy/set1/a b'").fetchall()[0]
        sharp = store.con.execute(
            "SELECT value FROM scores JOIN cases USING (case_id) WHERE item = 'toy/set1/a b' AND metric = 'sharpness'"
        ).fetchall()[0][0]
    assert new_sha == sha and hashlib.sha256(Path(path).read_bytes()).hexdigest() == sha
    assert sharp > 0  # the real output's score, not the black image's 0


# -- 3. a value the database cannot hold, a full disk, SIGTERM --------------------------------------

def test_a_seed_the_database_cannot_hold_is_a_spec_error(write_spec):
    path = write_spec("""
name: s
seeds: [0, 3000000000]
datasets: [{name: b, kind: lr_sets, source: builtin}]
methods: [{name: bicubic}]
metrics: [sharpness]
""")
    with pytest.raises(SpecError) as error:
        load_spec(path)
    (problem,) = error.value.problems
    assert problem.startswith(f"{path}:3: seeds[1]:") and "2147483647" in problem


@contextlib.contextmanager
def tiny_filesystem(path: Path, size: str = "64m"):
    """A size-limited tmpfs at ``path`` where the machine lets us mount one (root in a container),
    else None."""
    path.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    ).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill_disk(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\1" * 4096)
        except OSError:  # ENOSPC: not one more page fits
            pass
    return filler


def test_a_full_disk_stops_the_run_with_a_message_and_keeps_what_was_stored(tmp_path, monkeypatch):
    root = colliding_lr_set(tmp_path)
    spec = spec_for(root, "[sharpness]", tmp_path)
    with tiny_filesystem(tmp_path / "fs") as mounted:
        db = tmp_path / "fs" / "db.duckdb"
        run_spec(spec, db, tmp_path / "out")
        if mounted:
            filler = fill_disk(tmp_path / "fs")
        else:  # no tmpfs here: the database reports what DuckDB reports on a full disk
            def full(*args, **kwargs):
                raise duckdb.IOException('Could not write file "db.duckdb": No space left on device')

            monkeypatch.setattr(Store, "upsert", full)
        with pytest.raises(StoreWriteError) as error:
            run_spec(spec_for(root, "[sharpness, piqe]", tmp_path), db, tmp_path / "out")
        assert "is full" in str(error.value) and "resume" in str(error.value)
        if mounted:
            filler.unlink()
        monkeypatch.undo()
        with Store(db, read_only=True) as store:  # the first run's rows are intact
            assert store.con.execute("SELECT count(*) FROM scores WHERE metric = 'sharpness' AND status = 'ok'").fetchall() == [(4,)]
        summary = run_spec(spec_for(root, "[sharpness, piqe]", tmp_path), db, tmp_path / "out")
        assert summary.rescored == 4 and summary.executed == 0
        with Store(db, read_only=True) as store:
            statuses = [r[0] for r in store.con.execute("SELECT status FROM runs ORDER BY started_at").fetchall()]
    assert statuses[0] == "ok" and statuses[-1] == "ok" and "running" not in statuses


def test_a_refused_batch_marks_the_run_failed(tmp_path, monkeypatch):
    root = colliding_lr_set(tmp_path)
    db = tmp_path / "db.duckdb"
    original = Store.upsert

    def refuse_scores(self, table, rows):
        if table == "scores":
            raise duckdb.ConversionException("Type INT64 with value 3000000000 can't be cast to INT32")
        return original(self, table, rows)

    monkeypatch.setattr(Store, "upsert", refuse_scores)
    with pytest.raises(StoreWriteError, match="could not store the last 4 finished case"):
        run_spec(spec_for(root, "[sharpness]", tmp_path), db, tmp_path / "out")
    monkeypatch.undo()
    with Store(db, read_only=True) as store:
        assert store.con.execute("SELECT status FROM runs").fetchall() == [("failed",)]
        assert store.con.execute("SELECT count(*) FROM cases").fetchall() == [(0,)]  # all or nothing


def test_sigterm_stops_a_run_like_ctrl_c(tmp_path):
    """SIGTERM: no traceback from the parent or its workers, finished cases stored, run marked
    interrupted, and a re-run completes exactly the rest."""
    root = colliding_lr_set(tmp_path)
    spec = tmp_path / "slow.yaml"
    spec.write_text(f"""
name: slow
workers: 2
datasets:
  - {{name: toy, kind: lr_sets, root: {root}}}
methods:
  - {{name: test_slow, seconds: 3}}
metrics: [sharpness]
""")
    db = tmp_path / "db.duckdb"
    process = subprocess.Popen(
        [sys.executable, "-m", "restorebench.bench.cli", "run", str(spec), "--db", str(db), "--out", str(tmp_path / "out"), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((tmp_path / "out").rglob("*.png"))) < 2:
        time.sleep(0.1)
    time.sleep(1.5)  # the parent receives the two results; the next two cases are half-way
    os.killpg(process.pid, 15)  # the whole group, as a service manager or `timeout` does
    out, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert "Traceback" not in err and "stopped by SIGTERM" in err
    with Store(db, read_only=True) as store:
        (status,) = store.con.execute("SELECT status FROM runs").fetchall()[0]
        (stored,) = store.con.execute("SELECT count(*) FROM cases WHERE status = 'ok'").fetchall()[0]
    assert status == "interrupted" and 1 <= stored < 4
    summary = run_spec(spec, db, tmp_path / "out")
    assert summary.executed == 4 - stored and summary.status_counts == {"ok": 4 - stored}
