"""The method protocol: ``prepare(context)`` then ``restore(image) -> image``.

A method is built from validated parameters (a pydantic model per method), is told about the
item it is about to restore by :meth:`Method.prepare` (scale, blur kernel, training image, seed,
cache folder, device), and maps a uint8 RGB ``(H, W, 3)`` image to a uint8 RGB image. Methods never
score themselves: they do not import metric implementations.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel

from restorebench.metrics.component import Component
from restorebench.metrics.registry import Registry

Task = Literal["deblur", "sr"]


@dataclass(frozen=True)
class RestoreContext:
    """What a method may know about the item it restores.

    Attributes:
        task: ``"deblur"`` (output size = input size) or ``"sr"`` (output = input × scale).
        scale: super-resolution factor (1 for deblurring).
        psf: the blur kernel (float, sums to 1) when the dataset knows it, for non-blind methods.
        training_image: the image a per-image generative model trains on (SinGAN: the sharp
            photo of the triplet). Never the ground truth of an SR item.
        blur: ``"motion"`` or ``"defocus"`` for blur triplets.
        seed, sample: randomness of this case; the same pair must give the same output.
        cache_dir: where a method may keep trained state between cases.
        device: ``"auto"`` or a torch device string.
        item_id: a readable id of the item (for messages).
    """

    task: Task
    scale: int = 1
    psf: np.ndarray | None = None
    training_image: np.ndarray | None = field(default=None, repr=False)
    blur: str | None = None
    seed: int = 0
    sample: int = 0
    cache_dir: Path | None = None
    device: str = "auto"
    item_id: str = ""


@dataclass(frozen=True)
class Resources:
    """What one case of a method needs from the machine that runs it.

    The Ray executor places each case on a node that has these resources free (and runs it with
    ``cpus`` threads); the local pool shares the machine's cores among its workers instead.

    Attributes:
        cpus: CPU threads the method uses (a fraction is allowed: several light cases share a core).
        gpus: GPUs it can use; fractions share one GPU among several cases (``0.25``: four at a
            time). A request on a cluster without GPUs runs the case on the CPU, with a note in
            the case's record.
        memory_mb: peak resident memory of a case, to keep more cases than fit off one node
            (None: not declared, nothing reserved).
    """

    cpus: float = 1.0
    gpus: float = 0.0
    memory_mb: int | None = None

    def __post_init__(self) -> None:
        if self.cpus <= 0 or self.gpus < 0 or (self.memory_mb is not None and self.memory_mb <= 0):
            raise ValueError(f"invalid resources {self}: cpus > 0, gpus ≥ 0 and memory_mb > 0 (or None) are required")


class Method(Component):
    """Base class of restoration methods.

    Class attributes (besides :class:`~restorebench.metrics.component.Component`'s ``name``,
    ``summary``, ``Params``, ``weights``):
        tasks: the task families it applies to (``{"deblur"}``, ``{"sr"}`` or both).
        stochastic: whether different ``sample`` indices give different outputs.
    """

    kind_name: ClassVar[str] = "method"
    tasks: ClassVar[frozenset[str]]
    stochastic: ClassVar[bool] = False
    #: Expensive work that several cases of this method share, which the runner does once per
    #: :meth:`preparation_key` before those cases, with its own time budget (``prepare_timeout``):
    #: ``"training_image"`` — training on the item's training image (SinGAN on the sharp photo:
    #: every start scale and sample reuses one trained pyramid). ``None``: each case prepares alone.
    shared_preparation: ClassVar[str | None] = None

    def __init__(self, params: BaseModel | None = None, **kwargs: Any):
        super().__init__(params, **kwargs)
        self.context: RestoreContext | None = None

    def prepare(self, context: RestoreContext) -> None:
        """Called before restoring each item. Train or load here; cache what is expensive."""
        self.context = context

    def restore(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def resources(self) -> Resources:
        """What one case of this configuration needs (see :class:`Resources`). The default, one
        CPU thread and no GPU, fits the classical methods; torch methods ask for a GPU (a
        fraction when their networks are small) and state their memory."""
        return Resources()

    def estimated_kernel(self) -> np.ndarray | None:
        """The degradation kernel the last :meth:`restore` estimated (or assumed), or None.

        A PSF in the convention of :attr:`RestoreContext.psf`: ``LR = (psf ∗ HR)`` sampled every
        ``scale`` pixels (convolution), float, any size, centred anywhere. The runner saves it
        as an artifact and scores it against the dataset's true kernel
        (``restorebench.metrics.kernel_accuracy``)."""
        return None

    def sr_scales(self) -> frozenset[int] | None:
        """SR factors this configuration can produce (None: any). Items of other factors are not
        planned for it: a ×2-only network has no result on a ×4 set, rather than a failure."""
        return None

    def preparation_key(self, *, training_sha256: str, seed: int) -> str:
        """Identity of the shared preparation this configuration needs for a training image: cases
        with the same key share one. The default is this configuration's version; a method whose
        parameters do not all change the training (SinGAN's start scale) narrows it."""
        return hashlib.sha256(f"{self.name}|{self.version}|{training_sha256}|{seed}".encode()).hexdigest()[:24]

    # ------------------------------------------------------------------------------------------
    @property
    def ctx(self) -> RestoreContext:
        if self.context is None:
            raise RuntimeError(f"method '{self.name}': call prepare(context) before restore(image)")
        return self.context

    def describe(self) -> dict[str, Any]:
        scales = self.sr_scales()
        return {
            **super().describe(),
            "tasks": sorted(self.tasks),
            "stochastic": self.stochastic,
            "sr_scales": sorted(scales) if scales is not None else None,
        }


REGISTRY: Registry[type[Method]] = Registry("method", "restorebench.models", "restorebench.methods", base=Method)
register = REGISTRY.register
