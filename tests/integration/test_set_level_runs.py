"""Set-level methods in the harness: one training per set (a shared preparation), one case per
sample, full-reference metrics not applicable, resume and a second run that trains nothing."""
from __future__ import annotations

import duckdb
import numpy as np
from PIL import Image

from restorebench.bench.runner import RunOptions, run
from restorebench.bench.spec import load_spec
from restorebench.models import setlevel


def lr_sets(root):
    rng = np.random.default_rng(5)
    for name in ("a", "b"):
        folder = root / "lr" / "dom" / name
        (folder / "HR").mkdir(parents=True)
        for i in range(3):
            hr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(hr).save(folder / "HR" / f"{i}.png")
            Image.fromarray(hr[::2, ::2]).save(folder / f"{i}.png")
    return root / "lr"


def test_a_gan_trains_once_per_set_and_its_samples_are_cases(tmp_path, write_spec):
    spec = write_spec(f"""
name: gen
workers: 0
datasets: [{{name: toy, kind: lr_sets, root: {lr_sets(tmp_path)}}}]
methods:
  - {{name: bicubic}}
  - {{name: fastgan, profile: fast, iterations: 2, batch: 2, ngf: 4, ndf: 4, decoder_width: 4, samples_per_set: 3, sample_batch: 3}}
metrics: [psnr, sharpness]
""")
    db = tmp_path / "db.duckdb"
    before = dict(setlevel.COUNTS)
    first = run(load_spec(spec), RunOptions(db=db, out_dir=tmp_path / "out", progress=False))
    assert setlevel.COUNTS["trained"] - before["trained"] == 2  # one training per set, not per sample
    assert first.status_counts == {"ok": 6 + 6}  # bicubic: 6 images; fastgan: 2 sets × 3 samples
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT c.item, c.sample, s.metric, s.status FROM scores s JOIN cases c USING (case_id) WHERE c.method = 'fastgan'"
        ).fetchall()
        preparations = con.execute("SELECT status, count(*) FROM preparations GROUP BY ALL").fetchall()
        sizes = con.execute("SELECT DISTINCT width, height FROM cases WHERE method = 'fastgan'").fetchall()
    assert {(item, sample) for item, sample, _, _ in rows} == {(s, k) for s in ("dom/a", "dom/b") for k in range(3)}
    assert {status for _, _, metric, status in rows if metric == "psnr"} == {"not_applicable"}
    assert {status for _, _, metric, status in rows if metric == "sharpness"} == {"ok"}
    assert preparations == [("ok", 2)] and sizes == [(256, 256)]
    # a second run finds everything: no training, no case
    again = run(load_spec(spec), RunOptions(db=db, out_dir=tmp_path / "out", progress=False))
    assert again.executed == 0 and setlevel.COUNTS["trained"] - before["trained"] == 2


def test_training_progress_reaches_the_progress_bar_from_a_worker_process(tmp_path, write_spec, capfd):
    spec = write_spec(f"""
name: gen
workers: 1
datasets: [{{name: toy, kind: lr_sets, root: {lr_sets(tmp_path)}, sets: [a]}}]
methods:
  - {{name: fastgan, profile: fast, iterations: 4, batch: 2, ngf: 4, ndf: 4, decoder_width: 4, samples_per_set: 1, sample_batch: 1}}
metrics: [sharpness]
""")
    summary = run(load_spec(spec), RunOptions(db=tmp_path / "db.duckdb", out_dir=tmp_path / "out", progress=True))
    assert summary.status_counts == {"ok": 1}
    err = capfd.readouterr().err
    # the worker's training reports travel to the runner, which shows them in the bar's description
    assert "training fastgan set of dom/a: iteration 4/4" in err, err[-2000:]


def test_each_generated_sample_is_one_image_on_the_leaderboard(tmp_path, write_spec):
    from restorebench.bench.store import Store
    from restorebench.reports.stats import UNPAIRED_TEST
    from restorebench.reports.tables import TableOptions, dataset_leaderboard

    spec = write_spec(f"""
name: gen
workers: 0
datasets: [{{name: toy, kind: lr_sets, root: {lr_sets(tmp_path)}}}]
methods:
  - {{name: bicubic}}
  - {{name: fastgan, profile: fast, iterations: 2, batch: 2, ngf: 4, ndf: 4, decoder_width: 4, samples_per_set: 4, sample_batch: 4}}
  - {{name: fastgan, label: fastgan-wide, profile: fast, iterations: 2, batch: 2, ngf: 8, ndf: 4, decoder_width: 4, samples_per_set: 4, sample_batch: 4}}
metrics: [sharpness]
""")
    db = tmp_path / "db.duckdb"
    run(load_spec(spec), RunOptions(db=db, out_dir=tmp_path / "out", progress=False))
    with Store(db, read_only=True) as store:
        board = dataset_leaderboard(store, options=TableOptions(n_resamples=0))
        images = store.query("SELECT label, list(DISTINCT image) AS images FROM rb_image GROUP BY label").to_pylist()
    images = {row["label"]: set(row["images"]) for row in images}
    assert not images["fastgan"] & images["fastgan-wide"] and not images["fastgan"] & images["bicubic"]
    n = dict(zip(board["label"], board["n"]))
    # 2 sets × 4 samples are 8 generated images (not 2 set means); bicubic restores 2 × 3 images
    assert n == {"fastgan": 8, "fastgan-wide": 8, "bicubic": 6}
    # every method that is not the best is compared with it through the unpaired test: nothing
    # pairs, not even sample k of one GAN with sample k of the other
    others = board[board["rank"] != 1].to_dict("records")
    assert len(others) == 2 and all(o["test"] == UNPAIRED_TEST and o["n_pairs"] == 0 for o in others)
