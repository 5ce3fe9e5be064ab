"""The floor every method must beat: no restoration at all."""
from __future__ import annotations

import numpy as np

from restorebench.models.base import Method, register


@register()
class Identity(Method):
    """Returns the input unchanged; for super-resolution, pixel replication by the scale factor
    (nearest neighbour), so that full-reference metrics can compare it with the ground truth."""

    name = "identity"
    tasks = frozenset({"deblur", "sr"})
    summary = "no restoration (SR: nearest-neighbour pixel replication)"

    def restore(self, image: np.ndarray) -> np.ndarray:
        scale = self.ctx.scale if self.ctx.task == "sr" else 1
        if scale == 1:
            return image.copy()
        return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
