"""A job's objective noise (Attr.NOISE): the folds' spread, the binomial standard error of accuracy, or 0."""

import pytest

from sweeplab.training.result import FitResult, Scoring, objective_noise


@pytest.mark.parametrize(
    ("objective", "metric", "spread", "value", "n_val", "expected"),
    [
        ("val/score", "accuracy", None, 0.8, 25, 0.08),  # sqrt(0.8 * 0.2 / 25)
        ("val/acc", "log_loss", None, 0.5, 100, 0.05),  # val/acc is an accuracy whatever data.metric
        ("val/score", "accuracy", 0.031, 0.8, 25, 0.031),  # with folds: their spread
        ("val/loss", "log_loss", 0.2, 0.4, 25, 0.2),
        ("val/score", "macro_f1", None, 0.8, 25, 0.0),  # no simple noise model: 0
        ("val/loss", "accuracy", None, 0.4, 25, 0.0),
        ("val/score", "accuracy", None, 1.0, 25, 0.0),  # p(1-p) is 0 at the bounds
        ("val/score", "accuracy", None, float("nan"), 25, 0.0),  # no validation
    ],
)
def test_objective_noise(objective, metric, spread, value, n_val, expected):
    result = FitResult(fold_spread=spread)
    assert objective_noise(result, Scoring(objective, "max", metric), value, n_val) == pytest.approx(expected)
