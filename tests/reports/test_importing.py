"""Importing published per-image scores: formats, idempotence, errors, and the blind-SR study's
numbers recomputed from generated MANIQA files."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from restorebench.bench.cli import main
from restorebench.bench.store import Store
from restorebench.reports import analysis as an
from restorebench.reports.import_names import ImportPairingError, NameMatcher
from restorebench.reports.importing import (ImportFormatError, import_long, import_maniqa, import_records, read_long_csv,
                                            read_maniqa_csv)
from restorebench.reports.tables import TableOptions, board, dataset_leaderboard

DOMAINS = {"aerial": 4, "fauna": 2, "flora": 2, "medical": 2, "satellite": 4}  # 14 sets, as the study
TECHNIQUES = ["bicubic", "dan", "moesr", "blindsr", "kernelgan"]


def table_snapshot(db: Path) -> dict[str, list]:
    with Store(db, read_only=True) as store:
        return {t: sorted(map(str, store.table(t).to_pylist())) for t in ("runs", "cases", "scores", "imports", "metrics", "methods", "datasets")}


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    """5 techniques × 14 sets × 100 images of MANIQA output files, imported into one database."""
    root = tmp_path_factory.mktemp("maniqa")
    rng = np.random.default_rng(42)
    files = []
    for domain, n_sets in DOMAINS.items():
        for s in range(n_sets):
            name = f"{domain}-{s}"
            quality = rng.normal(0.5, 0.05, 100)  # shared per image: techniques agree partly
            for t, technique in enumerate(TECHNIQUES):
                scores = np.clip(quality + 0.02 * t + rng.normal(0, 0.04, 100), 0, 1)
                path = root / f"{name}_{technique}.txt"
                path.write_text("".join(f"img_{i:03d}.png,{v:.6f}\n" for i, v in enumerate(scores)))
                files.append({"path": path, "dataset": name, "domain": domain, "method": technique})
    db = root / "study.duckdb"
    # One open database for the 70 files (what import_maniqa does per file, minus re-opening).
    with Store(db) as store:
        for f in files:
            records = read_maniqa_csv(f["path"], dataset=f["dataset"], method=f["method"], domain=f["domain"])
            result = import_records(store, records, source=f["path"], fmt="maniqa")
            assert not result.skipped and result.n_scores == 100
    return {"db": db, "files": files}


def pandas_frame(files: list[dict]) -> pd.DataFrame:
    """The same files read by pandas alone."""
    frames = []
    for f in files:
        frame = pd.read_csv(f["path"], header=None, names=["image", "value"])
        frames.append(frame.assign(dataset=f["dataset"], method=f["method"], domain=f["domain"]))
    return pd.concat(frames, ignore_index=True)


def test_per_set_means_and_stds_equal_pandas(study):
    expected = pandas_frame(study["files"]).groupby(["dataset", "method"])["value"].agg(["count", "mean", "std"])
    with Store(study["db"], read_only=True) as store:
        results = store.query("SELECT * FROM results").to_pandas()
    assert len(results) == 5 * 14 * 100 and set(results["origin"]) == {"import"} and set(results["status"]) == {"ok"}
    sets = board(an.per_image_scores(results), directions={"maniqa": True}, by=("task", "domain", "dataset", "group_name"),
                 options=TableOptions(n_resamples=99))
    assert len(sets) == 70
    for r in sets.to_dict("records"):
        e = expected.loc[(r["dataset"], r["label"])]
        assert r["n"] == e["count"]
        assert r["mean"] == pytest.approx(e["mean"], rel=1e-12)
        assert r["std"] == pytest.approx(e["std"], rel=1e-12)


def test_behaviour_analysis_on_imports_equals_independent_computation(study):
    raw = pandas_frame(study["files"])
    # Independent: the two best techniques by pooled mean, then per set the overlaps of their
    # 10 lowest and 10 highest images (ties by name), then scipy across the 14 sets.
    top = raw.groupby("method")["value"].mean().sort_values(ascending=False).index[:2].tolist()
    low_counts, high_counts = [], []
    for dataset in sorted(raw["dataset"].unique()):
        per = {m: raw[(raw.dataset == dataset) & (raw.method == m)].set_index("image")["value"].to_dict() for m in top}
        ordered = {m: sorted(per[m], key=lambda i: (per[m][i], i)) for m in top}
        ordered_high = {m: sorted(per[m], key=lambda i: (-per[m][i], i)) for m in top}
        low_counts.append(len(set(ordered[top[0]][:10]) & set(ordered[top[1]][:10])))
        high_counts.append(len(set(ordered_high[top[0]][:10]) & set(ordered_high[top[1]][:10])))

    with Store(study["db"], read_only=True) as store:
        results = store.query("SELECT * FROM results").to_pandas()
    result = an.behaviour_analysis(an.per_image_scores(results), metric="maniqa", higher_is_better=True, k=10)
    assert [v.removeprefix("import:") for v in result["variants"]] == top
    overlaps = result["overlaps"]
    assert list(overlaps["low_overlap"]) == low_counts and list(overlaps["high_overlap"]) == high_counts
    st = result["statistics"]
    assert st["n_sets"] == 14
    assert st["shapiro_low_w"] == pytest.approx(stats.shapiro(low_counts).statistic)
    assert st["shapiro_high_p"] == pytest.approx(stats.shapiro(high_counts).pvalue)
    assert st["kendall_tau"] == pytest.approx(stats.kendalltau(low_counts, high_counts).statistic)
    assert st["kendall_p"] == pytest.approx(stats.kendalltau(low_counts, high_counts).pvalue)
    assert st["pearson_r"] == pytest.approx(stats.pearsonr(low_counts, high_counts).statistic)
    assert st["spearman_p"] == pytest.approx(stats.spearmanr(low_counts, high_counts).pvalue)


def test_imports_are_recorded_with_provenance(study):
    with Store(study["db"], read_only=True) as store:
        imports = store.table("imports").to_pandas()
        runs = store.table("runs").to_pandas()
        datasets = store.table("datasets").to_pandas().set_index("name")
        metric = store.query("SELECT * FROM metrics WHERE name = 'maniqa'").to_pylist()[0]
    assert len(imports) == 70 and set(imports["format"]) == {"maniqa"}
    assert all(len(s) == 64 for s in imports["source_sha256"])
    assert set(runs["kind"]) == {"import"} and set(runs["run_id"]) == set(imports["run_id"])
    assert datasets.loc["aerial-0", "n_items"] == 100 and datasets.loc["aerial-0", "task"] == "sr"
    assert metric["higher_is_better"] is True


def test_importing_the_same_file_twice_changes_nothing(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("dataset,method,image,metric,value,domain\nset1,m1,a.png,niqe,5.5,aerial\nset1,m1,b.png,niqe,inf,aerial\n")
    db = tmp_path / "db.duckdb"
    first = import_long(db, path)
    assert not first.skipped and first.n_scores == 2
    before = table_snapshot(db)
    second = import_long(db, path)
    assert second.skipped and second.run_id == first.run_id
    assert table_snapshot(db) == before
    with Store(db, read_only=True) as store:
        values = sorted(store.query("SELECT value FROM scores").column("value").to_pylist())
    assert values == [5.5, math.inf]


def test_a_corrected_file_replaces_scores_instead_of_duplicating(tmp_path):
    db = tmp_path / "db.duckdb"
    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    old.write_text("a.png,0.5\nb.png,0.6\n")
    new.write_text("a.png,0.7\nb.png,0.6\n")
    import_maniqa(db, old, dataset="s", method="m")
    import_maniqa(db, new, dataset="s", method="m")
    with Store(db, read_only=True) as store:
        rows = store.query("SELECT item, value FROM results ORDER BY item").to_pylist()
    assert rows == [{"item": "a.png", "value": 0.7}, {"item": "b.png", "value": 0.6}]


def test_long_csv_columns_in_any_order_with_task(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("\ufeffvalue,metric,image,method,dataset,task\n31.5,psnr,x.png,wiener,blur1,deblur\n")
    (record,) = read_long_csv(path)
    assert (record.dataset, record.method, record.image, record.metric, record.value, record.task) == ("blur1", "wiener", "x.png", "psnr", 31.5, "deblur")


@pytest.mark.parametrize("text, message", [
    ("dataset,method,image,metric\n", ":1: missing column(s) value"),
    ("dataset,method,image,metric,value,vaule\n", ":1: unknown column(s) vaule"),
    ("dataset,method,image,metric,value\nd,m,i,psnr,abc\n", ":2: value 'abc' is not a number"),
    ("dataset,method,image,metric,value\nd,m,i,psnr,1\n\nd,m,i,psnr,2\n", ":4: duplicate score for dataset 'd', method 'm', image 'i', metric 'psnr' (first on line 2)"),
    ("dataset,method,image,metric,value\nd,m,,psnr,1\n", ":2: empty image"),
    ("dataset,method,image,metric,value\nd,m,i,psnr\n", ":2: 4 fields, the header has 5"),
    ("dataset,method,image,metric,value,task\nd,m,i,psnr,1,denoise\n", ":2: task 'denoise' is not one of deblur, sr"),
    ("dataset,method,image,metric,value\nd,m,i,psnr,nan\n", ":2: value is NaN"),
    ("dataset,method,image,metric,value\n", ": no scores after the header"),
    ("", ": empty file"),
])
def test_bad_long_csv_names_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ImportFormatError) as error:
        read_long_csv(path)
    assert str(error.value).startswith(str(path)) and message in str(error.value)


@pytest.mark.parametrize("text, message", [
    ("a.png,0.5\nb.png\n", ":2: expected 'filename,score'"),
    ("a.png,0.5\nb.png,high\n", ":2: score 'high' is not a number"),
    ("a.png,0.5\na.png,0.6\n", ":2: image 'a.png' appears twice (first on line 1)"),
    (",0.5\n", ":1: empty file name"),
    ("\n\n", ": no scores"),
])
def test_bad_maniqa_file_names_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ImportFormatError) as error:
        read_maniqa_csv(path, dataset="s", method="m")
    assert str(error.value).startswith(str(path)) and message in str(error.value)


def test_maniqa_names_with_commas_and_array_scores(tmp_path):
    path = tmp_path / "out.txt"
    path.write_bytes(b"a,b.png,0.25\r\nc.png,[0.5]\r\n")
    records = read_maniqa_csv(path, dataset="s", method="m", domain="aerial")
    assert [(r.image, r.value, r.line, r.domain) for r in records] == [("a,b.png", 0.25, 1, "aerial"), ("c.png", 0.5, 2, "aerial")]


def test_not_utf8_and_missing_file(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("a.png,0.5\n\xe9.png,0.4\n".encode("latin-1"))
    with pytest.raises(ImportFormatError, match=r"latin1.txt:2: not UTF-8"):
        read_maniqa_csv(path, dataset="s", method="m")
    with pytest.raises(ImportFormatError, match="no such file"):
        read_maniqa_csv(tmp_path / "missing.txt", dataset="s", method="m")


def test_cli_import_commands(tmp_path, capsys):
    db = tmp_path / "cli.duckdb"
    maniqa = tmp_path / "set1_dan.txt"
    maniqa.write_text("a.png,0.5\nb.png,0.6\n")
    assert main(["import", "maniqa", str(maniqa), "--dataset", "set1", "--method", "dan", "--domain", "aerial", "--db", str(db)]) == 0
    assert "imported 2 scores (2 cases)" in capsys.readouterr().out
    assert main(["import", "maniqa", str(maniqa), "--dataset", "set1", "--method", "dan", "--db", str(db)]) == 0
    assert "already imported" in capsys.readouterr().out

    long = tmp_path / "long.csv"
    with open(long, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["dataset", "method", "image", "metric", "value"])
        writer.writerow(["set1", "dan", "a.png", "niqe", "4.2"])
    assert main(["import", "long", str(long), "--db", str(db)]) == 0
    with Store(db, read_only=True) as store:
        rows = store.query("SELECT metric, count(*) AS n FROM results GROUP BY metric ORDER BY metric").to_pylist()
        niqe_direction = store.query("SELECT higher_is_better FROM metrics WHERE name = 'niqe'").to_pylist()[0]
    assert rows == [{"metric": "maniqa", "n": 2}, {"metric": "niqe", "n": 1}]
    assert niqe_direction["higher_is_better"] is False

    bad = tmp_path / "bad.csv"
    bad.write_text("a.png,zero\n")
    assert main(["import", "maniqa", str(bad), "--dataset", "s", "--method", "m", "--db", str(db)]) == 2
    assert f"restorebench: error: {bad}:1: score 'zero' is not a number" in capsys.readouterr().err


def test_imports_keep_the_file_name_and_the_source_and_claim_no_machine(tmp_path):
    path = tmp_path / "published.csv"
    path.write_text("dataset,method,image,metric,value\nset1,dan,a.png,maniqa,0.5\nset1,dan,b.png,maniqa,0.6\n")
    db = tmp_path / "db.duckdb"
    assert main(["import", "long", str(path), "--db", str(db), "--source", "Table 3 of the study", "--paper", "doi:10/xyz"]) == 0
    with Store(db, read_only=True) as store:
        (imported,) = store.table("imports").to_pylist()
        (run,) = store.table("runs").to_pylist()
        (metric,) = store.table("metrics").to_pylist()
    assert imported["path"] == "published.csv" and run["spec_path"] == "published.csv"
    assert str(tmp_path) not in str(run) and run["machine"] is None
    options = json.loads(run["spec_text"])
    assert options["source"] == "Table 3 of the study" and options["paper"] == "doi:10/xyz" and options["metrics"] == ["maniqa"]
    # direction from the registry, but no harness settings claimed for scores computed elsewhere
    assert metric["higher_is_better"] is True and metric["conventions"].startswith("imported")


def unpaired_study(root: Path) -> Path:
    """Two methods on one set whose output names never match (a generative technique names its
    outputs by seed), a third that pairs with the first, and a fourth with one image."""
    rng = np.random.default_rng(3)
    lines = ["dataset,method,image,metric,value"]
    quality = rng.normal(0.5, 0.05, 40)
    for i in range(40):
        lines.append(f"lr,dan,{i:04d}.png,maniqa,{quality[i] + 0.10:.6f}")
        lines.append(f"lr,bicubic,{i:04d}.png,maniqa,{quality[i] + 0.02 + rng.normal(0, 0.001):.6f}")
        lines.append(f"lr,fastgan,seed{1000 + i}_res.png,maniqa,{quality[i] - 0.02 + rng.normal(0, 0.01):.6f}")
    lines.append("lr,apa,only.png,maniqa,0.9")
    path = root / "unpaired.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_outputs_that_do_not_pair_are_compared_unpaired_and_reported(tmp_path, capsys):
    db = tmp_path / "db.duckdb"
    assert main(["import", "long", str(unpaired_study(tmp_path)), "--db", str(db)]) == 0
    warned = capsys.readouterr().err
    assert "'dan' and 'fastgan' on dataset 'lr' (maniqa) share no image name" in warned
    with Store(db, read_only=True) as store:
        rows = dataset_leaderboard(store, options=TableOptions(n_resamples=99))
    verdicts = rows.set_index("label")
    assert verdicts.loc["apa", "rank"] == 1  # one image, the highest mean: the best of the column
    # every other method: 0 pairs with APA's single image, and one image cannot be tested
    for label in ("dan", "bicubic", "fastgan"):
        assert verdicts.loc[label, "n_pairs"] == 0 and verdicts.loc[label, "test"] == "not tested"
        assert verdicts.loc[label, "significant"] is None  # "not tested", never "no"

    # without APA, DAN is the best; bicubic pairs with it (paired test), FastGAN does not (unpaired)
    with Store(db, read_only=True) as store:
        from restorebench.reports.tables import directions, image_slices

        (_, _, image), = list(image_slices(store))
        out = board(image[image["label"] != "apa"], by=("task", "dataset"), directions=directions(store),
                    options=TableOptions(n_resamples=99)).set_index("label")
    assert out.loc["dan", "test"] == "best"
    assert out.loc["bicubic", "test"].startswith("Wilcoxon") and out.loc["bicubic", "n_pairs"] == 40
    assert out.loc["fastgan", "test"].startswith("Mann–Whitney") and out.loc["fastgan", "n_pairs"] == 0
    assert out.loc["fastgan", "significant"] is True and out.loc["bicubic", "significant"] is True


def study_like_files(root: Path) -> tuple[Path, Path]:
    """A study's per-image scores where MANIQA's tool named the outputs ``0001_res.png`` and
    the NIQE script ``0001.png``: 2 methods × 200 outputs, 2 metrics."""
    rng = np.random.default_rng(4)
    lines = ["dataset,method,image,metric,value,domain"]
    for method in ("dan", "moesr"):
        for i in range(200):
            lines.append(f"potsdam,{method},{i:04d}_res.png,maniqa,{rng.uniform(0.3, 0.7):.6f},aerial")
            lines.append(f"potsdam,{method},{i:04d}.png,niqe,{rng.uniform(3, 7):.6f},aerial")
    scores = root / "study.csv"
    scores.write_text("\n".join(lines) + "\n")
    mapping = root / "names.csv"
    mapping.write_text("image,item\n" + "".join(f"{i:04d}_res.png,{i:04d}.png\n" for i in range(200)))
    return scores, mapping


def test_metrics_that_name_images_differently_are_refused_then_paired_by_a_mapping(tmp_path, capsys):
    scores, mapping = study_like_files(tmp_path)
    db = tmp_path / "db.duckdb"
    assert main(["import", "long", str(scores), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "metrics 'maniqa' and 'niqe' of method 'dan' on dataset 'potsdam' share no image name" in err
    assert "--match-stem" in err and "--map" in err
    with Store(db, read_only=True) as store:
        assert store.query("SELECT count(*) AS n FROM cases").to_pylist()[0]["n"] == 0  # nothing written

    for option, db in ((["--match-stem", r"(\d{4})"], tmp_path / "stem.duckdb"), (["--map", str(mapping)], tmp_path / "map.duckdb")):
        assert main(["import", "long", str(scores), "--db", str(db), *option]) == 0
        with Store(db, read_only=True) as store:
            cases = store.query("SELECT method, count(*) AS n FROM cases GROUP BY method ORDER BY method").to_pylist()
            per_case = store.query("SELECT count(DISTINCT metric) AS m FROM scores GROUP BY case_id").column("m").to_pylist()
            n_items = store.query("SELECT n_items FROM datasets WHERE name = 'potsdam'").to_pylist()[0]["n_items"]
            (run,) = store.table("runs").to_pylist()
        # one case per output with both of its scores: 200 images, not 400
        assert cases == [{"method": "dan", "n": 200}, {"method": "moesr", "n": 200}]
        assert set(per_case) == {2} and n_items == 200
        assert json.loads(run["spec_text"])["match"].startswith(option[0])


def test_a_mapping_that_merges_two_outputs_is_refused(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("dataset,method,image,metric,value\nd,m,a_1.png,niqe,1\nd,m,b_1.png,niqe,2\n")
    with pytest.raises(ImportPairingError, match="the same item '1'"):
        import_long(tmp_path / "db.duckdb", path, matcher=NameMatcher.from_options(match_stem=r"_(\d+)"))
