"""Misbehaving methods for the runner's failure tests, loaded through $RESTOREBENCH_PLUGINS."""
from __future__ import annotations

import os
import signal
import time

import numpy as np
from pydantic import BaseModel, ConfigDict

from restorebench.models import Method, register

ALL = frozenset({"deblur", "sr"})


@register()
class ReturnsNaN(Method):
    """Returns NaN pixels."""

    name = "test_nan"
    tasks = ALL

    def restore(self, image):
        return np.full(image.shape, np.nan)


@register()
class WrongShape(Method):
    """Returns one row too few."""

    name = "test_wrong_shape"
    tasks = ALL

    def restore(self, image):
        return image[:-1]


@register()
class Raises(Method):
    """Raises an exception."""

    name = "test_raise"
    tasks = ALL

    def restore(self, image):
        raise RuntimeError("deliberate failure")


@register()
class Hangs(Method):
    """Sleeps for an hour."""

    name = "test_hang"
    tasks = ALL

    def restore(self, image):
        time.sleep(3600)


@register()
class Crashes(Method):
    """Kills its own process."""

    name = "test_crash"
    tasks = ALL

    def restore(self, image):
        os.kill(os.getpid(), signal.SIGKILL)


class SlowParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = 0.2


@register()
class Slow(Method):
    """Identity after a pause: long enough to kill a run in the middle."""

    name = "test_slow"
    tasks = ALL
    Params = SlowParams

    def restore(self, image):
        time.sleep(self.params.seconds)
        return image.copy() if self.ctx.task == "deblur" else np.repeat(np.repeat(image, self.ctx.scale, 0), self.ctx.scale, 1)


class SharedTrainingParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    log: str | None = None  # a file that gets one line per training (the executor tests count them)


@register()
class SharedTraining(Method):
    """A stand-in for SinGAN: "trains" once per training image (shared preparation) into its
    cache folder, asks for half a GPU, and restores from the cached state only."""

    name = "test_shared_training"
    tasks = frozenset({"deblur"})
    Params = SharedTrainingParams
    stochastic = True
    shared_preparation = "training_image"

    def resources(self):
        from restorebench.models import Resources

        return Resources(gpus=0.5)

    def prepare(self, context):
        super().prepare(context)
        import hashlib

        digest = hashlib.sha256(context.training_image.tobytes()).hexdigest()[:16]
        self.state_path = context.cache_dir / "test_shared_training" / f"{digest}.npy"
        if not self.state_path.is_file():
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            np.save(self.state_path, context.training_image.mean(axis=(0, 1)))
            if self.params.log:
                with open(self.params.log, "a") as handle:
                    handle.write(f"trained {digest} in process {os.getpid()}\n")

    def restore(self, image):
        time.sleep(0.2)
        mean = np.load(self.state_path)  # fails when the cache did not travel here
        shift = (mean - image.mean(axis=(0, 1))) * 0.5 + self.ctx.sample
        return np.clip(image + shift, 0, 255).astype(np.uint8)


@register()
class ReportsThreads(Method):
    """Fails with the thread share of the process it runs in (for the runner's worker-share test)."""

    name = "test_report_threads"
    tasks = ALL

    def restore(self, image):
        import torch

        from restorebench.metrics.parallel import current_threads

        raise RuntimeError(f"threads OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} "
                           f"metrics={current_threads()} torch={torch.get_num_threads()}")
