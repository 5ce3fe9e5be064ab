"""SinGAN training speed: this project's loop next to the official loop, and the roofline.

Per scale 0 … 6 of the paper architecture on a 96×128 image, in one process with the same
threads: seconds per training iteration (3 critic + 3 generator steps) of the official loop — its
line-by-line transcription ``tests/models/singan_official.py``, run in float32 — and of
``models.singan.training.train_scale``, timed in alternating passes on the same frozen coarser
scales; the ratio; the convolution-only limit of an iteration (``singan_roofline.py``: the
iteration's convolutions, each timed alone at its shape on this machine) and how close our loop
gets to it. No reference time comes from anywhere but this run.

    .venv/bin/python tests/perf/singan_speed.py [--passes 3] [--threads 2] [--scales 0,6] [--profile 0,6]
                                                [--clock wall|cpu]

``--profile`` adds the PyTorch profiler's breakdown by operator of our loop at those scales.
``--clock cpu`` times with the process's CPU time instead of the wall clock — with
``--threads 1`` that is the work done, undisturbed by other processes on a busy machine
(``make perf`` runs the wall-clock version through ``tests/perf/test_singan_perf.py``).

Run as a script, it sets ``OMP_WAIT_POLICY=PASSIVE`` unless the environment says otherwise: on
a machine whose cores are shared with other processes, OpenMP threads that spin while they wait
for each other at every parallel operator slow both loops several-fold (measured: 2–4.6 s instead
of 0.45 s per iteration at scale 0 with 2 threads).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__":  # before torch (and its OpenMP runtime) is loaded
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

HERE = Path(__file__).resolve().parent
IMAGE_SHAPE = (96, 128)
# iterations per timed block: about a second of work at every scale
ITERATIONS = (12, 10, 6, 4, 2, 2, 2)


def _module(name: str, path: Path):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def official_module():
    """``tests/models/singan_official.py``, the transcription the equivalence test uses."""
    return _module("singan_official", HERE.parent / "models" / "singan_official.py")


def roofline_module():
    return _module("singan_roofline", HERE / "singan_roofline.py")


def test_image(shape: tuple[int, int] = IMAGE_SHAPE) -> np.ndarray:
    """skimage's astronaut photo resized (MATLAB bicubic) to ``shape``."""
    from skimage import data

    from restorebench.metrics.matlab import imresize

    return imresize(data.astronaut(), output_shape=shape)


@dataclass
class Bench:
    """Both loops' view of the same frozen pyramid (coarser scales trained for one iteration:
    their quality does not change the cost of an iteration above them)."""

    settings: object
    geometry: object
    pyramid: object  # ours, every scale frozen
    official_scales: tuple  # Gs, Zs, NoiseAmp: the same generators as official modules
    device: object

    def ours_at(self, scale: int):
        """Our pyramid as it is when ``scale`` is being trained."""
        from restorebench.models.singan.pyramid import Pyramid

        view = Pyramid(settings=self.settings, geometry=self.geometry, reals=self.pyramid.reals)
        view._upsamplers = self.pyramid.upsamplers
        for n in range(scale):
            view.add_scale(self.pyramid.generators[n], self.pyramid.z_opt[n], self.pyramid.noise_amps[n])
        return view

    def run_ours(self, scale: int, iterations: int, rng):
        from restorebench.models.singan.training import train_scale

        return train_scale(self.ours_at(scale), generator=rng, iterations=iterations)

    def run_official(self, scale: int, iterations: int):
        official = official_module()
        opt = official.options_from(self.settings, scale_factor=self.geometry.scale_factor, iterations=iterations, device=self.device)
        opt.nfc, opt.min_nfc = self.settings.widths(scale)
        netD, netG = official.init_models(opt)
        Gs, Zs, NoiseAmp = self.official_scales
        in_s = self.pyramid.zeros(0)
        official.train_single_scale(netD, netG, self.pyramid.reals, Gs[:scale], Zs[:scale], in_s, NoiseAmp[:scale], opt)
        return netG, netD, opt


def build(*, device: str = "cpu", settings=None) -> Bench:
    """Both loops' frozen pyramid for the test image, in the default dtype."""
    import torch

    from restorebench.models.singan.geometry import pyramid_geometry
    from restorebench.models.singan.pyramid import Pyramid
    from restorebench.models.singan.settings import PAPER
    from restorebench.models.singan.training import reals_pyramid, train_scale

    settings = settings or PAPER
    dev = torch.device(device)
    geometry = pyramid_geometry(IMAGE_SHAPE, min_size=settings.min_size, max_size=settings.max_size, scale_factor=settings.scale_factor)
    pyramid = Pyramid(settings=settings, geometry=geometry, reals=reals_pyramid(test_image(), geometry, device=dev))
    rng = torch.Generator(device=dev).manual_seed(0)
    official = official_module()
    Gs, Zs, amps = [], [], []
    for n in range(geometry.num_scales):
        netG, _, z_opt, amp = train_scale(pyramid, generator=rng, iterations=1)
        pyramid.add_scale(netG, z_opt, amp)
        opt = official.options_from(settings, scale_factor=geometry.scale_factor, device=dev)
        opt.nfc, opt.min_nfc = settings.widths(n)
        twin = official.GeneratorConcatSkip2CleanAdd(opt).to(dev)
        twin.load_state_dict(netG.state_dict())
        Gs.append(official.reset_grads(twin, False).eval())
        Zs.append(z_opt.contiguous())
        amps.append(amp)
    return Bench(settings, geometry, pyramid, (Gs, Zs, amps), dev)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def measure(bench: Bench, scale: int, *, passes: int, iterations: int | None = None, clock: str = "wall") -> dict:
    """Alternating timed passes of both loops at ``scale``, then the roofline."""
    import torch

    roofline = roofline_module()
    now = CLOCKS[clock]

    def timed(run) -> float:
        start = now()
        run()
        return now() - start

    k = iterations or ITERATIONS[min(scale, len(ITERATIONS) - 1)]
    rng = torch.Generator(device=bench.device).manual_seed(1)
    torch.manual_seed(1)
    bench.run_ours(scale, 1, rng)  # warm-up (allocator, oneDNN kernels)
    bench.run_official(scale, 1)
    ours, official = [], []
    for p in range(passes):
        order = [("ours", lambda: bench.run_ours(scale, k, rng)), ("official", lambda: bench.run_official(scale, k))]
        for name, run in order if p % 2 == 0 else order[::-1]:
            (ours if name == "ours" else official).append(timed(run) / k)
    work = roofline.count(bench.settings, bench.geometry, scale)
    limit = roofline.limit_seconds(work, roofline.measure_throughput(work, device=bench.device, clock=now))
    ratios = [a / b for a, b in zip(ours, official)]
    return {
        "scale": scale, "shape": bench.geometry.shapes[scale], "width": bench.settings.widths(scale)[0],
        "iterations": k, "ours": min(ours), "official": min(official), "ratio": min(ours) / min(official),
        "ratio_low": min(ratios), "ratio_high": max(ratios), "gflop": roofline.flops(work) / 1e9, "limit": limit,
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| scale | size | width | GFLOP/it | official s/it | ours s/it | ratio | ratio per pass | limit s/it | % of limit |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scale']} | {r['shape'][1]}×{r['shape'][0]} | {r['width']} | {r['gflop']:.2f} | {r['official']:.3f} "
            f"| {r['ours']:.3f} | {r['ratio']:.2f} | {r['ratio_low']:.2f}–{r['ratio_high']:.2f} | {r['limit']:.3f} "
            f"| {100 * r['limit'] / r['ours']:.0f} % |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passes", type=int, default=3, help="alternating timed passes per scale")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--scales", default=None, help="comma-separated scales (default: all)")
    parser.add_argument("--profile", default="", help="comma-separated scales to profile by operator")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall", help="wall clock, or the process's CPU time")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    bench = build(device=args.device)
    scales = [int(x) for x in args.scales.split(",")] if args.scales else list(range(bench.geometry.num_scales))
    rows = []
    for scale in scales:
        rows.append(measure(bench, scale, passes=args.passes, clock=args.clock))
        print(f"scale {scale} done", file=sys.stderr, flush=True)
    print(table(rows))
    print(
        f"\n{args.clock} clock, best of {args.passes} alternating passes; ratio = ours / official (best, and per pass); "
        f"limit = the iteration's convolutions at this machine's speed for their shapes; "
        f"torch {torch.__version__}, {args.threads} threads, {args.device}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')}; "
        f"load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f}"
    )
    roofline = roofline_module()
    for scale in [int(x) for x in args.profile.split(",") if x]:
        rng = torch.Generator(device=bench.device).manual_seed(2)
        k = ITERATIONS[min(scale, len(ITERATIONS) - 1)]
        print(f"\nOur loop at scale {scale}, {k} iterations, by operator (self CPU time):\n")
        print(roofline.profile_table(lambda: bench.run_ours(scale, k, rng)))


if __name__ == "__main__":
    main()
