"""Peak memory of DAN ×4 on a 512×512 input, on the CPU, with the method's tiling.

    .venv/bin/python tests/perf/dan_memory.py [--size 512] [--tile 256] [--version v1]

A random-initialised checkpoint in the official format (same size and layout as the published
one) is written to a temporary weights folder; a child process restores one image through the
``dan`` method exactly as a benchmark case would, and the parent reads the child's peak resident
set size with ``resource.getrusage(RUSAGE_CHILDREN)``. Prints one JSON line. Used by
``tests/perf/test_dan_memory.py``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
import numpy as np
from restorebench import models
size, scale, tile, version = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
method = models.get("dan", version=version, setting=1, tile=tile)
method.prepare(models.RestoreContext(task="sr", scale=scale, device="cpu"))
image = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
start = time.perf_counter()
out = method.restore(image)
print(json.dumps({"seconds": time.perf_counter() - start, "output": list(out.shape)}))
"""


def write_checkpoint(folder: Path, version: str, scale: int) -> Path:
    import torch

    from restorebench.models.dan.network import CONFIGS, DAN

    torch.manual_seed(0)
    net = DAN(CONFIGS[f"{version}-x{scale}-setting1"])
    with torch.no_grad():
        net.encoder.normal_(0, 0.1)
    path = folder / f"dan{version}_x{scale}_setting1.pth"
    torch.save(net.state_dict(), path)
    return path


def measure(size: int = 512, scale: int = 4, tile: int = 256, version: str = "v1") -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        write_checkpoint(Path(tmp), version, scale)
        env = {**os.environ, "RESTOREBENCH_WEIGHTS": tmp, "RESTOREBENCH_DEVICE": "cpu"}
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", CHILD, str(size), str(scale), str(tile), version],
            capture_output=True, text=True, env=env, check=True,
        )
        wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    child = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        "method": f"dan {version} ×{scale}", "input": [size, size, 3], "tile": tile,
        "peak_rss_mib": round(peak_kib / 1024, 1), "restore_seconds": round(child["seconds"], 1),
        "wall_seconds": round(wall, 1), "output": child["output"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--scale", type=int, default=4, choices=[2, 3, 4])
    parser.add_argument("--tile", type=int, default=256, help="LR tile side (0: whole image at once)")
    parser.add_argument("--version", default="v1", choices=["v1", "v2"])
    args = parser.parse_args()
    print(json.dumps(measure(args.size, args.scale, args.tile, args.version)))


if __name__ == "__main__":
    main()
