"""How an ensemble mixes its members' probabilities: the one rule that `sweeplab ensemble` applies to the
members' stored test predictions and that an ensemble's model applies to a folder's (predict, the MLflow
model), so the two give the same submission."""

import numpy as np

from sweeplab.errors import SweeplabError
from sweeplab.offline import mix

METHODS = ("mean", "rank")


def check_weights(weights: list[float] | None, runs: int) -> np.ndarray:
    """The members' weights (equal when None): one per run, non-negative, not all 0."""
    w = np.ones(runs) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(w) != runs or (w < 0).any() or w.sum() == 0:
        given = ",".join(f"{x:g}" for x in w.tolist())
        raise SweeplabError(
            f"--weights {given}: give {runs} non-negative numbers, one per run, not all 0 (e.g. "
            f"{','.join(['2'] + ['1'] * (runs - 1))})"
        )
    return w


def combine(
    probs: list[np.ndarray],
    method: str = "mean",
    weights: list[float] | None = None,
    multilabel: bool = False,
) -> np.ndarray:
    """The weighted mean of the members' probabilities (sweeplab.offline.mix, which the bundle's predict.py
    runs too), with the method and the weights checked; `rank` for metrics that only rank (ROC-AUC)."""
    if method not in METHODS:
        raise SweeplabError(f"--method {method!r} is unknown; valid: {', '.join(METHODS)}")
    return mix(probs, method, check_weights(weights, len(probs)), multilabel)
