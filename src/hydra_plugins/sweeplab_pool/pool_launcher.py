"""`hydra/launcher=pool`: one warm worker process per slot, started once per sweep, running job after job.

Two ways in. Hydra's `launch(batch)` (hydra.sweeper.batched=true, Hydra's BasicSweeper) runs a batch on
the free slots and returns when all of it has ended. sweeplab's sweeper keeps every slot busy through the
Pooled protocol instead (sweeplab.study.slots): start(slots) once, submit(overrides, job_idx, slot) per
trial, a Future per job that resolves to its JobReturn and never raises.

A worker that dies (SIGKILL, the out-of-memory killer) fails its own job only and is replaced; the other
slots' jobs go on. If the sweep dies, a worker finishes its job and exits without starting another.
"""

import atexit
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from sweeplab.study.slots import Slot, failed_job, usable_cores

from . import worker

log = logging.getLogger(__name__)

# A job that gets Ctrl-C ends its MLflow run and tells its trial; 5 s covers that on a busy machine
# (~0.2 s here), after which the worker is terminated.
INTERRUPT_GRACE_S = 5.0
STOP_GRACE_S = 5.0  # an idle worker exits within milliseconds of being told to stop
DEFAULT_WORKERS = 2  # Hydra's BasicSweeper gives no slots: the launcher's n_jobs, else this many


@dataclass
class _Job:
    idx: int
    overrides: list[str]
    future: Future


@dataclass
class _SlotWorker:
    """One slot's worker process, the job it runs and the jobs that wait for it."""

    slot: Slot
    process: Any = None  # a multiprocessing Process; None until started, or after one that never got ready
    conn: Any = None
    reader: threading.Thread | None = None
    running: _Job | None = None
    waiting: deque = field(default_factory=deque)
    ready: bool = False  # it imported torch and the app, and waits for jobs
    stop_reason: str | None = None  # set when the pool itself ends this worker (Ctrl-C, shutdown)


class PoolLauncher(Launcher):
    pins_devices = True  # each slot's worker starts with the slot's CUDA_VISIBLE_DEVICES

    def __init__(self, n_jobs: int | None = None, start_method: str = "spawn") -> None:
        self.n_jobs = n_jobs
        self.start_method = start_method
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None
        self._workers: dict[int, _SlotWorker] = {}
        self._lock = threading.Lock()
        self._payload = b""
        self._closing = False
        self.interrupt_grace_s = INTERRUPT_GRACE_S

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.task_function = task_function
        self.hydra_context = hydra_context

    @property
    def slots(self) -> list[Slot]:
        """The slots of the running pool (empty before start)."""
        return [w.slot for w in self._workers.values()]

    # The Pooled protocol (sweeplab.study.slots)

    def start(self, slots: list[Slot]) -> None:
        """Starts one worker per slot; they warm up while the first jobs are submitted."""
        if self._workers:
            raise RuntimeError("hydra/launcher=pool: start() called twice without shutdown()")
        assert self.config is not None and self.hydra_context is not None, "setup() first"
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        # Sent once per worker, not per job: the singletons hold the ConfigStore (~160 config groups).
        state = cloudpickle.dumps(Singleton.get_state())
        self._payload = cloudpickle.dumps((self.hydra_context, self.config, self.task_function, state))
        self._context = multiprocessing.get_context(self.start_method)
        self._closing = False
        with self._lock:
            for slot in slots:
                self._workers[slot.index] = _SlotWorker(slot)
                self._spawn(self._workers[slot.index])
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
        future: Future = Future()
        future.set_running_or_notify_cancel()
        job = _Job(job_idx, list(overrides), future)
        log.info(f"\t#{job_idx} : {' '.join(filter_overrides(overrides))}")
        with self._lock:
            w = None if self._closing else self._workers.get(slot.index)
            if w is not None:
                w.waiting.append(job)
                if w.process is None:  # its last worker never got ready, or Ctrl-C ended it: a new one
                    self._spawn(w)
                self._dispatch(w)
        if w is None:  # resolved outside the lock: a callback of the future may submit again
            reason = f"hydra/launcher=pool has no worker for slot {slot.index} (stopped, or not started)"
            future.set_result(failed_job(RuntimeError(reason)))
        return future

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to every busy worker (the sweep may have been signalled alone), terminated after
        INTERRUPT_GRACE_S; jobs not started yet fail at once."""
        with self._lock:
            busy = [(w, w.process, w.running) for w in self._workers.values() if w.running and w.process]
            queued = [job for w in self._workers.values() for job in w.waiting]
            for w in self._workers.values():
                w.waiting.clear()
        for job in queued:
            job.future.set_result(failed_job(RuntimeError("interrupted (Ctrl-C) before it started")))
        for _, process, _ in busy:
            _signal(process, signal.SIGINT)
        deadline = time.monotonic() + self.interrupt_grace_s
        for w, process, job in busy:
            wait([job.future], timeout=max(0.0, deadline - time.monotonic()))
            if not job.future.done():
                w.stop_reason = (
                    f"interrupted (Ctrl-C): the worker of slot {w.slot.index} did not stop within "
                    f"{self.interrupt_grace_s:g} s and was terminated"
                )
                process.terminate()
        _end([(process, job) for _, process, job in busy])

    def shutdown(self) -> None:
        """Stops every worker: idle ones when told, busy ones terminated (their jobs fail)."""
        atexit.unregister(self.shutdown)
        with self._lock:
            self._closing = True
            workers = list(self._workers.values())
            queued = [job for w in workers for job in w.waiting]
            alive = [(w.process, w.reader) for w in workers if w.process is not None]
            for w in workers:
                w.waiting.clear()
                w.stop_reason = "the sweep ended while it ran: hydra/launcher=pool was shut down"
                if w.process is None:
                    continue
                if w.running is None:
                    _send(w.conn, None)
                else:
                    w.process.terminate()
        for job in queued:
            job.future.set_result(failed_job(RuntimeError("hydra/launcher=pool was shut down before it")))
        deadline = time.monotonic() + STOP_GRACE_S
        for process, reader in alive:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
            reader.join(STOP_GRACE_S)  # it resolves the future of the job that was running
        self._workers.clear()

    # Hydra's Launcher API

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """A batch on the pool's slots (started here if the sweeper did not); returns when all have ended."""
        setup_globals()
        assert self.config is not None, "setup() first"
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        if not self._workers:
            self.start(default_slots(self.n_jobs, len(job_overrides)))
        log.info("Pool launcher is launching %d jobs on %d workers", len(job_overrides), len(self._workers))
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

    # Workers (called with self._lock held)

    def _spawn(self, w: _SlotWorker) -> None:
        parent_conn, child_conn = self._context.Pipe()
        slot = w.slot
        process = self._context.Process(
            target=worker.main,
            args=(child_conn, slot.visible_devices, slot.threads, self._payload),
            name=f"sweeplab-pool-slot-{slot.index}",
        )
        # Not a daemon: a job may start processes of its own (DataLoader workers), which daemons cannot.
        process.start()
        child_conn.close()  # the worker's end lives in the worker only: its death closes the pipe here
        w.process, w.conn, w.ready, w.stop_reason = process, parent_conn, False, None
        w.reader = threading.Thread(
            target=self._read, args=(w, process, parent_conn), name=process.name, daemon=True
        )
        w.reader.start()

    def _dispatch(self, w: _SlotWorker) -> None:
        """The slot's next job to its worker, if it is free (the worker reads it once warm)."""
        if w.running is None and w.waiting and w.conn is not None:
            w.running = w.waiting.popleft()
            _send(w.conn, (w.running.idx, w.running.overrides))  # a dead worker: _lost fails this job

    # The reader thread of each worker

    def _read(self, w: _SlotWorker, process: Any, conn: Any) -> None:
        """Resolves the worker's jobs as it reports them, until its pipe closes (it stopped or died)."""
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            except Exception as e:  # noqa: BLE001 - a result that cannot be unpickled here
                message = ("done", None, failed_job(RuntimeError(f"its result could not be read: {e}")))
            if message[0] == "ready":
                w.ready = True
                continue
            with self._lock:
                job, w.running = w.running, None
                self._dispatch(w)
            if job is not None:
                job.future.set_result(message[2])
        self._lost(w, process, conn)

    def _lost(self, w: _SlotWorker, process: Any, conn: Any) -> None:
        """The worker is gone: its job fails; a worker that had been ready is replaced at once."""
        process.join(STOP_GRACE_S)
        conn.close()
        how = _exit_description(process.exitcode)
        doomed: list[tuple[_Job, str]] = []
        with self._lock:
            job, w.running = w.running, None
            w.process = w.conn = w.reader = None
            if job is not None:
                doomed.append((job, w.stop_reason or _death(w, how, job.idx)))
            if not self._closing and w.stop_reason is None:
                if w.ready:
                    log.warning("hydra/launcher=pool: slot %d's worker died (%s)", w.slot.index, how)
                    self._spawn(w)
                    self._dispatch(w)
                else:  # it died before it was ready: the next submit tries again, no loop of retries
                    doomed += [(j, _death(w, how, j.idx)) for j in w.waiting]
                    w.waiting.clear()
        for job, reason in doomed:
            job.future.set_result(failed_job(RuntimeError(reason)))


def default_slots(n_jobs: int | None, jobs: int) -> list[Slot]:
    """Slots for a sweeper that gives none: n_jobs workers (else 2), no more than jobs, sharing the cores."""
    n = max(1, min(n_jobs or DEFAULT_WORKERS, jobs))
    return [Slot(index=i, visible_devices=None, threads=max(1, usable_cores() // n)) for i in range(n)]


def _death(w: _SlotWorker, how: str, job_idx: int) -> str:
    if not w.ready:
        return f"worker process of slot {w.slot.index} could not start ({how}); job {job_idx} did not run"
    return (
        f"worker process of slot {w.slot.index} died ({how}) while running job {job_idx}; "
        "its trial is failed and the worker replaced"
    )


def _exit_description(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"signal {-code} {signal.Signals(-code).name}"
        except ValueError:  # a signal without a name (real-time signals)
            return f"signal {-code}"
    return f"exit code {code}"


def _send(conn: Any, message: Any) -> None:
    with contextlib.suppress(OSError):  # the worker died: its reader thread sees the pipe close
        conn.send(message)


def _signal(process: Any, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it has just ended
        os.kill(process.pid, sig)


def _end(jobs: list[tuple[Any, _Job]]) -> None:
    """Waits for terminated workers' jobs to be resolved by their readers; kills a worker that hangs."""
    deadline = time.monotonic() + STOP_GRACE_S
    for process, job in jobs:
        wait([job.future], timeout=max(0.0, deadline - time.monotonic()))
        if not job.future.done() and process.is_alive():
            process.kill()
