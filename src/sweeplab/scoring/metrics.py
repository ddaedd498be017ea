"""The competition metrics a run logs: validation scores, and Kaggle's public/private scores."""

import numpy as np
import torch
import torch.nn.functional as F

from sweeplab.offline import predicted_tags
from sweeplab.protocol import Metric
from sweeplab.scoring.solution import Solution
from sweeplab.scoring.submission import Submission, Thresholds

# log(0) guard for val/loss; the competition's log_loss clips at 1e-15 as Kaggle does.
EPS = 1e-12


def validation_metrics(
    truth: np.ndarray,
    probs: np.ndarray,
    metric: str,
    submission: Submission,
    thresholds: Thresholds = None,
) -> dict[str, float]:
    """val/loss, val/acc and val/score (the competition's metric of the values a submission would hold
    for these images, in memory) of probabilities for this truth: class indices (N,), or 0/1 tag rows."""
    p = torch.from_numpy(probs)
    if np.ndim(truth) == 2:  # multi-label: mean BCE of the sigmoids, per-tag accuracy at the thresholds
        # binary_cross_entropy clamps each log at -100 itself: a sigmoid of exactly 0 or 1 stays finite.
        loss = F.binary_cross_entropy(p, torch.from_numpy(truth.astype(probs.dtype)))
        acc = float((predicted_tags(probs, thresholds) == truth.astype(bool)).mean())
    else:
        loss = F.nll_loss(torch.log(p.clamp_min(EPS)), torch.from_numpy(truth))
        acc = float((probs.argmax(1) == truth).mean())
    return {
        Metric.VAL_LOSS: float(loss),
        Metric.VAL_ACC: acc,
        Metric.VAL_SCORE: submission.score(metric, truth, probs, thresholds),
    }


def leaderboard_metrics(
    solution: Solution,
    metric: str,
    submission: Submission,
    probs: np.ndarray,
    val: dict[str, float],
    thresholds: Thresholds = None,
) -> dict[str, float]:
    """kaggle/public, kaggle/private of the file these probabilities would write, as Kaggle scores it,
    and the gap to validation."""
    # The gap to validation is what shows overfitting to validation.
    scores = solution.scores(metric, submission, probs, thresholds)
    if Metric.KAGGLE_PUBLIC in scores and Metric.VAL_SCORE in val:
        scores[Metric.GAP] = val[Metric.VAL_SCORE] - scores[Metric.KAGGLE_PUBLIC]
    return scores
