"""A warm worker of `hydra/launcher=pool`: one process per slot, running the sweep's jobs one after another.

It starts with its slot's CUDA_VISIBLE_DEVICES and torch threads, imports torch once, and then waits on
its pipe for (job_idx, overrides). Each job runs as Hydra's own launchers run one: Hydra's singletons set
from the sweep's state, the job's config composed here, run_job with hydra.sweep.dir/subdir; afterwards
its logging handlers are closed and its CUDA memory released, so the next job starts clean.

Messages to the sweep: ("ready", pid) once warm, then ("done", job_idx, JobReturn) per job, cloudpickled.
"""

import gc
import logging
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any

import cloudpickle
from hydra.core.hydra_config import HydraConfig
from hydra.core.plugins import Plugins
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, run_job, setup_globals
from omegaconf import open_dict
from omegaconf.basecontainer import BaseContainer

from sweeplab.study.slots import failed_job

log = logging.getLogger(__name__)


def main(conn: Any, visible_devices: str | None, threads: int, payload: bytes) -> None:
    """The worker's life: warm up, then one job per message until the sweep stops it or dies."""
    # Set before anything in this process touches CUDA: a process that has initialised CUDA ignores a
    # later change. The sweep's own environment is never changed.
    if visible_devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = visible_devices
    os.environ["OMP_NUM_THREADS"] = str(threads)  # for libraries this worker imports later
    # A terminal's Ctrl-C reaches the whole process group: an idle worker ignores it (the sweep stops it),
    # a busy one lets it interrupt its job (_run).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = _Parent()
    _warm_up(threads)
    # Hydra's plugin discovery re-executes every hydra_plugins module: done once, before the sweep's
    # configs are unpickled, so that their structured-config classes are the ones in sys.modules (else
    # each result's config is pickled with its classes by value: 0.2 s a job).
    Plugins.instance()
    hydra_context, config, task_function, state = cloudpickle.loads(payload)
    _restore_singletons(state)
    # What is loaded now lives as long as the worker: the collection after each job skips it (a full
    # collection with torch loaded took 0.3 s on two cores; frozen, milliseconds).
    gc.freeze()
    conn.send(("ready", os.getpid()))
    home = os.getcwd()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the sweep closed the pipe or died
            return
        # A job still in the pipe when the sweep died is not started: nobody would tell its result.
        if message is None or not parent.take_job():
            return
        job_idx, overrides = message
        before = _handlers()
        result = _run(job_idx, overrides, hydra_context, config, task_function, state)
        try:
            conn.send_bytes(_dumps(("done", job_idx, result)))
        except OSError:  # the sweep died while the job ran: the job recorded itself; nothing else starts
            return
        # After the result is sent: the sweep tells it and asks the next trial meanwhile.
        _clean_up(home, before)
        if not parent.job_done():
            return


class _Parent:
    """Watches the process that started this worker. When it dies, an idle worker exits at once and a busy
    one after its job. The closed pipe says so too, but not with start_method=fork, where the other
    workers inherit this worker's pipe end."""

    POLL_S = 1.0

    def __init__(self) -> None:
        self.pid = os.getppid()  # the sweep, or with forkserver the fork server, which dies with it
        self.lock = threading.Lock()
        self.busy = self.orphaned = False
        threading.Thread(target=self._watch, name="watch-sweep", daemon=True).start()

    def _watch(self) -> None:
        while os.getppid() == self.pid:
            time.sleep(self.POLL_S)
        with self.lock:
            self.orphaned = True
            if not self.busy:
                os._exit(0)

    def take_job(self) -> bool:
        with self.lock:
            self.busy = not self.orphaned and os.getppid() == self.pid
            return self.busy

    def job_done(self) -> bool:
        with self.lock:
            self.busy = False
            return not self.orphaned


def _warm_up(threads: int) -> None:
    """torch imported and sized once per worker, not per job (~2 s of a trial on two cores)."""
    try:
        import torch
    except ImportError:  # a Hydra app without torch
        return
    torch.set_num_threads(threads)
    if torch.cuda.is_initialized():  # the app's module touched CUDA at import: the slot's device is moot
        log.warning(
            "CUDA was initialised while the worker imported the app (%s): CUDA_VISIBLE_DEVICES=%s "
            "may not apply; keep CUDA calls inside the task function",
            sys.modules["__main__"].__file__ if hasattr(sys.modules["__main__"], "__file__") else "?",
            os.environ.get("CUDA_VISIBLE_DEVICES"),
        )


def _run(
    job_idx: int, overrides: list[str], hydra_context: Any, config: Any, task_function: Any, state: bytes
) -> JobReturn:
    """One job as hydra_joblib_launcher's execute_job runs it; a Ctrl-C fails this job, not the worker."""
    try:
        signal.signal(signal.SIGINT, _interrupt_once)
        setup_globals()
        _restore_singletons(state)
        sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{job_idx}"
            sweep_config.hydra.job.num = job_idx
        HydraConfig.instance().set_config(sweep_config)
        result = run_job(
            hydra_context=hydra_context,
            task_function=task_function,
            config=sweep_config,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
    except KeyboardInterrupt:
        return failed_job(RuntimeError(f"interrupted (Ctrl-C) while running job {job_idx}"))
    except Exception as e:  # noqa: BLE001 - composing the job's config failed: the job fails, not the worker
        return failed_job(_portable(e))
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if result.status == JobStatus.FAILED:
        result._return_value = _portable(result._return_value)  # its traceback travels as its __cause__
    return result


def _interrupt_once(signum: int, frame: Any) -> None:
    """Ctrl-C interrupts the job once: the sweep forwards the terminal's SIGINT to its busy workers, and a
    second KeyboardInterrupt would break the job's own clean-up (its MLflow run ended KILLED)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _restore_singletons(state: bytes) -> None:
    """Hydra's singletons as the sweep left them, for each job, as joblib's execute_job sets them.

    Singleton.set_state would also rebuild the Plugins singleton, which re-executes every installed
    hydra_plugins module (~70 ms a job here); the plugins this worker discovered once are kept instead.
    Private: Singleton._instances and BaseContainer._resolvers are what set_state assigns (hydra-core 1.3).
    """
    loaded = cloudpickle.loads(state)
    loaded["instances"][Plugins] = Plugins.instance()
    Singleton._instances = loaded["instances"]
    BaseContainer._resolvers = loaded["omegaconf_resolvers"]


def _handlers() -> set[tuple[int, int]]:
    """(logger, handler) ids of every handler now attached, the root logger's left out."""
    loggers = logging.Logger.manager.loggerDict.values()
    return {(id(lg), id(h)) for lg in loggers for h in getattr(lg, "handlers", [])}


def _clean_up(home: str, before: set[tuple[int, int]]) -> None:
    """What a job leaves behind that the next one must not see: its log files (the root logger's handlers,
    which Hydra's job logging sets, and any a job added; the ones libraries attach at import stay, or
    Optuna's and MLflow's messages would be lost from the second job on), its CUDA memory."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for logger in list(logging.Logger.manager.loggerDict.values()):
        for handler in list(getattr(logger, "handlers", [])):
            if (id(logger), id(handler)) not in before:
                logger.removeHandler(handler)
                handler.close()
    if os.getcwd() != home:  # run_job goes back itself; a job that changed folder on its own does not
        os.chdir(home)
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        # The job's tensors in reference cycles hold GPU memory until a full collection: the next trial
        # on this GPU needs it back.
        gc.collect()
        torch.cuda.empty_cache()
    else:
        # On the CPU Python's own collections free the rest; a full one here took 0.2 s of the next
        # job's start on two cores (the sweep's idle share).
        gc.collect(1)


class RemoteTraceback(Exception):
    """The worker's traceback of a job's error, kept as the error's __cause__ (as concurrent.futures does)."""

    def __str__(self) -> str:
        return self.args[0]


def _rebuild(error: BaseException, text: str) -> BaseException:
    error.__cause__ = RemoteTraceback(f'\n"""\n{text}"""')
    return error


class _WithTraceback:
    """Pickles as the error with its traceback text attached; an error that cannot be rebuilt in the
    sweep (an exception class with its own __init__ arguments) travels as a RuntimeError with its text."""

    def __init__(self, error: BaseException) -> None:
        self.text = "".join(traceback.format_exception(error))
        try:
            cloudpickle.loads(cloudpickle.dumps(error))
            self.error = error
        except Exception:  # noqa: BLE001 - any pickling failure
            self.error = RuntimeError(f"{type(error).__name__}: {error}")

    def __reduce__(self) -> tuple:
        return _rebuild, (self.error, self.text)


def _portable(error: Any) -> Any:
    return _WithTraceback(error) if isinstance(error, BaseException) else error


def _dumps(message: tuple) -> bytes:
    """The message, or, if the job's return value cannot be pickled, a failed result that says so."""
    try:
        return cloudpickle.dumps(message)
    except Exception as e:  # noqa: BLE001 - any pickling failure of a user's return value
        kind, job_idx, _ = message
        error = RuntimeError(f"job {job_idx}'s result could not be pickled: {type(e).__name__}: {e}")
        return cloudpickle.dumps((kind, job_idx, failed_job(error)))
