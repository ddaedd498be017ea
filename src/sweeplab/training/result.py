"""How a fit's epochs are scored and which is the best, and what a fit returns."""

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from sweeplab.protocol import Metric
from sweeplab.scoring.solution import Solution
from sweeplab.scoring.submission import Submission
from sweeplab.scoring.thresholds import tune_thresholds


@dataclass(frozen=True)
class Scoring:
    """How each epoch is scored and which epoch is the best."""

    objective: str = Metric.VAL_ACC  # the metric key that picks the best epoch
    mode: str = "max"  # max | min | last
    metric: str = "accuracy"  # the competition's metric: val/score, and kaggle/* with a solution
    solution: Solution | None = None  # the competition's solution.csv: Kaggle's scores every epoch
    # What the submission holds: every score is the score of those values (None: the objective alone).
    submission: Submission | None = None
    # Multi-label only: fixed per-tag thresholds (a refit's, taken from the run it refits); None: tuned
    # on each epoch's validation predictions.
    thresholds: tuple[float, ...] | None = None

    @property
    def top_k(self) -> int:
        """Labels per row of a top_k submission (map_at_k)."""
        return self.submission.fmt.top_k if self.submission is not None else 5

    def thresholds_for(self, truth: np.ndarray | None, probs: np.ndarray | None) -> np.ndarray:
        """One epoch's multi-label thresholds: the fixed ones, else tuned on its validation predictions to
        maximise the competition's metric, else (no validation and none given) 0.5 for every tag."""
        if self.thresholds is not None:
            return np.asarray(self.thresholds, dtype=np.float64)
        if probs is None or truth is None or not len(probs):
            return np.full(truth.shape[1] if truth is not None else 0, 0.5)
        return tune_thresholds(truth, probs, self.metric, self.top_k)


@dataclass
class FitResult:
    history: list[dict[str, float]] = field(default_factory=list)  # one dict of metrics per epoch
    best_epoch: int = 0  # by the objective's metric and mode; the last epoch without validation
    best_test_probs: np.ndarray | None = None
    last_test_probs: np.ndarray | None = None
    best_val_probs: np.ndarray | None = None  # the validation rows' probabilities at the best epoch
    # Multi-label: the per-tag thresholds of the best and the last epoch (what their submissions used).
    best_thresholds: np.ndarray | None = None
    last_thresholds: np.ndarray | None = None
    val_index: np.ndarray | None = None  # the rows of those probabilities
    # Every epoch's (validation, test) probabilities, kept for k-fold only: the submission's epoch (the
    # best of the mean curve over the folds) is known only once the last fold has trained.
    epoch_probs: list[tuple[np.ndarray | None, np.ndarray]] = field(default_factory=list)
    # The weights that made best_test_probs, one state_dict (on the CPU) per model averaged: the best
    # epoch's; with folds every fold's at the mean curve's best epoch.
    best_weights: list[dict[str, torch.Tensor]] = field(default_factory=list)
    # k-fold: the objective's spread (sample std) over the folds at the best epoch of the mean curve.
    fold_spread: float | None = None


def state_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state_dict copied to the CPU: later epochs go on changing the model's own tensors."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def improves(result: FitResult, metrics: dict[str, float], objective: str, mode: str) -> bool:
    """Whether this epoch is the best so far by the objective (mode max or min); with mode `last` or no
    validation metric at all, every epoch is: the best is then the last."""
    before = [h[objective] for h in result.history if objective in h]
    if objective not in metrics:
        return not before
    if not before or mode == "last":
        return True
    best = result.history[result.best_epoch - 1].get(objective)
    if best is None:
        return True
    return metrics[objective] < best if mode == "min" else metrics[objective] > best


def objective_noise(result: FitResult, scoring: Scoring, value: float, n_val: int) -> float:
    """The returned objective's noise (a study's plateau stop takes it as the least real improvement):
    with folds its spread over the folds at the returned epoch; for accuracy on a holdout the binomial
    standard error sqrt(p(1-p)/n) at p = the value, n validation images; else 0.0."""
    if result.fold_spread is not None:
        return result.fold_spread
    accuracy = scoring.objective == Metric.VAL_ACC or (
        scoring.objective == Metric.VAL_SCORE and scoring.metric == "accuracy"
    )
    if accuracy and n_val > 0 and 0.0 <= value <= 1.0:  # NaN (no validation) fails both comparisons
        return math.sqrt(value * (1 - value) / n_val)
    return 0.0


def shown(metrics: dict[str, float]) -> str:
    """Metrics as a log line shows them: key=value, four significant digits."""
    return "  ".join(f"{k}={v:.4g}" for k, v in metrics.items())
