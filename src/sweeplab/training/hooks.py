"""The job's hooks into the training loop: each epoch's metrics onto the MLflow run, and to the study's trial.

The loop (`trainer.py`) knows neither MLflow nor Optuna; the job hands it these two, as Lightning's
trainer is handed Optuna's pruning callback. The trial is the study side's (sweeplab.study.job_side),
handed to the job by its caller: `Trial` is what the job asks of it; its hook stops the fit by raising
sweeplab.errors.Pruned. So training/ imports neither the study nor Optuna.
"""

from contextlib import AbstractContextManager
from typing import Protocol

from sweeplab.protocol import Metric
from sweeplab.runs.tracking import Tracker
from sweeplab.training.result import Scoring
from sweeplab.training.trainer import Hook

# The scores first: the MLflow UI's compare view and run page start on the first logged.
SHOWN_FIRST = (Metric.VAL_SCORE, Metric.KAGGLE_PUBLIC, Metric.KAGGLE_PRIVATE, Metric.VAL_LOSS)


def log_epoch(tracker: Tracker, epoch: int, metrics: dict[str, float], fold: int | None = None) -> None:
    """The epoch's metrics onto the run in the order the MLflow UI shows them; fold<i>/... for a fold."""
    ordered = {k: metrics[k] for k in SHOWN_FIRST if k in metrics} | metrics
    tracker.log_metrics(
        {k if fold is None else Metric.fold(fold, k): v for k, v in ordered.items()}, step=epoch
    )


class TrackingHook(Hook):
    """Logs every epoch's metrics onto the job's run."""

    def __init__(self, tracker: Tracker):
        self.tracker = tracker

    def on_epoch(self, epoch: int, metrics: dict[str, float], fold: int | None) -> None:
        log_epoch(self.tracker, epoch, metrics, fold)


class Trial(Protocol):
    """A study's trial as its job sees it (sweeplab.study.job_side.StudyTrial)."""

    study_name: str
    number: int
    storage_url: str
    pruned_at: int | None  # the step its pruner stopped it at
    heartbeat: AbstractContextManager  # beats while the job trains and records: the trial is alive

    def hook(self, scoring: Scoring, epochs: int, folds: int) -> Hook:
        """What the loop reports each epoch (or fold) to; it raises errors.Pruned when the pruner says so."""

    def record_run(self, run_id: str) -> None:
        """The trial's MLflow run, for the study's bookkeeping."""

    def record_noise(self, noise: float) -> None:
        """The objective's noise, the least real improvement for the study's plateau stop."""

    def tell(self, values: list[float]) -> None:
        """The job's result, told by the job only if the sweep that asked the trial is gone."""

    def tell_pruned(self, reason: str) -> None:
        """Pruned, told by the job only if the sweep that asked the trial is gone."""
