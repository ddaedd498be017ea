"""Doubles for the study loop in process: a sweeper config, a launcher that runs a plain function."""

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf


def sweeper_cfg(tmp_path, **changes):
    cfg = {
        "sampler": {"_target_": "optuna.samplers.RandomSampler", "seed": 0},
        "pruner": {"_target_": None},
        "direction": "minimize",
        "storage": f"sqlite:///{tmp_path / 'optuna.db'}",
        "study_name": "loop",
        "n_trials": 6,
        "n_jobs": 2,
        "max_failure_rate": 0.0,
        "search_space": None,
        "params": {"x": "interval(-2, 2)", "y": "choice(0, 1)"},
        "custom_search_space": None,
        "diverged_as": "fail",
        "retry_stale_trials": 0,
        "heartbeat_interval": 10,
        "grace_period": 30,
    }
    return OmegaConf.create({**cfg, **changes})


def launcher(objective):
    """Hydra's launch contract: one JobReturn per override list; an exception is a FAILED job."""

    def launch(batch: list[list[str]], initial_job_idx: int) -> list[JobReturn]:
        results = []
        for overrides in batch:
            params = dict(o.split("=", 1) for o in overrides)
            result = JobReturn(overrides=overrides)
            try:
                result.return_value, result.status = objective(params), JobStatus.COMPLETED
            except Exception as e:  # noqa: BLE001 - what Hydra's launchers record
                result.return_value, result.status = e, JobStatus.FAILED
            results.append(result)
        return results

    return launch


def sphere(params):
    return float(params["x"]) ** 2 + float(params["y"])


def feasible(trial) -> list[float]:
    return [-1.0]  # <= 0: every trial satisfies the constraint


class ThreadSlots:
    """The pool protocol (sweeplab.study.slots.Pooled) over threads in this process: each job runs the
    objective on its own thread, its start and end recorded as (job_idx, slot, start, end)."""

    def __init__(self, objective):
        self.objective, self.spans, self.interrupted, self.shut = objective, [], False, False
        self._lock = threading.Lock()

    def start(self, slots) -> None:
        self.executor = ThreadPoolExecutor(max_workers=len(slots))

    def submit(self, overrides, job_idx, slot) -> Future:
        return self.executor.submit(self._run, overrides, job_idx, slot)

    def _run(self, overrides, job_idx, slot) -> JobReturn:
        started = time.perf_counter()
        (result,) = launcher(self.objective)([overrides], job_idx)
        with self._lock:
            self.spans.append((job_idx, slot.index, started, time.perf_counter()))
        return result

    def interrupt(self) -> None:
        self.interrupted = True

    def shutdown(self) -> None:
        self.shut = True
        self.executor.shutdown(wait=True)


def job_launcher(base_overrides: list[str], out_dir):
    """Hydra's launch contract over real training jobs in this process: each trial's overrides composed
    onto `base_overrides` (a real config) and run by sweeplab's job, as a launcher's worker would."""
    from helpers import compose_config
    from sweeplab.app import train

    def launch(batch: list[list[str]], initial_job_idx: int) -> list[JobReturn]:
        results = []
        for i, overrides in enumerate(batch):
            result = JobReturn(overrides=overrides)
            try:
                cfg = compose_config([*base_overrides, *overrides])
                result.return_value = train(cfg, output_dir=out_dir / str(initial_job_idx + i))
                result.status = JobStatus.COMPLETED
            except Exception as e:  # noqa: BLE001 - what Hydra's launchers record (TrialPruned too)
                result.return_value, result.status = e, JobStatus.FAILED
            results.append(result)
        return results

    return launch
