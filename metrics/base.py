"""The metric protocol: what every quality metric declares and how it is called.

After torchmetrics, a metric declares its direction and range; after scikit-image, options are
keyword-only. Calling a metric validates its inputs and returns a plain float:

    >>> from metrics import get
    >>> psnr = get("psnr")
    >>> psnr(restored, reference)   # full-reference (FR)
    >>> get("sharpness")(restored)  # no-reference (NR)

Every metric has a ``threads`` parameter, added to its ``Params`` here: how many threads one
call may use (default: the caller's budget — all CPUs the process may use, or the runner's
share per worker; see :mod:`restorebench.metrics.parallel`). Results never depend on it, so it
is left out of the version: stored scores stay valid whatever it is set to.
"""
from __future__ import annotations

import math
from typing import Any, ClassVar, Iterable, Literal, Sequence

import numpy as np
from pydantic import BaseModel, Field, create_model

from restorebench.metrics.component import Component
from restorebench.metrics.errors import ImageTooSmallError, RestoreBenchError, SizeMismatchError
from restorebench.metrics.imageio import as_rgb_uint8, load_image
from restorebench.metrics.parallel import thread_budget
from restorebench.metrics.registry import Registry

Kind = Literal["FR", "NR"]

THREADS_FIELD = Field(
    None,
    ge=1,
    description="threads one call may use (default: all CPUs the process may use, or the runner's "
    "share per worker); the value does not depend on it",
)


def _with_threads(params: type[BaseModel]) -> type[BaseModel]:
    """``params`` with the ``threads`` field added (its validators and config are kept)."""
    return create_model(
        params.__name__, __base__=params, __module__=params.__module__, threads=(int | None, THREADS_FIELD)
    )


class Metric(Component):
    """Base class. Subclasses set the class attributes, a ``Params`` model for their options, and
    implement :meth:`compute`.

    Attributes:
        name: registry name.
        kind: ``"FR"`` (needs a reference image) or ``"NR"``.
        higher_is_better: direction of improvement.
        value_range: ``(low, high)`` of possible values (``math.inf`` where unbounded).
        min_size: smallest height and width the metric can score.
        conventions: one line on colour space, cropping, model — shown in the docs.
        measures: what the value measures when it is not image quality (``"sharpness"`` for
            sharpness measures, which the site analyses separately); None for quality scores.
    """

    kind_name: ClassVar[str] = "metric"
    kind: ClassVar[Kind]
    higher_is_better: ClassVar[bool]
    value_range: ClassVar[tuple[float, float]] = (-math.inf, math.inf)
    min_size: ClassVar[int] = 1
    conventions: ClassVar[str] = ""
    measures: ClassVar[str | None] = None
    #: Batch scoring forks worker processes for it (``metrics.score_many``): numpy/scipy only (no
    #: torch, whose GPU context a child must not touch), and a call costs more than a fork.
    fork_batches: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if "threads" not in cls.Params.model_fields:
            cls.Params = _with_threads(cls.Params)

    @property
    def params_dict(self) -> dict[str, Any]:
        """The parameters that define the results, as plain values: ``threads`` (how a call runs,
        not what it computes) is left out, and with it out of :attr:`code_version`."""
        return {key: value for key, value in super().params_dict.items() if key != "threads"}

    @property
    def options(self) -> dict[str, Any]:
        """The metric's parameters as plain values (what a spec gives and the database records)."""
        return self.params_dict

    # -- subclass API ---------------------------------------------------------------------------
    def compute(self, image: np.ndarray, reference: np.ndarray | None) -> float:
        raise NotImplementedError

    # -- public API -----------------------------------------------------------------------------
    def __call__(self, image: np.ndarray, reference: np.ndarray | None = None) -> float:
        image = as_rgb_uint8(image, name="image")
        if self.kind == "FR":
            if reference is None:
                raise RestoreBenchError(f"metric '{self.name}' is full-reference: give a reference image")
            reference = as_rgb_uint8(reference, name="reference")
            if reference.shape != image.shape:
                raise SizeMismatchError(
                    f"metric '{self.name}': image {image.shape[1]}×{image.shape[0]} and reference "
                    f"{reference.shape[1]}×{reference.shape[0]} differ in size"
                )
        h, w = image.shape[:2]
        if min(h, w) < self.min_size:
            raise ImageTooSmallError(
                f"metric '{self.name}' needs at least {self.min_size}×{self.min_size} pixels, "
                f"got {w}×{h}"
            )
        with thread_budget(getattr(self.params, "threads", None)):
            return float(self.compute(image, reference if self.kind == "FR" else None))

    def score_many(
        self,
        images: Sequence[np.ndarray | str],
        references: Sequence[np.ndarray | str] | None = None,
    ) -> list[float]:
        """Score several images (arrays or paths) with one set-up. Subclasses may batch."""
        refs: Iterable[Any] = references if references is not None else [None] * len(images)
        return [self(_as_array(i), None if r is None else _as_array(r)) for i, r in zip(images, refs)]

    def describe(self) -> dict[str, Any]:
        low, high = self.value_range
        return {
            **super().describe(),
            "kind": self.kind,
            "higher_is_better": self.higher_is_better,
            "range": [low, high],
            "min_size": self.min_size,
            "conventions": self.conventions,
            "measures": self.measures,
            "options": self.options,
        }


def _as_array(item: np.ndarray | str) -> np.ndarray:
    return load_image(item) if isinstance(item, str) else item


REGISTRY: Registry[type[Metric]] = Registry("metric", "restorebench.metrics", "restorebench.metrics", base=Metric)
register = REGISTRY.register
