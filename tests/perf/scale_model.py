"""The cost model of the two paper specs, measured here on small inputs and extrapolated.

Each component's CPU time (``time.process_time``: the CPU-seconds it used, which a shared,
busy machine inflates far less than wall time) is measured with ``--threads`` torch threads
(default 1: no thread waits for another) and extrapolated linearly to the study's settings; the
table in ``site/docs/harness.md`` ("Scale numbers on paper") comes from this script.

- SinGAN ``paper`` training of a 256×256 photo: seconds per iteration at each of its 10 scales
  (difference of blocks of 1 and 3 iterations, after a warm-up), × 2000 iterations;
- SinGAN generation: one sample at each start scale 1…9 of that pyramid (the pyramid's weights do
  not change its cost), then phase registration and the metrics psnr, ssim, nima (IQA-PyTorch's
  network), niqe, brisque, piqe and sharpness on the 256×256 output;
- DAN v1 ×2, MoESR ×2 (``real``; fine-tuning: difference of 2 and 6 iterations, × 1000) and BlindSR
  (``paper`` grid: 144 kernel candidates, 50 refinement passes; difference of 1 and 3 passes)
  on 64×64 LR images, and the study's NIQE (``skvideo``) and MANIQA (``study``) on an output of
  the ×8 size;
- NIMA and MANIQA run randomly initialised networks of the official architectures, and DAN, MoESR
  and BlindSR random checkpoints in the official layouts: their time does not depend on the weights.

    .venv/bin/python tests/perf/scale_model.py [--threads 1] [--lr 64] [--parts training,sample,blindsr]

Each part is printed as soon as it is measured.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _seconds(function, repeats: int = 1) -> float:
    """CPU-seconds of ``function()``, the least of ``repeats`` calls."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        function()
        best = min(best, time.process_time() - start)
    return best


def photo(size: int = 256) -> np.ndarray:
    from skimage import data

    from restorebench.metrics.matlab import imresize

    return imresize(data.astronaut(), output_shape=(size, size))


def singan_training(image: np.ndarray) -> list[tuple[tuple[int, int], float]]:
    """``(shape, seconds per iteration)`` of each scale of the paper pyramid of ``image``."""
    import torch

    from restorebench.models.singan.geometry import pyramid_geometry
    from restorebench.models.singan.pyramid import Pyramid
    from restorebench.models.singan.settings import PAPER
    from restorebench.models.singan.training import reals_pyramid, train_scale

    device = torch.device("cpu")
    geometry = pyramid_geometry(image.shape[:2], min_size=PAPER.min_size, max_size=PAPER.max_size, scale_factor=PAPER.scale_factor)
    pyramid = Pyramid(settings=PAPER, geometry=geometry, reals=reals_pyramid(image, geometry, device=device))
    rng = torch.Generator(device=device)
    rng.manual_seed(0)
    rows = []
    for shape in geometry.shapes:
        train_scale(pyramid, generator=rng, iterations=1)  # warm-up
        one = _seconds(lambda: train_scale(pyramid, generator=rng, iterations=1))
        start = time.process_time()
        netG, _, z_opt, amp = train_scale(pyramid, generator=rng, iterations=3)
        three = time.process_time() - start
        pyramid.add_scale(netG, z_opt, amp)
        rows.append((shape, (three - one) / 2))
        print(f"  singan scale {len(rows) - 1} {shape[1]}×{shape[0]}: {rows[-1][1]:.3f} s/iteration", file=sys.stderr)
    return rows


def singan_case(image: np.ndarray, cache: Path) -> tuple[float, dict[str, float]]:
    """Mean seconds of one SinGAN sample over start scales 1…9, and seconds of each metric."""
    from restorebench import models
    from restorebench.models.base import RestoreContext

    samples = []
    for start in range(1, 10):
        method = models.get("singan", profile="paper", iterations=1, gen_start_scale=start)
        method.prepare(RestoreContext(task="deblur", training_image=image, seed=0, sample=0, cache_dir=cache, device="cpu"))
        samples.append(_seconds(lambda: method.restore(image), repeats=2))
    output = method.restore(image)
    return float(np.mean(samples)), metric_seconds(output, image, ["psnr", "ssim", "nima", "niqe", "brisque", "piqe", "sharpness"], align=True)


def metric_seconds(output: np.ndarray, reference: np.ndarray | None, names: list[str], *, align: bool = False, **options) -> dict[str, float]:
    from restorebench import metrics
    from restorebench.metrics import maniqa, nima
    from restorebench.metrics.registration import register_to

    nima.load_network = lambda backbone, device=None: nima.build_network(backbone).eval()  # random init: same time
    maniqa.load_network = lambda checkpoint, device="cpu": maniqa.build(checkpoint).eval().requires_grad_(False)
    out = {}
    if align:
        out["registration"] = _seconds(lambda: register_to(output, reference, method="phase"), repeats=2)
    for name in names:
        metric = metrics.get(name, **options.get(name, {}))
        call = (lambda: metric(output, reference)) if metric.kind == "FR" else (lambda: metric(output))
        call()  # loads and warms
        out[name] = _seconds(call, repeats=2)
    return out


def blindsr_cases(lr_size: int, weights: Path) -> dict[str, float]:
    """Seconds per image of each blind-SR technique of the paper spec, at ``lr_size``² LR."""
    sys.path[:0] = [str(HERE.parent / "models")]
    weights.mkdir(parents=True, exist_ok=True)
    os.environ["RESTOREBENCH_WEIGHTS"] = str(weights)
    import test_blindsr
    import test_dan
    import test_moesr

    from restorebench import models
    from restorebench.models.base import RestoreContext

    test_dan.save_official(weights, "v1-x2-setting1")
    test_moesr.save_official(weights, 2)
    test_blindsr.save_official(weights)
    image = photo(lr_size)
    context = RestoreContext(task="sr", scale=2, seed=0, device="cpu")

    def timed(name: str, **params) -> float:
        method = models.get(name, **params)
        method.prepare(context)
        return _seconds(lambda: method.restore(image))

    out = {"dan": timed("dan", version="v1", setting=1)}
    two, six = timed("moesr", profile="paper", real=True, iterations=2), timed("moesr", profile="paper", real=True, iterations=6)
    out["moesr"] = two + (six - two) / 4 * (1000 - 2)
    one, three = timed("blindsr", profile="paper", optim_steps=1), timed("blindsr", profile="paper", optim_steps=3)
    out["blindsr"] = one + (three - one) / 2 * (50 - 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lr", type=int, default=64, help="side of the LR images of the blind-SR measurement")
    parser.add_argument("--parts", default="training,sample,blindsr",
                        help="comma-separated: training (SinGAN), sample (SinGAN sample and metrics), blindsr")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    import torch

    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    image = photo()
    with tempfile.TemporaryDirectory() as tmp:  # each part printed when done: a later failure loses nothing
        if "training" in parts:
            training = singan_training(image)
            per_iteration = sum(s for _, s in training)
            print(f"SinGAN paper training, 256×256 photo: {per_iteration:.3f} CPU-s per iteration over {len(training)} scales "
                  f"→ {per_iteration * 2000 / 3600:.2f} CPU-hours for 2000 iterations")
            print("  " + ", ".join(f"{shape[1]}×{shape[0]}: {s:.3f}" for shape, s in training), flush=True)
        if "sample" in parts:
            sample, singan_metrics = singan_case(image, Path(tmp) / "cache")
            print(f"SinGAN sample (mean over start scales 1…9): {sample:.3f} s; metrics: "
                  + ", ".join(f"{k} {v:.3f} s" for k, v in singan_metrics.items()) + f" (sum {sum(singan_metrics.values()):.3f} s)",
                  flush=True)
        if "blindsr" in parts:
            blind = blindsr_cases(args.lr, Path(tmp) / "weights")
            print(f"blind SR at {args.lr}×{args.lr} LR (×2): " + ", ".join(f"{k} {v:.1f} s" for k, v in blind.items()), flush=True)
            sr = photo(args.lr * 8)  # a ×8 output, what the metrics score
            blind_metrics = metric_seconds(sr, None, ["niqe", "maniqa"], niqe={"variant": "skvideo"},
                                           maniqa={"protocol": "study", "checkpoint": "pipal"})
            print(f"metrics of a {args.lr * 8}×{args.lr * 8} output: " + ", ".join(f"{k} {v:.3f} s" for k, v in blind_metrics.items()))
    print(f"CPU-seconds; threads {args.threads}; load average before: {load[0]:.2f}, after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
