"""A finished Hydra job as an Optuna trial state: a bad return value fails the trial, never the sweep."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import ListConfig
from optuna.trial import TrialState

from sweeplab.compat import job_error
from sweeplab.errors import Pruned, TrainingDiverged
from sweeplab.study.slots import failed_job


class TrialPruned(optuna.TrialPruned, Pruned):
    """The study's pruner stopped the trial: Optuna's exception for the sweep, the job's for its fit.
    Defined here, where the sweep process unpickles it from a worker without importing torch."""


@dataclass
class Outcome:
    state: TrialState
    values: list[float] | None = None
    reason: str = ""


def outcome_of(result: JobReturn, n_objectives: int, diverged_as: Any) -> Outcome:
    """The trial state, values and reason of a finished job; diverged_as is "fail" or "pruned"."""
    diverged_as = getattr(diverged_as, "value", diverged_as)  # the schema's enum, or a plain string
    if result.status == JobStatus.FAILED:
        error = job_error(result)
        if isinstance(error, optuna.TrialPruned):
            return Outcome(TrialState.PRUNED, reason=str(error))
        if isinstance(error, TrainingDiverged):
            return Outcome(
                TrialState.PRUNED if diverged_as == "pruned" else TrialState.FAIL, reason=str(error)
            )
        return Outcome(TrialState.FAIL, reason=f"{type(error).__name__}: {error}")
    value = result.return_value
    items = (
        list(value) if isinstance(value, Sequence | ListConfig) and not isinstance(value, str) else [value]
    )
    try:
        values = [float(v) for v in items]
    except (TypeError, ValueError):
        return Outcome(TrialState.FAIL, reason=f"objective {value!r} is not a number")
    if len(values) != n_objectives:
        return Outcome(
            TrialState.FAIL, reason=f"objective has {len(values)} values, directions {n_objectives}"
        )
    if not all(math.isfinite(v) for v in values):
        return Outcome(TrialState.FAIL, reason=f"objective {values} is not finite")
    return Outcome(TrialState.COMPLETE, values)


def lost_job(reason: str) -> JobReturn:
    """A failed JobReturn for a job whose launcher gave no result back."""
    return failed_job(RuntimeError(reason))
