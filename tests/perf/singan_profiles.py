"""The fast profile's trade-off: training time against what the pyramid can still restore.

For each candidate setting, trains on builtin triplets (256×256 sharp photos) and reports the
training time (wall and CPU seconds), the finest-scale reconstruction PSNR, the resolution
ceiling (PSNR of the sharp photo shrunk to the finest scale and enlarged back), and the PSNR
against the sharp photo of injected samples (start scales N−1 and ⌈N/2⌉, motion and defocus,
3 samples each), next to the PSNR of the blurred input itself.

    .venv/bin/python tests/perf/singan_profiles.py --triplets 2 --threads 2 \\
        --candidate max_size=64,nfc=16,iterations=300 --candidate max_size=96,nfc=16,iterations=200
"""
from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np

from restorebench.metrics.psnr import psnr


def parse(text: str) -> dict:
    out = {}
    for part in text.split(","):
        key, value = part.split("=")
        out[key] = float(value) if "." in value else int(value)
    return out


def triplets(count: int):
    from restorebench.bench.datasets import builtin, cache_root
    from restorebench.metrics.imageio import load_image

    root = builtin.ensure_builtin(cache_root() / "data", seed=0) / "blur_triplets"
    for i in range(1, count + 1):
        yield (
            f"{i}_BUILTIN",
            load_image(root / "sharp" / f"{i}_BUILTIN_S.png"),
            {"motion": load_image(root / "motion_blurred" / f"{i}_BUILTIN_M.png"),
             "defocus": load_image(root / "defocused_blurred" / f"{i}_BUILTIN_F.png")},
        )


def evaluate(overrides: dict, *, count: int, samples: int = 3) -> dict:
    import torch

    from restorebench.metrics.matlab import imresize
    from restorebench.models.singan.generation import generate, resize_output
    from restorebench.models.singan.geometry import pyramid_geometry
    from restorebench.models.singan.settings import resolve_settings
    from restorebench.models.singan.training import reconstruction_psnr, train_pyramid

    settings = resolve_settings("fast", overrides)
    rows = []
    for name, sharp, blurred in triplets(count):
        geometry = pyramid_geometry(sharp.shape[:2], min_size=settings.min_size, max_size=settings.max_size, scale_factor=settings.scale_factor)
        wall, cpu = time.perf_counter(), time.process_time()
        pyramid = train_pyramid(sharp, geometry, settings, seed=0, device=torch.device("cpu"))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        last = geometry.num_scales - 1
        ceiling = psnr(imresize(imresize(sharp, output_shape=geometry.top_shape), output_shape=sharp.shape[:2]), sharp)
        row = {"image": name, "scales": geometry.num_scales, "top": geometry.top_shape[0], "wall": wall, "cpu": cpu,
               "rec": reconstruction_psnr(pyramid), "ceiling": ceiling}
        for kind, image in blurred.items():
            row[f"{kind}_input"] = psnr(image, sharp)
            for label, start in (("top", last), ("mid", math.ceil(geometry.num_scales / 2))):
                outs = [resize_output(generate(pyramid, start=start, image=image, seed=0, sample=s), sharp.shape[:2]) for s in range(samples)]
                row[f"{kind}_{label}"] = float(np.mean([psnr(o, sharp) for o in outs]))
        rows.append(row)
    keys = [k for k in rows[0] if k != "image"]
    return {"settings": overrides, **{k: float(np.mean([r[k] for r in rows])) for k in keys}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--candidate", action="append", required=True, help="overrides of the fast profile, k=v,k=v")
    parser.add_argument("--triplets", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print("| settings | scales | top px | train wall s | train CPU s | rec PSNR | ceiling | motion in / N−1 / mid | defocus in / N−1 / mid |")
    print("|---|---|---|---|---|---|---|---|---|")
    for text in args.candidate:
        r = evaluate(parse(text), count=args.triplets)
        print(
            f"| {text} | {r['scales']:.0f} | {r['top']:.0f} | {r['wall']:.0f} | {r['cpu']:.0f} | {r['rec']:.2f} | {r['ceiling']:.2f} "
            f"| {r['motion_input']:.2f} / {r['motion_top']:.2f} / {r['motion_mid']:.2f} "
            f"| {r['defocus_input']:.2f} / {r['defocus_top']:.2f} / {r['defocus_mid']:.2f} |",
            flush=True,
        )
    print(f"\nload average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; torch threads {args.threads}")


if __name__ == "__main__":
    main()
