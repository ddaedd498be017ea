"""The job's hooks into the training loop: each epoch's metrics onto the MLflow run, and to the study's trial.

The loop (`trainer.py`) knows neither MLflow nor Optuna; the job hands it these two, as Lightning's
trainer is handed Optuna's pruning callback.
"""

from sweeplab.objective import objective_value
from sweeplab.protocol import Metric
from sweeplab.runs.tracking import Tracker
from sweeplab.study.job_side import StudyTrial
from sweeplab.training.result import FitResult, Scoring
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


class TrialHook(Hook):
    """Reports every epoch's objective to the study's trial, or with a per-fold pruner (Wilcoxon) every
    fold's; optuna.TrialPruned, when its pruner says so, propagates and ends the fit."""

    def __init__(self, trial: StudyTrial, scoring: Scoring, epochs: int, folds: int):
        self.trial, self.objective, self.mode = trial, scoring.objective, scoring.mode
        self.epochs, self.folds = epochs, folds

    def on_epoch(self, epoch: int, metrics: dict[str, float], fold: int | None) -> None:
        if fold is not None and self.trial.per_fold:
            return  # reported once the fold ends
        step = epoch if fold is None else fold * self.epochs + epoch  # each step reported once
        where = None if fold is None else f"at fold {fold} epoch {epoch} (step {step})"
        self.trial.report(metrics.get(self.objective, float("nan")), step, where)

    def on_fold_end(self, fold: int, result: FitResult) -> None:
        if self.trial.per_fold:  # the fold's value is the one the job would return for it: best or last
            value = objective_value(result.history, self.objective, self.mode)
            self.trial.report(value, fold, f"after fold {fold + 1} of {self.folds}")
