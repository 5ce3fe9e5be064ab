"""Time our metrics against IQA-PyTorch (``pyiqa``) on the same image, in the same process.

Run it with a Python that has ``pyiqa`` (never install it into the project's environment; use a
throwaway venv) and this repository on ``PYTHONPATH``::

    python3 -m venv /tmp/pyiqa-venv
    /tmp/pyiqa-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 pyiqa==0.1.16
    PYTHONPATH=/work/main /tmp/pyiqa-venv/bin/python tests/perf/compare_pyiqa.py \\
        --calibration ../shared/calibration

pyiqa fetches its NIQE and BRISQUE parameter files from the network on first use. This script
writes them itself, from this package's LIVE data, into a private ``TORCH_HOME`` (pyiqa reads
``<TORCH_HOME>/hub/pyiqa/niqe_modelparameters.mat`` with keys ``mu_prisparam``/``cov_prisparam``,
and ``brisque_svm_weights.pth`` holding ``(sv_coef, sv)`` tensors), so nothing is downloaded.

It prints both libraries' values next to the official ones on every calibration image, then,
for each thread budget (1 and 2 by default: both libraries get the same number of threads), our
time, pyiqa's time and their ratio on the timing image (I03 by default; median over repeats, the
two libraries measured alternately so that machine load hits both alike). Without ``pyiqa`` it
says so and exits 0.
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# (our name, pyiqa name, kind); the four the speed target is about come first.
METRICS = [
    ("niqe", "niqe", "NR"),
    ("brisque", "brisque", "NR"),
    ("piqe", "piqe", "NR"),
    ("ssim", "ssim", "FR"),
    ("ms_ssim", "ms_ssim", "FR"),
    ("psnr", "psnr", "FR"),
]
SPEED_TARGET = {"niqe": 3.0, "brisque": 3.0, "piqe": 3.0, "ssim": 3.0}


def write_pyiqa_parameter_files(torch_home: Path) -> None:
    """pyiqa's NIQE .mat and BRISQUE .pth, made from this package's LIVE parameter data."""
    import scipy.io
    import torch

    from restorebench.metrics.brisque import live_model
    from restorebench.metrics.niqe import pristine_model

    folder = torch_home / "hub" / "pyiqa"
    folder.mkdir(parents=True, exist_ok=True)
    mu, cov = pristine_model()
    scipy.io.savemat(folder / "niqe_modelparameters.mat", {"mu_prisparam": mu[None, :], "cov_prisparam": cov})
    model, _ = live_model()
    torch.save(
        (torch.from_numpy(model.coefficients.copy()), torch.from_numpy(model.support_vectors.copy())),
        folder / "brisque_svm_weights.pth",
    )


def read_official(path: Path) -> dict[str, dict[str, float]]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    images = [key for key in rows[0] if key != "metric"]
    return {row["metric"]: {image: float(row[image]) for image in images} for row in rows}


def median_ms(samples: list[float]) -> float:
    return 1000.0 * statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--calibration",
        type=Path,
        default=Path(os.environ.get("RESTOREBENCH_CALIBRATION_DIR", "../shared/calibration")),
        help="folder with ref/, dist/ and official.csv",
    )
    parser.add_argument("--image", default="I03", help="image (stem) to time on")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per library and metric")
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[1, 2],
        help="thread budgets to compare at; each runs both libraries with that many threads "
        "(torch.set_num_threads and metrics.nss.set_metric_threads); default: 1 and 2",
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="pyiqa-params-") as folder:
        # TORCH_HOME before pyiqa is imported: it computes its cache folder at import time.
        os.environ["TORCH_HOME"] = folder
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import pyiqa
            import torch
        except ImportError as exc:
            print(f"pyiqa is not importable here ({exc}); nothing to compare. See this script's docstring.")
            return 0
        return compare(args, pyiqa, torch, Path(folder))


def compare(args: argparse.Namespace, pyiqa, torch, torch_home: Path) -> int:
    """Write pyiqa's parameter files, then print the values and the timing tables."""

    from restorebench import metrics
    from restorebench.metrics.imageio import load_image
    from restorebench.metrics.nss import set_metric_threads

    write_pyiqa_parameter_files(torch_home)
    official = read_official(args.calibration / "official.csv")
    images = sorted(p.stem for p in (args.calibration / "dist").glob("*.bmp"))
    arrays = {
        stem: (load_image(args.calibration / "dist" / f"{stem}.bmp"), load_image(args.calibration / "ref" / f"{stem}.bmp"))
        for stem in images
    }

    def to_tensor(array: np.ndarray):
        return torch.from_numpy(array.copy()).permute(2, 0, 1)[None].float() / 255.0

    tensors = {stem: (to_tensor(d), to_tensor(r)) for stem, (d, r) in arrays.items()}
    print(f"pyiqa {pyiqa.__version__}, torch {torch.__version__}, numpy {np.__version__}; timing image "
          f"{args.image} {arrays[args.image][0].shape[1]}×{arrays[args.image][0].shape[0]}, median of "
          f"{args.repeats} runs each, the two libraries measured alternately")
    built = {}
    values = {}
    for ours_name, pyiqa_name, kind in METRICS:
        ours = metrics.get(ours_name)
        theirs = pyiqa.create_metric(pyiqa_name, device=torch.device("cpu"))
        built[ours_name] = (ours, theirs, kind)

    def run_ours(name: str, stem: str) -> float:
        ours, _, kind = built[name]
        dist, ref = arrays[stem]
        return ours(dist, ref) if kind == "FR" else ours(dist)

    def run_theirs(name: str, stem: str) -> float:
        _, theirs, kind = built[name]
        dist, ref = tensors[stem]
        with torch.no_grad():
            value = theirs(dist, ref) if kind == "FR" else theirs(dist)
        return float(value)

    for name in built:
        values[name] = {stem: (run_ours(name, stem), run_theirs(name, stem)) for stem in images}
    print()
    print("values (official = the authors' code, calibration/official.csv):")
    header = f"{'metric':<9}" + "".join(f"{stem + ' official':>14}{'ours':>10}{'Δ':>9}{'pyiqa':>10}{'Δ':>9}" for stem in images)
    print(header)
    for name in built:
        cells = []
        for stem in images:
            reference = official.get(name, {}).get(stem, float("nan"))
            ours_value, theirs_value = values[name][stem]
            cells.append(
                f"{reference:>14.4f}{ours_value:>10.4f}{ours_value - reference:>+9.4f}"
                f"{theirs_value:>10.4f}{theirs_value - reference:>+9.4f}"
            )
        print(f"{name:<9}" + "".join(cells))

    failures = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        set_metric_threads(threads)
        print()
        print(f"time per image, {threads} thread(s) each (torch.set_num_threads({threads}), RESTOREBENCH_METRIC_THREADS={threads}):")
        print(f"{'metric':<9}{'ours ms':>9}{'pyiqa ms':>10}{'ratio':>8}")
        for name in built:
            run_ours(name, args.image), run_theirs(name, args.image)  # warm up at this thread count
            ours_times, theirs_times = [], []
            for _ in range(args.repeats):
                start = time.perf_counter()
                run_ours(name, args.image)
                ours_times.append(time.perf_counter() - start)
                start = time.perf_counter()
                run_theirs(name, args.image)
                theirs_times.append(time.perf_counter() - start)
            ours_ms, theirs_ms = median_ms(ours_times), median_ms(theirs_times)
            ratio = theirs_ms / ours_ms
            print(f"{name:<9}{ours_ms:>9.2f}{theirs_ms:>10.2f}{ratio:>7.1f}×")
            target = SPEED_TARGET.get(name)
            if target is not None and ratio < target:
                failures.append(f"{name} at {threads} thread(s): {ratio:.1f}× < {target}×")
    set_metric_threads(None)
    print()
    print("speed target (≥3× for niqe, brisque, piqe, ssim): " + ("met" if not failures else "NOT met: " + "; ".join(failures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
