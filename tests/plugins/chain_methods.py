"""A counting SR method for the chain tests, loaded through $RESTOREBENCH_PLUGINS.

Each call of ``restore`` appends a line to the file ``log`` (worker processes share it), so a
test can tell a computed stage from a cached one; ``fail_while`` / ``hang_while`` make it fail or
hang while a given file exists, so that one and the same configuration (the same case ids) fails
in one run and succeeds in the next.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from restorebench.models import Method, register


class CountingParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    log: str | None = Field(None, description="file that gets one line per restore call (none: no log)")
    scale: int | None = Field(None, ge=2, description="SR factor; default: the item's")
    offset: int = Field(0, description="added to every pixel (a parameter that changes the output)")
    fail_while: str | None = Field(None, description="raise while this file exists")
    hang_while: str | None = Field(None, description="sleep for an hour while this file exists")


@register()
class Counting(Method):
    """Pixel replication by the factor, plus ``offset``; logs every call."""

    name = "test_counting"
    tasks = frozenset({"sr"})
    Params = CountingParams

    def restore(self, image):
        p = self.params
        scale = p.scale or self.ctx.scale
        if p.log:
            with open(p.log, "a") as handle:
                handle.write(f"{self.ctx.item_id} x{scale}\n")
        if p.fail_while and Path(p.fail_while).exists():
            raise RuntimeError("deliberate failure")
        if p.hang_while and Path(p.hang_while).exists():
            time.sleep(3600)
        out = np.repeat(np.repeat(image.astype(np.int16), scale, 0), scale, 1) + p.offset
        return np.clip(out, 0, 255).astype(np.uint8)
