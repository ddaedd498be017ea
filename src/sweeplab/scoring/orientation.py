"""Which way each metric improves: defined once, read by the objective, the study's direction, the best
epoch, ensemble selection and the reports. No heavy imports: the sweep process reads it before any job."""

from sweeplab.errors import ConfigError
from sweeplab.protocol import Metric

# Each competition metric's orientation, as Kaggle ranks its leaderboard.
HIGHER_IS_BETTER = {
    "accuracy": True,
    "macro_f1": True,
    "roc_auc": True,
    "log_loss": False,
    "mean_columnwise_roc_auc": True,
    "mean_f2": True,
    "quadratic_weighted_kappa": True,
    "map_at_k": True,
}
METRICS = tuple(HIGHER_IS_BETTER)
# Scored on each image's set of tags (Planet's mean F2): multi-label data only, so data.task=auto reads
# the labels as tags under it. Here, not in measures, for the data layer's light imports.
TAG_SET_METRICS = ("mean_f2",)


def metric_mode(metric: str) -> str:
    """The competition metric's orientation: max when higher is better, min when lower is (log_loss)."""
    if metric not in HIGHER_IS_BETTER:
        raise ConfigError(f"data.metric={metric!r} is unknown; valid: {', '.join(METRICS)}")
    return "max" if HIGHER_IS_BETTER[metric] else "min"


def lower_is_better(metric: str) -> bool:
    """Whether a recorded competition metric is a loss (log_loss); an unknown name counts as a score."""
    return HIGHER_IS_BETTER.get(metric) is False


# Keys whose orientation does not depend on the competition: accuracy up, losses and the spread of the
# folds' scores down.
FIXED_MODES = {
    Metric.TRAIN_ACC: "max",
    Metric.VAL_ACC: "max",
    Metric.TRAIN_LOSS: "min",
    Metric.VAL_LOSS: "min",
    Metric.CV_STD: "min",
}
# Keys scored with the competition's own metric: they go its way.
COMPETITION_KEYS = (Metric.VAL_SCORE, Metric.KAGGLE_PUBLIC, Metric.KAGGLE_PRIVATE, Metric.OOF_SCORE)


def key_mode(key: str, competition_metric: str) -> str:
    """Which way a logged metric improves ("max" or "min") in a competition scored by competition_metric.

    gap/val_minus_public goes against the competition metric: it is how much better validation looks
    than the leaderboard, and less of that is better (for log_loss a lower val/score looks better, so
    the gap is best when highest).
    """
    if key in FIXED_MODES:
        return FIXED_MODES[key]
    mode = metric_mode(competition_metric)
    if key in COMPETITION_KEYS:
        return mode
    if key == Metric.GAP:
        return "min" if mode == "max" else "max"
    raise KeyError(f"{key} has no orientation")
