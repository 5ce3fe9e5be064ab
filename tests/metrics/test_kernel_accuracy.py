"""Kernel accuracy: the centred relative error and the re-degradation PSNR against analytic values,
indifference to where a kernel sits in its array, the rows a case gets, and the runner storing
them for a method that exposes its kernel.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from restorebench.metrics import kernel_accuracy as KA
from restorebench.models.kernels import gaussian_kernel


def test_position_and_padding_are_not_errors():
    truth = gaussian_kernel(1.6, size=21)
    moved = np.zeros((30, 27))
    moved[3:24, 1:22] = truth  # off-centre by whole pixels, in a bigger, non-square array
    assert KA.kernel_error(moved, truth) < 1e-9
    from scipy.ndimage import shift

    half = shift(np.pad(truth, 3), (0.5, -0.5), order=3)  # half a pixel off (the ×2 cell centre)
    assert KA.kernel_error(half, truth) < 0.01
    assert KA.kernel_error(3.0 * truth, truth) < 1e-9  # normalised first


def test_error_of_two_gaussians_is_the_analytic_one():
    # ‖g_a − g_b‖² / ‖g_b‖² = b²/a² + 1 − 4b²/(a² + b²) for isotropic Gaussians (∫g_a g_b = 1/(2π(a² + b²))).
    for a, b in ((1.5, 2.0), (2.5, 1.8), (1.2, 1.2)):
        expected = math.sqrt(max(b * b / (a * a) + 1 - 4 * b * b / (a * a + b * b), 0.0))
        assert KA.kernel_error(gaussian_kernel(a, size=31), gaussian_kernel(b, size=31)) == pytest.approx(expected, abs=0.005)


def test_error_grows_with_the_distance_from_the_truth():
    truth = gaussian_kernel(2.0, size=21)
    errors = [KA.kernel_error(gaussian_kernel(s, size=21), truth) for s in (2.0, 1.7, 1.4, 1.1, 0.8)]
    assert errors[0] < 1e-9 and np.all(np.diff(errors) > 0)


def test_redegradation_psnr_of_a_cosine_is_the_analytic_one():
    # A cosine half-sample symmetric at both borders: reflected borders continue it exactly, and a
    # Gaussian of σ scales its amplitude by exp(−2π²σ²f²).
    n, f, amplitude = 64, 4 / 64, 100.0
    row = 128 + amplitude * np.cos(2 * np.pi * f * (np.arange(n) + 0.5))
    hr = np.repeat(np.tile(row, (n, 1))[..., None], 3, axis=2)
    sigma_e, sigma_t = 1.5, 2.0
    gain = lambda s: math.exp(-2 * math.pi**2 * s * s * f * f)  # noqa: E731
    mse = (amplitude * (gain(sigma_e) - gain(sigma_t))) ** 2 * 0.5  # mean cos² over the samples = ½
    expected = 10 * math.log10(255**2 / mse)
    value = KA.kernel_psnr(gaussian_kernel(sigma_e, size=21), gaussian_kernel(sigma_t, size=21), hr, scale=2)
    assert value == pytest.approx(expected, abs=0.05)
    assert KA.kernel_psnr(gaussian_kernel(2.0, size=21), gaussian_kernel(2.0, size=15), hr, scale=2) > 60
    assert KA.kernel_psnr(gaussian_kernel(2.0, size=21), gaussian_kernel(2.0, size=21), hr, scale=2) == math.inf


def test_case_rows(tmp_path):
    truth, estimate, hr = gaussian_kernel(1.5, size=21), gaussian_kernel(1.2, size=13), np.full((32, 32, 3), 90, np.uint8)
    common = dict(scale=2, case_id="c1", run_id="r1")
    assert KA.case_rows(None, truth=truth, hr=hr, artifact_path=tmp_path / "k.npy", **common) == {"scores": [], "artifacts": []}
    rows = KA.case_rows(estimate, truth=truth, hr=hr, artifact_path=tmp_path / "out" / "k.npy", **common)
    scores = {r["metric"]: r for r in rows["scores"]}
    assert set(scores) == {"kernel_error", "kernel_psnr"} and all(r["status"] == "ok" for r in scores.values())
    assert scores["kernel_error"]["value"] == pytest.approx(KA.kernel_error(estimate, truth))
    assert scores["kernel_psnr"]["value"] > 200  # a flat image looks the same through any kernel (up to rounding)
    (artifact,) = rows["artifacts"]
    import hashlib

    saved = tmp_path / "out" / "k.npy"
    assert artifact == {"case_id": "c1", "kind": "kernel", "path": str(saved), "sha256": hashlib.sha256(saved.read_bytes()).hexdigest()}
    np.testing.assert_array_equal(np.load(saved), estimate)
    # No truth: not applicable; no reference: only the PSNR is; a broken estimate: failed rows, no exception.
    no_truth = KA.case_rows(estimate, truth=None, hr=hr, artifact_path=None, **common)
    assert [r["status"] for r in no_truth["scores"]] == ["not_applicable"] * 2 and no_truth["artifacts"] == []
    no_hr = KA.case_rows(estimate, truth=truth, hr=None, artifact_path=None, **common)
    assert [r["status"] for r in no_hr["scores"]] == ["ok", "not_applicable"]
    broken = KA.case_rows(np.full((5, 5), np.nan), truth=truth, hr=hr, artifact_path=None, **common)
    assert [r["status"] for r in broken["scores"]] == ["failed"] * 2 and "finite" in broken["scores"][0]["error"]


@pytest.mark.usefixtures("one_torch_thread")
def test_runner_stores_the_kernel_of_a_method_that_exposes_one(tmp_path, write_spec, builtin_root):
    pytest.importorskip("torch")
    from restorebench.bench.runner import RunOptions, run
    from restorebench.bench.spec import load_spec
    from restorebench.bench.store import Store
    from restorebench.models.zssr import bicubic_kernel

    spec = write_spec("""
name: kernels
workers: 0
datasets:
  - {name: lr, kind: lr_sets, source: builtin, sets: [portraits-x2-iso], limit: 1}
  - {name: lr4, kind: lr_sets, source: builtin, sets: [moon-x4-iso], limit: 1}
methods:
  - {name: bicubic, datasets: [lr]}
  - {name: zssr, profile: fast, max_iters: 2, datasets: [lr]}
  # a chain's stages estimate kernels of their own factor (×2 here, scored against a ×4 kernel): none is scored
  - {label: zssr-bicubic, chain: [{name: zssr, scale: 2, profile: fast, max_iters: 2}, {name: bicubic, scale: 2}]}
metrics: [psnr]
""")
    summary = run(load_spec(spec), RunOptions(db=tmp_path / "db.duckdb", out_dir=tmp_path / "out", progress=False))
    assert summary.status_counts == {"ok": 3}
    with Store(tmp_path / "db.duckdb", read_only=True) as store:
        scores = store.con.execute("SELECT label, metric, status, value FROM results ORDER BY label, metric").fetchall()
        artifacts = store.con.execute("SELECT kind, path FROM artifacts WHERE kind = 'kernel'").fetchall()
    by_label = {(label, metric): (status, value) for label, metric, status, value in scores}
    assert set(by_label) == {("bicubic", "psnr"), ("zssr", "kernel_error"), ("zssr", "kernel_psnr"), ("zssr", "psnr"),
                             ("zssr-bicubic", "psnr")}
    truth = np.load(builtin_root / "lr_sets" / "natural" / "portraits-x2-iso" / "kernel.psf.npy")
    status, value = by_label[("zssr", "kernel_error")]
    assert status == "ok" and value == pytest.approx(KA.kernel_error(bicubic_kernel(2), truth))
    (kind, path), = artifacts
    np.testing.assert_array_equal(np.load(path), bicubic_kernel(2))


def test_metric_records_fit_the_metrics_table():
    from restorebench.bench.store import TABLES

    records = {r["name"]: r for r in KA.metric_records()}
    assert set(records) == {"kernel_error", "kernel_psnr"}
    assert not records["kernel_error"]["higher_is_better"] and records["kernel_psnr"]["higher_is_better"]
    assert all(set(r) == set(TABLES["metrics"]) for r in records.values())
