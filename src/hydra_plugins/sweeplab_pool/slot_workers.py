"""The pool launcher's worker processes: one per slot, each running the jobs sent to it one after another.

A worker that dies (SIGKILL, the out-of-memory killer) fails its own job only and is replaced; the other
slots' jobs go on. Each worker has a reader thread that resolves its jobs' Futures as it reports them.
The launcher (pool_launcher.py) adapts this to Hydra's Launcher API and to sweeplab's Pooled protocol.
"""

import contextlib
import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from typing import Any

from sweeplab.study.slots import Slot, failed_job

from . import worker

log = logging.getLogger(__name__)

STOP_GRACE_S = 5.0  # an idle worker exits within milliseconds of being told to stop


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


class SlotWorkers:
    """The slots' workers, the jobs they run and the jobs that wait; any thread may call any method."""

    def __init__(self) -> None:
        self._workers: dict[int, _SlotWorker] = {}
        self._lock = threading.Lock()
        self._payload = b""
        self._context: Any = None
        self._closing = False

    @property
    def slots(self) -> list[Slot]:
        """The slots of the running workers (empty before start and after shutdown)."""
        return [w.slot for w in self._workers.values()]

    def start(self, slots: list[Slot], payload: bytes, context: Any) -> None:
        """One worker per slot, started from `context` (a multiprocessing context) with the job `payload`."""
        self._payload, self._context, self._closing = payload, context, False
        with self._lock:
            for slot in slots:
                self._workers[slot.index] = _SlotWorker(slot)
                self._spawn(self._workers[slot.index])

    def submit(self, overrides: Sequence[str], job_idx: int, slot: Slot) -> Future:
        """Runs one job on the slot's worker (after the slot's earlier jobs); the Future never raises."""
        future: Future = Future()
        future.set_running_or_notify_cancel()
        job = _Job(job_idx, list(overrides), future)
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

    def interrupt(self, grace_s: float) -> None:
        """Ctrl-C: SIGINT to every busy worker (the sweep may have been signalled alone), terminated after
        grace_s; jobs not started yet fail at once."""
        with self._lock:
            busy = [(w, w.process, w.running) for w in self._workers.values() if w.running and w.process]
            queued = [job for w in self._workers.values() for job in w.waiting]
            for w in self._workers.values():
                w.waiting.clear()
        for job in queued:
            job.future.set_result(failed_job(RuntimeError("interrupted (Ctrl-C) before it started")))
        for _, process, _ in busy:
            _signal(process, signal.SIGINT)
        deadline = time.monotonic() + grace_s
        for w, process, job in busy:
            wait([job.future], timeout=max(0.0, deadline - time.monotonic()))
            if not job.future.done():
                w.stop_reason = (
                    f"interrupted (Ctrl-C): the worker of slot {w.slot.index} did not stop within "
                    f"{grace_s:g} s and was terminated"
                )
                process.terminate()
        _end([(process, job) for _, process, job in busy])

    def shutdown(self) -> None:
        """Stops every worker: idle ones when told, busy ones terminated (their jobs fail)."""
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
