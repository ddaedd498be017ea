"""The competition metrics as Kaggle computes them, each through the transformation the submission gets:
argmax labels, thresholded tags, the top-k labels, or the probabilities themselves.

Truth is what a Competition holds: class indices (N,) for multi-class, 0/1 rows (N, C) for multi-label.
"""

import warnings

import numpy as np

from sweeplab.errors import ConfigError
from sweeplab.offline import predicted_tags, top_classes
from sweeplab.scoring.orientation import METRICS, TAG_SET_METRICS

# Scored on the probabilities: a submission of labels or tags throws that information away.
PROBABILITY_METRICS = ("roc_auc", "log_loss", "mean_columnwise_roc_auc")
# Scored on the predicted tag sets of a multi-label competition: these depend on the thresholds.
THRESHOLDED_METRICS = ("accuracy", "macro_f1", "mean_f2")
# Defined for one label per image only.
MULTICLASS_METRICS = ("quadratic_weighted_kappa", "map_at_k")
# Kaggle's log loss clips every probability to [1e-15, 1 - 1e-15] before normalising the rows.
CLIP = 1e-15
# F-beta with beta = 2 (Planet's mean F2): recall weighs beta^2 = 4 times as much as precision.
BETA2 = 4.0


def check_metric(metric: str, num_classes: int, multilabel: bool = False) -> None:
    """Refuse an unknown metric, or one that does not fit the competition, before anything is trained."""
    if metric not in METRICS:
        raise ConfigError(f"data.metric={metric!r} is unknown; valid: {', '.join(METRICS)}")
    shape = f"is multi-label with {num_classes} tags" if multilabel else f"has {num_classes} classes"
    if metric == "roc_auc" and (multilabel or num_classes != 2):
        raise ConfigError(
            f"data.metric=roc_auc needs a binary competition, this one {shape}; "
            "use data.metric=mean_columnwise_roc_auc"
        )
    if metric in TAG_SET_METRICS and not multilabel:
        raise ConfigError(
            f"data.metric={metric} scores sets of tags, this competition {shape} with one label per image: "
            "use data.metric=accuracy or macro_f1 (or data.task=auto, which reads tags under it)"
        )
    if metric in MULTICLASS_METRICS and multilabel:
        raise ConfigError(
            f"data.metric={metric} needs one label per image, this competition {shape}; "
            "use data.metric=mean_f2, macro_f1 or mean_columnwise_roc_auc"
        )


def one_hot(indices: np.ndarray, num_classes: int) -> np.ndarray:
    return np.eye(num_classes, dtype=bool)[indices]


def tag_set_scores(metric: str, truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """accuracy (exact match), macro_f1 or mean_f2 of predicted tag sets pred (N, C) against truth (N, C)."""
    truth = truth.astype(bool)
    hits = pred & truth
    if metric == "macro_f1":
        return macro_f1_of_counts(hits.sum(-2), pred.sum(-2), truth.sum(-2))
    return row_mean_of_counts(metric, *(np.count_nonzero(a, axis=-1) for a in (hits, pred, truth)))


def macro_f1_of_counts(tp: np.ndarray, predicted: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Macro F1 from per-class counts (..., C): F1 = 2 tp / (predicted + true), 0 for a class neither
    predicted nor true (sklearn's zero_division=0)."""
    both = predicted + true
    return np.where(both > 0, 2 * tp / np.maximum(both, 1), 0.0).mean(-1)


def row_mean_of_counts(metric: str, tp: np.ndarray, predicted: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Exact-match accuracy or mean F2 from per-image counts (..., N) of hits, predicted and true tags."""
    if metric == "accuracy":
        return ((tp == predicted) & (tp == true)).mean(-1)
    # F2 = (1 + b2) tp / ((1 + b2) tp + b2 fn + fp) = 5 tp / (4 true + predicted), with fn = true - tp and
    # fp = predicted - tp; 0 without a true positive (and for an image with no true and no predicted tag).
    return ((1 + BETA2) * tp / np.maximum(BETA2 * true + predicted, 1)).mean(-1)


def _log_loss(truth: np.ndarray, probs: np.ndarray) -> float:
    p = np.clip(probs.astype(np.float64), CLIP, 1 - CLIP)
    if truth.ndim == 2:  # mean over the columns of each tag's binary log loss
        return float(-np.mean(truth * np.log(p) + (1 - truth) * np.log(1 - p)))
    p /= p.sum(1, keepdims=True)
    return float(-np.mean(np.log(p[np.arange(len(truth)), truth])))


def _sklearn_metrics():
    """sklearn.metrics, imported by the metrics that need it: 0.9 s of every job's start on two cores
    otherwise, which an accuracy or F2 competition never uses."""
    import sklearn.metrics

    return sklearn.metrics


def _columnwise_roc_auc(truth: np.ndarray, probs: np.ndarray) -> float:
    """The mean of each column's ROC AUC; a column with one class present has none and is skipped."""
    columns = truth if truth.ndim == 2 else one_hot(truth, probs.shape[1])
    aucs = [
        _sklearn_metrics().roc_auc_score(columns[:, j], probs[:, j])
        for j in range(probs.shape[1])
        if 0 < columns[:, j].sum() < len(columns)
    ]
    return float(np.mean(aucs)) if aucs else float("nan")


def _roc_auc(truth: np.ndarray, probs: np.ndarray) -> float:
    # AUC(y == 1, p1) equals AUC(y == 0, p0) when p0 = 1 - p1: which class is positive does not matter.
    if len(np.unique(truth)) < 2:
        return float("nan")  # undefined with one class present
    return float(_sklearn_metrics().roc_auc_score(truth == 1, probs[:, 1]))


def _kappa(truth: np.ndarray, probs: np.ndarray) -> float:
    with warnings.catch_warnings():  # one grade everywhere on both sides: 0/0, NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        kappa = _sklearn_metrics().cohen_kappa_score
        return float(kappa(truth, probs.argmax(1), weights="quadratic", labels=list(range(probs.shape[1]))))


def _map_at_k(truth: np.ndarray, probs: np.ndarray, top_k: int) -> float:
    """One true label per image: 1 / rank of it within the top k labels, 0 beyond (MAP@k)."""
    hits = top_classes(probs, top_k) == truth[:, None]
    return float((hits / np.arange(1, hits.shape[1] + 1)).sum(1).mean())


def metric_score(
    metric: str,
    truth: np.ndarray,
    probs: np.ndarray,
    thresholds: np.ndarray | list[float] | None = None,
    top_k: int = 5,
) -> float:
    """The competition metric of probabilities against the truth, through the submission's transformation
    (argmax for one label per image, thresholds for tags, the top k labels for map_at_k)."""
    truth = np.asarray(truth)
    multilabel = truth.ndim == 2
    check_metric(metric, probs.shape[1], multilabel)
    if metric in THRESHOLDED_METRICS:
        if multilabel:
            return float(tag_set_scores(metric, truth, predicted_tags(probs, thresholds)))
        if metric == "accuracy":
            return float((probs.argmax(1) == truth).mean())
        num_classes = probs.shape[1]
        pred = one_hot(probs.argmax(1), num_classes)
        return float(tag_set_scores(metric, one_hot(truth, num_classes), pred))
    if metric == "log_loss":
        return _log_loss(truth, probs)
    if metric == "roc_auc":
        return _roc_auc(truth, probs)
    if metric == "mean_columnwise_roc_auc":
        return _columnwise_roc_auc(truth, probs)
    if metric == "quadratic_weighted_kappa":
        return _kappa(truth, probs)
    return _map_at_k(truth, probs, top_k)
