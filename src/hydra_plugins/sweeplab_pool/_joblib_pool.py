"""`hydra/launcher=joblib` as a pool: each submit hands one job to loky's reusable executor, the one
joblib.Parallel runs on, and returns its Future, so a slot is refilled the moment its trial ends.

The job runs hydra_joblib_launcher's own execute_job with the arguments JoblibLauncher.launch gives it.
Devices are not pinned (every worker sees every GPU); a trial's threads come as `study.threads`. loky's
weakness stays: one dead worker breaks the whole executor, so every job running or waiting on it fails
(BrokenProcessPool); the next submit gets a fresh executor.
"""

import logging
import threading
from concurrent.futures import CancelledError, Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import configure_log, filter_overrides, setup_globals
from joblib import cpu_count
from joblib.externals.loky import get_reusable_executor
from joblib.externals.loky.process_executor import ShutdownExecutorError

from hydra_plugins.hydra_joblib_launcher._core import execute_job
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
from sweeplab.study.slots import Slot, failed_job

log = logging.getLogger(__name__)

# joblib.Parallel's idle_worker_timeout: a worker idle this long exits (loky's own default is 10 s, which
# would restart workers, and re-import torch, whenever a slot waits a little).
IDLE_WORKER_TIMEOUT_S = 300


class JoblibPool:
    """The Pooled protocol (sweeplab.study.slots) over a JoblibLauncher that Hydra has set up."""

    def __init__(self, launcher: JoblibLauncher) -> None:
        self.launcher = launcher
        self.max_workers = workers(launcher.joblib.get("n_jobs"))
        self._state: Any = None
        self._executor: Any = None  # the loky executor of the last submit
        self._pending: set[Future] = set()  # our futures not resolved yet
        self._lock = threading.Lock()

    def start(self, slots: list[Slot]) -> None:
        launcher = self.launcher
        assert launcher.config is not None, "the launcher's setup() first"
        setup_globals()
        configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)
        sweep_dir = Path(str(launcher.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if slots:  # never more workers than trials at once: each one imports torch
            self.max_workers = min(self.max_workers, len(slots))
        self._state = Singleton.get_state()  # what launch() takes per batch: the sweep does not change it
        self._executor = _executor(self.max_workers)  # its workers start with the first job
        log.info("Joblib (loky) pool of %d workers; devices are not pinned", self.max_workers)
        log.info(f"Launching jobs, sweep output dir : {sweep_dir}")

    def submit(self, overrides: list[str], job_idx: int, slot: Slot) -> Future:
        """One job on a free loky worker; the Future resolves to its JobReturn and never raises."""
        if self._state is None:
            self.start([])
        launcher = self.launcher
        outer: Future = Future()
        outer.set_running_or_notify_cancel()
        log.info(f"\t#{job_idx} : {' '.join(filter_overrides(overrides))}")
        # As JoblibLauncher.launch calls it, for one job
        args = (
            job_idx,
            overrides,
            launcher.hydra_context,
            launcher.config,
            launcher.task_function,
            self._state,
        )
        with self._lock:
            self._pending.add(outer)
        try:
            self._executor = _executor(self.max_workers)
            inner = self._executor.submit(execute_job, *args)
        except (BrokenProcessPool, ShutdownExecutorError):  # it broke between the check and the submit
            self._executor = _executor(self.max_workers)
            inner = self._executor.submit(execute_job, *args)
        inner.add_done_callback(lambda done: self._resolve(outer, done, job_idx))
        return outer

    def interrupt(self) -> None:
        """Ctrl-C: loky's workers are killed; every job not ended fails."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, kill_workers=True)
        self._fail_pending("interrupted (Ctrl-C)")

    def shutdown(self) -> None:
        """Stops the workers; jobs still running (a sweep that ends on an error) are killed and fail."""
        with self._lock:
            running = bool(self._pending)
        if self._executor is not None:
            self._executor.shutdown(wait=not running, kill_workers=running)
        self._fail_pending("the sweep ended while it ran: the joblib pool was shut down")

    def _resolve(self, outer: Future, inner: Future, job_idx: int) -> None:
        try:
            result = inner.result()
        except BrokenProcessPool as e:
            result = failed_job(
                RuntimeError(
                    f"worker process died: a loky worker of hydra/launcher=joblib died, which fails every "
                    f"job of its executor, job {job_idx} among them ({type(e).__name__}: {e})"
                )
            )
        except CancelledError:
            result = failed_job(RuntimeError(f"job {job_idx} was cancelled by the joblib pool"))
        except Exception as e:  # noqa: BLE001 - execute_job raised (the job's config did not compose)
            result = failed_job(e)
        with self._lock:  # whoever takes it from _pending resolves it, outside the lock (callbacks)
            mine = outer in self._pending
            self._pending.discard(outer)
        if mine:
            outer.set_result(result)

    def _fail_pending(self, reason: str) -> None:
        with self._lock:
            pending, self._pending = self._pending, set()
        for future in pending:
            future.set_result(failed_job(RuntimeError(reason)))


def workers(n_jobs: Any) -> int:
    """joblib's reading of n_jobs: None is 1, -1 every CPU, -2 all but one, ..."""
    if n_jobs is None:
        return 1
    n_jobs = int(n_jobs)
    return max(1, cpu_count() + 1 + n_jobs) if n_jobs < 0 else n_jobs


def _executor(max_workers: int) -> Any:
    """loky's reusable executor: the running one, or a fresh one if the last broke or was shut down."""
    return get_reusable_executor(max_workers=max_workers, timeout=IDLE_WORKER_TIMEOUT_S)
