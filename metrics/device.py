"""Torch device selection: the GPU when there is one, else the CPU; never a hard-coded ``.cuda()``."""
from __future__ import annotations

import os


def select_device(preference: str = "auto"):
    """Return a ``torch.device``.

    ``preference`` is ``"auto"`` (CUDA, then Apple MPS, then CPU), or an explicit torch device
    string such as ``"cpu"`` or ``"cuda:1"``. ``$RESTOREBENCH_DEVICE`` overrides ``"auto"``.
    """
    import torch

    if preference == "auto":
        preference = os.environ.get("RESTOREBENCH_DEVICE", "auto")
    if preference != "auto":
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
