"""The sweep's slots: how many trials run at once, and each one's devices and threads.

Slots = the smallest of hydra.sweeper.n_jobs, the launcher's own n_jobs (if set) and, where
hydra.sweeper.devices lists GPUs (default: every visible GPU), devices x trials_per_device. Each slot
gets max(1, cores // slots) torch and decoding threads. The pool launcher starts each slot's worker with
the slot's CUDA_VISIBLE_DEVICES; other launchers get the threads only (as `study.threads`).
"""

import sys
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Slot:
    index: int  # 0..slots-1
    visible_devices: str | None  # CUDA_VISIBLE_DEVICES for its worker ("0", "1", ...); None: the CPU
    threads: int  # torch threads and decoding threads of its trials


class Pooled(Protocol):
    """A launcher that runs one job at a time per slot, so the sweeper refills a slot as soon as it frees."""

    def start(self, slots: list[Slot]) -> None:
        """Once, before the first submit: workers for these slots."""

    def submit(self, overrides: list[str], job_idx: int, slot: Slot) -> Future:
        """One job on the slot; the Future resolves to its hydra JobReturn (failed, never raising, when its
        worker died)."""

    def interrupt(self) -> None:
        """Ctrl-C: stop every running job now."""

    def shutdown(self) -> None:
        """Sweep end: stop the workers."""


def pooled(launcher: Any) -> Pooled | None:
    """The launcher as a pool: the pool launcher itself, joblib through an adapter; None: it runs batches.

    Recognised by the class of the instance, without importing any plugin: Hydra imports every installed
    plugin at start-up, and ray alone takes seconds.
    """
    if _is_instance(launcher, "hydra_plugins.sweeplab_pool.pool_launcher", "PoolLauncher"):
        return launcher
    if _is_instance(launcher, "hydra_plugins.hydra_joblib_launcher.joblib_launcher", "JoblibLauncher"):
        from sweeplab.study.joblib_pool import JoblibPool

        return JoblibPool(launcher)
    return None


def _is_instance(obj: Any, module: str, name: str) -> bool:
    """isinstance(obj, module.name) if that module is loaded (an instance of it loaded it), else False."""
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(obj, getattr(loaded, name))
