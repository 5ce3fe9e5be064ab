"""The method protocol: ``prepare(context)`` then ``restore(image) -> image``.

A method is built from validated parameters (a pydantic model per method), is told about the
item it is about to restore by :meth:`Method.prepare` (scale, blur kernel, training image, seed,
cache folder, device), and maps a uint8 RGB ``(H, W, 3)`` image to a uint8 RGB image. Methods never
score themselves: they do not import metric implementations.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from restorebench.metrics.registry import Registry

Task = Literal["deblur", "sr"]


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


class Method:
    """Base class of restoration methods.

    Class attributes:
        name: registry name.
        tasks: the task families it applies to (``{"deblur"}``, ``{"sr"}`` or both).
        Params: pydantic model of its parameters (``extra="forbid"``: typos are errors).
        stochastic: whether different ``sample`` indices give different outputs.
        weights: logical names of checkpoint files it needs (empty for weight-free methods).
    """

    name: ClassVar[str]
    tasks: ClassVar[frozenset[str]]
    Params: ClassVar[type[BaseModel]] = NoParams
    stochastic: ClassVar[bool] = False
    weights: ClassVar[tuple[str, ...]] = ()
    summary: ClassVar[str] = ""

    def __init__(self, params: BaseModel | None = None, **kwargs: Any):
        self.params = params if params is not None else self.Params(**kwargs)
        self.context: RestoreContext | None = None

    def prepare(self, context: RestoreContext) -> None:
        """Called before restoring each item. Train or load here; cache what is expensive."""
        self.context = context

    def restore(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

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

    def weight_keys(self) -> tuple[str, ...]:
        """Catalogue keys of the checkpoints this configuration may load; their contents are part
        of its results' identity (a replaced checkpoint means new cases, not reused ones)."""
        return self.weights

    # ------------------------------------------------------------------------------------------
    @property
    def ctx(self) -> RestoreContext:
        if self.context is None:
            raise RuntimeError(f"method '{self.name}': call prepare(context) before restore(image)")
        return self.context

    @property
    def params_dict(self) -> dict[str, Any]:
        return self.params.model_dump(mode="json")

    @property
    def code_version(self) -> str:
        """sha256 (16 hex) of the method's source files and its parameters."""
        payload = source_digest(type(self)) + json.dumps(self.params_dict, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params_dict})"


@functools.cache
def source_digest(cls: type) -> str:
    """Hash of the source of the module defining ``cls`` — of the whole package when the method
    is a package, so that a change to any of its files changes the hash."""
    module = inspect.getmodule(cls)
    assert module is not None and module.__file__ is not None
    path = Path(module.__file__)
    root = path.parent if path.parent.name != "models" else None
    files = sorted(root.rglob("*.py")) if root is not None else [path]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


REGISTRY: Registry[type[Method]] = Registry("method", "restorebench.models")
register = REGISTRY.register
