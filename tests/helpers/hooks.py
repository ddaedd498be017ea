"""Test-only failures injected into training: a CUDA out-of-memory error for (micro-)batches above a size.

In process, the `simulate_oom` fixture patches the trainer. A `train.py -m` subprocess gets the same
patch from a Hydra callback in each job's process (`simulate_oom_in_jobs` fixture of tests/e2e): no
user config key exists for it.
"""

import functools
from collections.abc import Callable

import torch
from hydra.experimental.callback import Callback

from sweeplab.training.trainer import Trainer


def out_of_memory_above(above_batch: int, backward: Callable) -> Callable:
    """Trainer.backward, raising CUDA out-of-memory as a full GPU would for (micro-)batches above
    above_batch: the activations of what runs at once are what fills the memory."""

    @functools.wraps(backward)
    def step(self: Trainer, x: torch.Tensor, y: torch.Tensor, batch: float):
        if len(y) > above_batch:
            raise torch.cuda.OutOfMemoryError(
                f"CUDA out of memory (simulated: batch {len(y)} > {above_batch})"
            )
        return backward(self, x, y, batch)

    return step


def simulated_oom_overrides(above_batch: int) -> list[str]:
    """The `train.py` overrides that enable SimulatedOutOfMemory (with tests/ on the PYTHONPATH)."""
    return [
        f"+hydra.callbacks.oom._target_={SimulatedOutOfMemory.__module__}.SimulatedOutOfMemory",
        f"+hydra.callbacks.oom.above_batch={above_batch}",
    ]


class SimulatedOutOfMemory(Callback):
    """A Hydra callback: during each job, in the job's own process, batches above above_batch run out of
    memory."""

    def __init__(self, above_batch: int):
        self.above_batch = above_batch
        self.train_step: Callable | None = None

    def on_job_start(self, config, **kwargs) -> None:
        if self.train_step is None:
            self.train_step = Trainer.backward
            Trainer.backward = out_of_memory_above(self.above_batch, self.train_step)

    def on_job_end(self, config, job_return, **kwargs) -> None:
        # Put back: with the basic launcher every job runs in the sweep's own process.
        if self.train_step is not None:
            Trainer.backward, self.train_step = self.train_step, None
