"""Where a run came from: code version (git), package versions, machine."""
from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("restorebench", "numpy", "scipy", "scikit-image", "pillow", "torch", "torchvision", "timm", "duckdb", "pydantic")


def git_state(path: Path | None = None) -> tuple[str | None, bool | None]:
    """(commit sha, dirty?) of the restorebench checkout, or (None, None) outside git."""
    path = path or Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return None, None
        dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10)
        return sha.stdout.strip(), bool(dirty.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        return None, None


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def machine() -> dict[str, Any]:
    try:
        machine_id = Path("/etc/machine-id").read_text().strip()
    except OSError:
        machine_id = platform.node()
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        memory_gb = round(psutil.virtual_memory().total / 2**30, 1)
    except Exception:
        memory_gb = None
    return {
        # hashed: identifies the machine across runs without publishing its id
        "machine_id": hashlib.sha256(machine_id.encode()).hexdigest()[:16],
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "gpu": _gpu(),
    }


def _gpu() -> str | None:
    if "torch" not in sys.modules:  # importing torch only to ask would cost seconds
        return None
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
