"""Per-tag decision thresholds of a multi-label competition, tuned on validation predictions to maximise
the competition's metric on the tags a submission would write, or fixed by data.thresholds (a refit's)."""

import logging

import numpy as np

from sweeplab.errors import ConfigError
from sweeplab.scoring.measures import THRESHOLDED_METRICS, macro_f1_of_counts, row_mean_of_counts

log = logging.getLogger(__name__)
# 0.05, 0.10, ..., 0.95 (rounded so that stored thresholds read as written).
THRESHOLD_GRID = np.round(np.arange(1, 20) * 0.05, 2)
START = 0.5
PASSES = 2  # a second pass lets each tag answer the others' moves; a third rarely changes anything


def tune_thresholds(truth: np.ndarray, probs: np.ndarray, metric: str, top_k: int = 5) -> np.ndarray:
    """(C,) thresholds: coordinate ascent, one tag at a time over THRESHOLD_GRID, from 0.5 everywhere.

    Metrics that do not threshold (roc_auc, mean_columnwise_roc_auc, log_loss score the probabilities)
    tune for mean_f2 instead, so a tags submission still gets sensible thresholds. A move needs a strictly
    better score (ties keep the current value; among equal better ones the lowest threshold wins).
    Multi-class truth (N,) needs none: every threshold stays 0.5. top_k plays no part (top-k labels are
    not thresholded); it is accepted so that every scorer takes the same arguments.
    """
    num_classes = probs.shape[1]
    thresholds = np.full(num_classes, START)
    if np.ndim(truth) != 2:
        return thresholds
    target = metric if metric in THRESHOLDED_METRICS else "mean_f2"
    top = probs.argmax(1)
    for _ in range(PASSES):
        for j in range(num_classes):
            scores = _scores_moving(truth, probs, thresholds, j, target, top)
            current = int(np.flatnonzero(thresholds[j] == THRESHOLD_GRID)[0])
            best = int(np.argmax(scores))
            if scores[best] > scores[current]:
                thresholds[j] = THRESHOLD_GRID[best]
    return thresholds


def fixed_thresholds(given, classes: list[str], multilabel: bool) -> tuple[float, ...] | None:
    """data.thresholds, one per class of a multi-label competition (a refit's); refused otherwise."""
    if given is None:
        return None
    if not multilabel:
        raise ConfigError(
            "data.thresholds is for multi-label competitions (data.task=multilabel); this one is "
            "multi-class: remove it"
        )
    if len(given) != len(classes) or not all(0 < float(t) < 1 for t in given):
        raise ConfigError(
            f"data.thresholds needs {len(classes)} numbers in (0, 1), one per class "
            f"({', '.join(classes[:5])}...); got {list(given)}"
        )
    log.info(
        "per-class thresholds from data.thresholds (a refit takes its trial's: no validation to tune on): %s",
        ", ".join(f"{c}={float(t):g}" for c, t in zip(classes, given, strict=True)),
    )
    return tuple(float(t) for t in given)


def _scores_moving(
    truth: np.ndarray, probs: np.ndarray, thresholds: np.ndarray, j: int, metric: str, top: np.ndarray
) -> np.ndarray:
    """The metric for every grid value of tag j's threshold, the others fixed: (grid,) scores at once.

    Only tag j's column and the rows left without a tag (which then get their most likely tag, as in
    predicted_tags) change with it, so the other tags' counts are taken once: 19 x 8,000 x 17 in a few
    vectorised passes instead of 19 full scorings.
    """
    y = truth.astype(bool)
    others = probs >= thresholds
    others[:, j] = False
    moved = probs[None, :, j] >= THRESHOLD_GRID[:, None]  # (grid, N)
    fallback = ~others.any(1) & ~moved  # rows with no tag at all: they get their top tag
    top_true = y[np.arange(len(y)), top]
    if metric == "macro_f1":
        top_hot = np.eye(probs.shape[1])[top]  # (N, C)
        tp = (others & y).sum(0) + fallback @ (top_hot * top_true[:, None])
        predicted = others.sum(0) + fallback @ top_hot
        tp[:, j] += (moved & y[:, j]).sum(1)
        predicted[:, j] += moved.sum(1)
        return macro_f1_of_counts(tp, predicted, y.sum(0))
    tp = (others & y).sum(1) + (moved & y[:, j]) + (fallback & top_true)
    predicted = others.sum(1) + moved + fallback
    return row_mean_of_counts(metric, tp, predicted, y.sum(1))
