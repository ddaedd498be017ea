"""The competition metrics a run logs: validation scores, and Kaggle's public/private scores."""

import numpy as np
import torch
import torch.nn.functional as F

from sweeplab.kaggle.scoring import Solution, metric_score
from sweeplab.protocol import Metric


def validation_metrics(labels: np.ndarray, probs: np.ndarray, metric: str) -> dict[str, float]:
    """val/loss, val/acc and val/score (the competition's metric) of probabilities for these labels."""
    log_probs = torch.log(torch.from_numpy(probs).clamp_min(1e-12))
    return {
        Metric.VAL_LOSS: float(F.nll_loss(log_probs, torch.from_numpy(labels))),
        Metric.VAL_ACC: float((probs.argmax(1) == labels).mean()),
        Metric.VAL_SCORE: metric_score(metric, labels, probs),
    }


def leaderboard_metrics(
    solution: Solution, metric: str, probs: np.ndarray, val: dict[str, float]
) -> dict[str, float]:
    """kaggle/public, kaggle/private as Kaggle would score them, and the gap to validation."""
    # The gap to validation is what shows overfitting to validation.
    scores = solution.scores(metric, probs)
    if Metric.KAGGLE_PUBLIC in scores and Metric.VAL_SCORE in val:
        scores[Metric.GAP] = val[Metric.VAL_SCORE] - scores[Metric.KAGGLE_PUBLIC]
    return scores
