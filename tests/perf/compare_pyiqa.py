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
for each thread budget — 1, 2 and all the process may use by default; both libraries get the
same number (``torch.set_num_threads``; our metrics' ``threads`` parameter) — the time per image
(every calibration image in turn) of ours and of pyiqa's and their ratio. The two libraries are
measured alternately, ``--rounds`` times (3) ``--repeats`` runs each, and each side keeps its best
round's median, so that machine load hits both alike; CPU time per image is printed beside it
(other processes do not inflate it, so with one thread its ratio is the load-proof one). The load
average is printed with every table: a number measured on a busy machine says so. Without
``pyiqa`` it says so and exits 0.
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
SPEED_TARGET = 3.0  # ≥ 3× pyiqa per image for every metric above, at every thread budget


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


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def timed(run, stems: list[str], repeats: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds per image over ``repeats`` passes over ``stems``."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        for stem in stems:
            run(stem)
        wall.append((time.perf_counter() - start) / len(stems))
        cpu.append((time.process_time() - start_cpu) / len(stems))
    return 1000.0 * statistics.median(wall), 1000.0 * statistics.median(cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--calibration",
        type=Path,
        default=Path(os.environ.get("RESTOREBENCH_CALIBRATION_DIR", "../shared/calibration")),
        help="folder with ref/, dist/ and official.csv",
    )
    parser.add_argument("--images", nargs="+", help="images (stems) to time on (default: every calibration image)")
    parser.add_argument("--repeats", type=int, default=7, help="timed passes over the images per library, metric and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the two libraries (each keeps its best round)")
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        help="thread budgets to compare at; each runs both libraries with that many threads "
        "(torch.set_num_threads; our metrics' threads parameter); default: 1, 2 and all available",
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
    from restorebench.metrics.parallel import available_threads

    write_pyiqa_parameter_files(torch_home)
    official = read_official(args.calibration / "official.csv")
    images = sorted(p.stem for p in (args.calibration / "dist").glob("*.bmp"))
    timing = args.images or images
    budgets = args.threads or sorted({1, 2, available_threads()})
    arrays = {
        stem: (load_image(args.calibration / "dist" / f"{stem}.bmp"), load_image(args.calibration / "ref" / f"{stem}.bmp"))
        for stem in images
    }

    def to_tensor(array: np.ndarray):
        return torch.from_numpy(array.copy()).permute(2, 0, 1)[None].float() / 255.0

    tensors = {stem: (to_tensor(d), to_tensor(r)) for stem, (d, r) in arrays.items()}
    sizes = ", ".join(f"{stem} {arrays[stem][0].shape[1]}×{arrays[stem][0].shape[0]}" for stem in timing)
    print(f"pyiqa {pyiqa.__version__}, torch {torch.__version__}, numpy {np.__version__}; timing images {sizes}; "
          f"{args.rounds} rounds of the two libraries alternately, each the median of {args.repeats} passes, best round kept")
    theirs = {name: pyiqa.create_metric(pyiqa_name, device=torch.device("cpu")) for name, pyiqa_name, _ in METRICS}
    kinds = {name: kind for name, _, kind in METRICS}

    def run_ours(metric, stem: str) -> float:
        dist, ref = arrays[stem]
        return metric(dist, ref) if metric.kind == "FR" else metric(dist)

    def run_theirs(name: str, stem: str) -> float:
        dist, ref = tensors[stem]
        with torch.no_grad():
            value = theirs[name](dist, ref) if kinds[name] == "FR" else theirs[name](dist)
        return float(value)

    print()
    print("values (official = the authors' code, calibration/official.csv):")
    print(f"{'metric':<9}" + "".join(f"{stem + ' official':>14}{'ours':>10}{'Δ':>9}{'pyiqa':>10}{'Δ':>9}" for stem in images))
    for name in theirs:
        ours = metrics.get(name)
        cells = []
        for stem in images:
            reference = official.get(name, {}).get(stem, float("nan"))
            ours_value, theirs_value = run_ours(ours, stem), run_theirs(name, stem)
            cells.append(
                f"{reference:>14.4f}{ours_value:>10.4f}{ours_value - reference:>+9.4f}"
                f"{theirs_value:>10.4f}{theirs_value - reference:>+9.4f}"
            )
        print(f"{name:<9}" + "".join(cells))

    failures = []
    for threads in budgets:
        torch.set_num_threads(threads)
        print()
        print(f"time per image, {threads} thread(s) each (torch.set_num_threads({threads}); threads={threads}); {load_average()}:")
        print(f"{'metric':<9}{'ours ms':>9}{'pyiqa ms':>10}{'ratio':>8}{'ours cpu':>10}{'pyiqa cpu':>11}{'cpu ratio':>10}")
        for name in theirs:
            ours = metrics.get(name, threads=threads)
            for stem in timing:  # warm up at this thread count
                run_ours(ours, stem), run_theirs(name, stem)
            best_ours, best_theirs = (float("inf"), 0.0), (float("inf"), 0.0)
            for _ in range(args.rounds):
                best_ours = min(best_ours, timed(lambda stem: run_ours(ours, stem), timing, args.repeats))
                best_theirs = min(best_theirs, timed(lambda stem: run_theirs(name, stem), timing, args.repeats))
            ratio, cpu_ratio = best_theirs[0] / best_ours[0], best_theirs[1] / best_ours[1]
            print(f"{name:<9}{best_ours[0]:>9.2f}{best_theirs[0]:>10.2f}{ratio:>7.1f}×"
                  f"{best_ours[1]:>10.2f}{best_theirs[1]:>11.2f}{cpu_ratio:>9.1f}×")
            if ratio < SPEED_TARGET:
                failures.append(f"{name} at {threads} thread(s): {ratio:.1f}×")
        print(f"  ({load_average()} at the end)")
    print()
    names = ", ".join(theirs)
    print(f"speed target (≥{SPEED_TARGET:g}× for {names}): " + ("met" if not failures else "NOT met: " + "; ".join(failures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
