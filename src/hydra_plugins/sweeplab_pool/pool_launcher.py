"""`hydra/launcher=pool`: one warm worker process per slot, started once per sweep, running job after job.

Two ways in. Hydra's `launch(batch)` (hydra.sweeper.batched=true, Hydra's BasicSweeper) runs a batch on
the free slots and returns when all of it has ended. sweeplab's sweeper keeps every slot busy through the
Pooled protocol instead (sweeplab.study.slots): start(slots) once, submit(overrides, job_idx, slot) per
trial, a Future per job that resolves to its JobReturn and never raises.

A worker that dies (SIGKILL, the out-of-memory killer) fails its own job only and is replaced; the other
slots' jobs go on. If the sweep dies, a worker finishes its job and exits without starting another.
"""

import atexit
import logging
import multiprocessing
from collections import deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Any

import cloudpickle
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from sweeplab.study.slots import Slot, usable_cores

from .slot_workers import SlotWorkers

log = logging.getLogger(__name__)

# A job that gets Ctrl-C ends its MLflow run and tells its trial; 5 s covers that on a busy machine
# (~0.2 s here), after which the worker is terminated.
INTERRUPT_GRACE_S = 5.0
DEFAULT_WORKERS = 2  # Hydra's BasicSweeper gives no slots: the launcher's n_jobs, else this many


class PoolLauncher(Launcher):
    pins_devices = True  # each slot's worker starts with the slot's CUDA_VISIBLE_DEVICES

    def __init__(self, n_jobs: int | None = None, start_method: str = "spawn") -> None:
        self.n_jobs = n_jobs
        self.start_method = start_method
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None
        self._workers = SlotWorkers()
        self.interrupt_grace_s = INTERRUPT_GRACE_S

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.task_function = task_function
        self.hydra_context = hydra_context

    @property
    def slots(self) -> list[Slot]:
        """The slots of the running pool (empty before start)."""
        return self._workers.slots

    # The Pooled protocol (sweeplab.study.slots)

    def start(self, slots: list[Slot]) -> None:
        """Starts one worker per slot; they warm up while the first jobs are submitted."""
        if self._workers.slots:
            raise RuntimeError("hydra/launcher=pool: start() called twice without shutdown()")
        assert self.config is not None and self.hydra_context is not None, "setup() first"
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        # Sent once per worker, not per job: the singletons hold the ConfigStore (~160 config groups).
        state = cloudpickle.dumps(Singleton.get_state())
        payload = cloudpickle.dumps((self.hydra_context, self.config, self.task_function, state))
        self._workers.start(slots, payload, multiprocessing.get_context(self.start_method))
        atexit.register(self.shutdown)  # an interpreter that exits otherwise waits for its workers
        log.info(
            "Pool launcher: %d warm workers (%s; devices %s; threads %s)",
            len(slots),
            self.start_method,
            [s.visible_devices for s in slots],
            [s.threads for s in slots],
        )
        log.info(f"Launching jobs, sweep output dir : {sweep_dir}")

    def submit(self, overrides: Sequence[str], job_idx: int, slot: Slot) -> Future:
        """Runs one job on the slot's worker (after the slot's earlier jobs); the Future never raises."""
        log.info(f"\t#{job_idx} : {' '.join(filter_overrides(overrides))}")
        return self._workers.submit(overrides, job_idx, slot)

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to every busy worker, terminated after interrupt_grace_s; queued jobs fail."""
        self._workers.interrupt(self.interrupt_grace_s)

    def shutdown(self) -> None:
        """Stops every worker: idle ones when told, busy ones terminated (their jobs fail)."""
        atexit.unregister(self.shutdown)
        self._workers.shutdown()

    # Hydra's Launcher API

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """A batch on the pool's slots (started here if the sweeper did not); returns when all have ended."""
        setup_globals()
        assert self.config is not None, "setup() first"
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        if not self.slots:
            self.start(default_slots(self.n_jobs, len(job_overrides)))
        log.info("Pool launcher is launching %d jobs on %d workers", len(job_overrides), len(self.slots))
        free = deque(self.slots)
        jobs = deque(enumerate(job_overrides))
        pending: dict[Future, tuple[int, Slot]] = {}
        results: list[Any] = [None] * len(job_overrides)
        try:
            while jobs or pending:
                while jobs and free:
                    i, overrides = jobs.popleft()
                    slot = free.popleft()
                    pending[self.submit(overrides, initial_job_idx + i, slot)] = (i, slot)
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    i, slot = pending.pop(future)
                    results[i] = future.result()
                    free.append(slot)
        except KeyboardInterrupt:
            self.interrupt()
            raise
        return results


def default_slots(n_jobs: int | None, jobs: int) -> list[Slot]:
    """Slots for a sweeper that gives none: n_jobs workers (else 2), no more than jobs, sharing the cores."""
    n = max(1, min(n_jobs or DEFAULT_WORKERS, jobs))
    return [Slot(index=i, visible_devices=None, threads=max(1, usable_cores() // n)) for i in range(n)]
