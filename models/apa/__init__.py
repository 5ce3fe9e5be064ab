"""APA: adaptive pseudo augmentation on StyleGAN2-ADA, trained on each low-resolution set; its
outputs are generated samples.

Jiang, Dai, Wu, Loy: "Deceive D: Adaptive Pseudo Augmentation for GAN Training with Limited
Data", NeurIPS 2021; official code https://github.com/EndlessSora/DeceiveD (built on
NVlabs/stylegan2-ada-pytorch). One of the two generative techniques of the blind-SR study (de
Santiago Júnior, AI 2023), which trained it on each set of 100 LR images resized to 1024×1024
and wrote 100 images per set with ``generate.py --trunc=1 --seeds=1000-1099``
(``seed1000.png`` … ``seed1099.png``).

- :mod:`.ops`: the reference paths of the official custom ops (upfirdn2d, bias_act, conv2d_resample);
- :mod:`.networks`: generator and discriminator with the official module hierarchy;
- :mod:`.augment`: ADA's ``bgc`` augmentation pipeline;
- :mod:`.training`: configurations, losses, APA, the training loop, sampling;
- :mod:`.method`: the set-level method ``apa`` (profiles ``paper`` and ``fast``).

Checkpoints: the official ``network-snapshot-*.pkl`` files are pickles that need the official
code to be unpickled, and restorebench never unpickles code. A user exports the state dicts once,
in the official environment (:data:`EXPORT_COMMAND`), and restorebench reads that file with
``torch.load(weights_only=True)``. The six networks the APA authors published are catalogued
under their exported names (keys ``apa-<name>``).
"""
from __future__ import annotations

from pathlib import Path

from restorebench.metrics.weights import WeightFile, declare

MANIFEST = Path(__file__).with_name("manifest.json")
DRIVE = "https://drive.google.com/file/d/{}/view?usp=sharing"
EXPORT_COMMAND = (
    "python -c \"import sys, torch, legacy; d = legacy.load_network_pkl(open(sys.argv[1], 'rb')); "
    "torch.save({k: d[k].state_dict() for k in ('G', 'D', 'G_ema') if d.get(k) is not None}, sys.argv[2])\" "
    "network-snapshot-000400.pkl network-snapshot-000400.pt"
)
"""Run in a checkout of DeceiveD (or stylegan2-ada-pytorch), with its environment: writes the
three networks' ``state_dict()`` (official module hierarchy) into a file of tensors only."""

# (name of the official pickle without .pkl, Google Drive file id) — README of EndlessSora/DeceiveD.
PRETRAINED = (
    ("afhqcat5k256x256-apa", "1P9ouHIK-W8JTb6bvecfBe4c_3w6gmMJK"),
    ("ffhq5k256x256-apa", "1nKMvODpZUN1CymJ5ZlFN2zEAekfhuGgJ"),
    ("anime5k256x256-apa", "1EWOdieqELYmd2xRxUR4gnx7G10YI5dyP"),
    ("cub12k256x256-apa", "1J0qactT55ofAvzddDE_xnJEY8s3vbo1_"),
    ("ffhq70kfull256x256-apa", "1ICkGHTUepYwVfw-0DuO5xtWwDcWoIYr5"),
    ("ffhq5k1024x1024-apa", "1pwOD8RrngVQr6UvLg2fRuvmU23BTSyqv"),
)


def pretrained_key(name: str) -> str:
    return "apa-" + name.removesuffix("-apa")


declare(*(
    WeightFile(
        key=pretrained_key(name), filename=f"{name}.pt", url=DRIVE.format(file_id),
        component=f"APA generator {name} (state-dict export of {name}.pkl: see the APA page, 'Checkpoints')",
        licence="NVIDIA Source Code License (EndlessSora/DeceiveD)",
    )
    for name, file_id in PRETRAINED
))

from restorebench.models.apa.method import APA, APAParams  # noqa: E402

__all__ = ["APA", "APAParams", "EXPORT_COMMAND", "MANIFEST", "PRETRAINED", "pretrained_key"]
