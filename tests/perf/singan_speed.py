"""Seconds per SinGAN training iteration at each scale, paper architecture, 96×128 image (7 scales).

One iteration = 3 critic steps + 3 generator steps (the official definition). The coarser scales
are trained for only a couple of iterations first: their quality does not change the cost of
an iteration above them.

    .venv/bin/python tests/perf/singan_speed.py [--iterations 20] [--threads 2] [--repeats 3]

Prints a Markdown table: scale, size, width, our s/iteration (best of ``--repeats`` blocks of
``--iterations``), the official implementation's s/iteration measured on a 2-core machine, and
the ratio.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

# Official implementation (tamarott/SinGAN), paper architecture, 96×128 image, 2 cores (issue 5).
OFFICIAL_SECONDS_PER_ITERATION = (0.138, 0.196, 0.259, 0.404, 1.264, 2.008, 2.265)
IMAGE_SHAPE = (96, 128)


def test_image(shape: tuple[int, int] = IMAGE_SHAPE) -> np.ndarray:
    """skimage's astronaut photo resized (MATLAB bicubic) to ``shape``."""
    from skimage import data

    from restorebench.metrics.matlab import imresize

    return imresize(data.astronaut(), output_shape=shape)


def measure(*, iterations: int, repeats: int, warmup: int = 2, device: str = "cpu", only: set[int] | None = None) -> list[dict]:
    import torch

    from restorebench.models.singan.geometry import pyramid_geometry
    from restorebench.models.singan.pyramid import Pyramid
    from restorebench.models.singan.settings import PAPER
    from restorebench.models.singan.training import reals_pyramid, train_scale

    dev = torch.device(device)
    geometry = pyramid_geometry(IMAGE_SHAPE, min_size=PAPER.min_size, max_size=PAPER.max_size, scale_factor=PAPER.scale_factor)
    pyramid = Pyramid(settings=PAPER, geometry=geometry, reals=reals_pyramid(test_image(), geometry, device=dev))
    rng = torch.Generator(device=dev)
    rng.manual_seed(0)
    rows = []
    for scale, shape in enumerate(geometry.shapes):
        if only is not None and scale not in only:
            netG, _, z_opt, amp = train_scale(pyramid, generator=rng, iterations=1)
            pyramid.add_scale(netG, z_opt, amp)
            continue
        train_scale(pyramid, generator=rng, iterations=warmup)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            netG, _, z_opt, amp = train_scale(pyramid, generator=rng, iterations=iterations)
            best = min(best, (time.perf_counter() - start) / iterations)
        pyramid.add_scale(netG, z_opt, amp)
        official = OFFICIAL_SECONDS_PER_ITERATION[scale] if scale < len(OFFICIAL_SECONDS_PER_ITERATION) else float("nan")
        rows.append({
            "scale": scale, "shape": shape, "width": PAPER.widths(scale)[0],
            "ours": best, "official": official, "ratio": best / official,
        })
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| scale | size | width | ours s/iter | official s/iter | ratio |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['scale']} | {r['shape'][1]}×{r['shape'][0]} | {r['width']} | {r['ours']:.3f} | {r['official']:.3f} | {r['ratio']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--scales", default=None, help="comma-separated scales to time (default: all)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    only = {int(x) for x in args.scales.split(",")} if args.scales else None
    rows = measure(iterations=args.iterations, repeats=args.repeats, device=args.device, only=only)
    print(table(rows))
    print(f"\nload average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; torch threads {args.threads}")


if __name__ == "__main__":
    main()
