"""Per-tag threshold tuning: the right thresholds on a constructed case, the rules it follows, and its
speed on Planet's size (8,000 validation images x 17 tags)."""

import time

import numpy as np
import pytest

from sweeplab.scoring.measures import metric_score
from sweeplab.scoring.thresholds import THRESHOLD_GRID, _scores_moving, tune_thresholds

# Tag 0: positives at 0.40 and 0.32, negatives at 0.27 and 0.12 -> only 0.30 of the grid separates them.
# Tag 1: positives at 0.90, 0.80 and 0.72, negative at 0.60 -> 0.65 and 0.70 do; the lower is kept.
TRUTH = np.array([[1, 1], [1, 0], [0, 1], [0, 1]], dtype=np.uint8)
PROBS = np.array([[0.40, 0.90], [0.32, 0.60], [0.27, 0.80], [0.12, 0.72]])


@pytest.mark.parametrize("metric", ["mean_f2", "accuracy", "macro_f1", "mean_columnwise_roc_auc", "log_loss"])
def test_tuning_finds_the_separating_thresholds(metric):
    # Metrics of probabilities tune for mean_f2, which the same thresholds maximise.
    thresholds = tune_thresholds(TRUTH, PROBS, metric)
    assert thresholds.tolist() == [0.30, 0.65]
    scored = metric if metric in ("mean_f2", "accuracy", "macro_f1") else "mean_f2"
    assert metric_score(scored, TRUTH, PROBS, thresholds) == 1.0
    assert metric_score(scored, TRUTH, PROBS) < 1.0  # at 0.5 the second image also gets tag 1


def test_the_grid_and_ties_keep_the_current_threshold():
    assert THRESHOLD_GRID.tolist() == [round(0.05 * i, 2) for i in range(1, 20)]
    truth = np.array([[1, 1], [0, 1], [1, 1]], dtype=np.uint8)
    probs = np.array([[0.8, 0.99], [0.1, 0.99], [0.7, 0.99]])
    # Tag 1 is in every image at 0.99: every threshold up to 0.95 is as good; it stays at 0.5.
    assert tune_thresholds(truth, probs, "mean_f2")[1] == 0.5


def test_multiclass_truth_needs_no_thresholds():
    assert tune_thresholds(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]), "accuracy").tolist() == [
        0.5,
        0.5,
    ]


def planet_sized(seed=0):
    rng = np.random.default_rng(seed)
    truth = (rng.random((8000, 17)) < rng.uniform(0.02, 0.6, 17)).astype(np.uint8)
    probs = np.clip(truth * rng.uniform(0.1, 0.5, 17) + rng.random((8000, 17)) * 0.6, 0, 1).astype(np.float32)
    return truth, probs


@pytest.mark.parametrize("metric", ["mean_f2", "macro_f1", "accuracy"])
def test_scoring_every_grid_value_at_once_equals_scoring_each(metric):
    truth, probs = planet_sized()
    truth, probs = truth[:500], probs[:500]
    probs[:20] = 0.01  # images with no tag above any threshold: they get their most likely one
    thresholds = np.random.default_rng(1).choice(THRESHOLD_GRID, 17)
    for j in (0, 7, 16):
        expected = [
            metric_score(metric, truth, probs, np.where(np.arange(17) == j, t, thresholds))
            for t in THRESHOLD_GRID
        ]
        got = _scores_moving(truth, probs, thresholds, j, metric, probs.argmax(1))
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_tuning_planet_sized_validation_is_fast_and_improves_the_score():
    truth, probs = planet_sized()
    start = time.perf_counter()
    thresholds = tune_thresholds(truth, probs, "mean_f2")
    seconds = time.perf_counter() - start
    print(f"tune_thresholds on 8,000 x 17 (19 values x 2 passes): {seconds:.3f} s (goal: < 1 s)")
    assert metric_score("mean_f2", truth, probs, thresholds) > metric_score("mean_f2", truth, probs)
