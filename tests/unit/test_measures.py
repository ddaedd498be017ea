"""The competition metrics as Kaggle defines them: hand-computed values, a plain re-implementation on
random cases, the metrics' orientation and the refusals of a metric that does not fit."""

import math

import numpy as np
import pytest

from helpers import kaggle_reference as ref
from sweeplab.errors import ConfigError
from sweeplab.kaggle.ensemble_selection import chance_score
from sweeplab.offline import predicted_tags
from sweeplab.scoring.measures import check_metric, metric_score
from sweeplab.scoring.metrics import validation_metrics
from sweeplab.scoring.orientation import METRICS, metric_mode
from sweeplab.scoring.submission import Submission, SubmissionFormat

# Three images, tags a, b, c. At 0.5: {a}, {a, c}, and no tag -> its most likely one, {a}.
TAG_TRUTH = np.array([[1, 1, 0], [0, 0, 1], [0, 1, 0]], dtype=np.uint8)
TAG_PROBS = np.array([[0.9, 0.4, 0.1], [0.7, 0.2, 0.6], [0.3, 0.2, 0.1]])
LOWER_B = [0.5, 0.35, 0.5]  # b at 0.35: the first image gets {a, b}; the third still {a}


@pytest.mark.parametrize(
    ("metric", "truth", "probs", "thresholds", "expected"),
    [
        ("accuracy", np.array([0, 1, 1]), np.array([[0.6, 0.4], [0.3, 0.7], [0.8, 0.2]]), None, 2 / 3),
        # Rows clipped, then normalised: [1, 0.5, 0.5] is [0.5, 0.25, 0.25] (to 1e-15).
        (
            "log_loss",
            np.array([0, 1]),
            np.array([[1.0, 0.5, 0.5], [0.2, 0.6, 0.2]]),
            None,
            -(math.log(0.5) + math.log(0.6)) / 2,
        ),
        ("log_loss", np.array([0]), np.array([[0.0, 1.0]]), None, 15 * math.log(10)),  # p clipped at 1e-15
        # Multi-label: the mean over the columns of each tag's binary log loss.
        ("log_loss", np.array([[1, 0]]), np.array([[0.8, 0.3]]), None, -(math.log(0.8) + math.log(0.7)) / 2),
        # Positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ordered right.
        (
            "roc_auc",
            np.array([0, 0, 1, 1]),
            np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]]),
            None,
            0.75,
        ),
        # Per class AUC 1, 2/3 (0.5 vs 0.3, 0.2, 0.55), 1: mean 8/9.
        (
            "mean_columnwise_roc_auc",
            np.array([0, 1, 2, 0]),
            np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.3, 0.2, 0.5], [0.4, 0.55, 0.05]]),
            None,
            8 / 9,
        ),
        # F2 = 5PR / (4P + R): {a} for {a, b} 2.5 / 4.5 = 5/9; {a, c} for {c} 2.5 / 3 = 5/6; {a} for {b} 0.
        ("mean_f2", TAG_TRUTH, TAG_PROBS, None, (5 / 9 + 5 / 6) / 3),
        ("mean_f2", TAG_TRUTH, TAG_PROBS, LOWER_B, (1 + 5 / 6) / 3),
        ("accuracy", TAG_TRUTH, TAG_PROBS, None, 0.0),  # exact match of the tag sets
        ("accuracy", TAG_TRUTH, TAG_PROBS, LOWER_B, 1 / 3),
        # Grades 0, 1, 2 predicted 0, 2, 2: 1 - (1/4) / (15/4 / 3) = 0.8, whatever the unused 4th grade.
        ("quadratic_weighted_kappa", np.array([0, 1, 2]), np.eye(4)[[0, 2, 2]], None, 0.8),
        # True class first (1), third (1/3), and sixth of six (beyond 5: 0).
        (
            "map_at_k",
            np.array([2, 0, 5]),
            np.array(
                [[0, 0, 0.5, 0.2, 0.2, 0.1], [0.2, 0.3, 0, 0, 0.5, 0], [0.3, 0.25, 0.2, 0.1, 0.1, 0.05]]
            ),
            None,
            4 / 9,
        ),
        ("map_at_k", np.array([1]), np.full((1, 6), 1 / 6), None, 1 / 2),  # ties: the earlier class first
    ],
)
def test_metric_values_by_hand(metric, truth, probs, thresholds, expected):
    assert metric_score(metric, truth, probs, thresholds) == pytest.approx(expected)


def random_case(n=60, c=5, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c)) + 2 * np.eye(c)[truth := rng.integers(0, c, n)]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return truth, probs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_multiclass_metrics_match_a_plain_implementation(seed):
    truth, probs = random_case(seed=seed)
    predicted, onehot = probs.argmax(1).tolist(), np.eye(5, dtype=int)[truth].tolist()
    classes = list(range(5))
    assert metric_score("accuracy", truth, probs) == pytest.approx(ref.accuracy(truth.tolist(), predicted))
    assert metric_score("macro_f1", truth, probs) == pytest.approx(
        ref.macro_f1(truth.tolist(), predicted, classes)
    )
    assert metric_score("log_loss", truth, probs) == pytest.approx(ref.log_loss(onehot, probs.tolist()))
    assert metric_score("mean_columnwise_roc_auc", truth, probs) == pytest.approx(
        ref.mean_columnwise_auc(onehot, probs.tolist())
    )
    assert metric_score("quadratic_weighted_kappa", truth, probs) == pytest.approx(
        ref.quadratic_weighted_kappa(truth.tolist(), predicted, 5)
    )
    ranked = [sorted(range(5), key=lambda j, row=row: -row[j]) for row in probs.tolist()]
    for k in (1, 3, 5):
        assert metric_score("map_at_k", truth, probs, top_k=k) == pytest.approx(
            ref.map_at_k(truth.tolist(), ranked, k)
        )


def test_multilabel_metrics_match_a_plain_implementation():
    rng = np.random.default_rng(3)
    truth = (rng.random((50, 6)) < 0.3).astype(np.uint8)
    probs = np.clip(truth * 0.3 + rng.random((50, 6)) * 0.7, 0, 1)
    thresholds = [0.3, 0.4, 0.5, 0.6, 0.45, 0.55]
    tags = predicted_tags(probs, thresholds)
    true_sets = [set(np.flatnonzero(r)) for r in truth]
    pred_sets = [set(np.flatnonzero(r)) for r in tags]
    above = probs >= thresholds
    assert all(pred_sets) and (tags == above)[above.any(1)].all()  # rows with a tag above: exactly those
    assert metric_score("mean_f2", truth, probs, thresholds) == pytest.approx(
        ref.mean_f2(true_sets, pred_sets)
    )
    assert metric_score("accuracy", truth, probs, thresholds) == pytest.approx(
        ref.accuracy([frozenset(s) for s in true_sets], [frozenset(s) for s in pred_sets])
    )
    per_tag = [ref.macro_f1(truth[:, j].tolist(), tags[:, j].astype(int).tolist(), [1]) for j in range(6)]
    assert metric_score("macro_f1", truth, probs, thresholds) == pytest.approx(sum(per_tag) / 6)
    assert metric_score("log_loss", truth, probs) == pytest.approx(
        ref.columnwise_log_loss(truth.tolist(), probs.tolist())
    )
    assert metric_score("mean_columnwise_roc_auc", truth, probs) == pytest.approx(
        ref.mean_columnwise_auc(truth.tolist(), probs.tolist())
    )


def test_predicted_tags_give_every_image_its_most_likely_tag_at_least():
    tags = predicted_tags(np.array([[0.2, 0.4, 0.1], [0.6, 0.7, 0.01]]), [0.5, 0.5, 0.05])
    assert tags.tolist() == [[False, False, True], [True, True, False]]
    assert predicted_tags(np.array([[0.2, 0.4, 0.1]])).tolist() == [[False, True, False]]


def test_columns_with_one_class_present_are_skipped_and_none_left_is_nan():
    truth = np.array([[1, 0], [0, 0], [1, 0]], dtype=np.uint8)  # the second tag never occurs
    probs = np.array([[0.9, 0.2], [0.3, 0.4], [0.2, 0.1]])
    assert metric_score("mean_columnwise_roc_auc", truth, probs) == pytest.approx(0.5)  # (1 + 0) / 2 pairs
    assert math.isnan(metric_score("mean_columnwise_roc_auc", np.ones((2, 2), np.uint8), probs[:2]))
    assert math.isnan(metric_score("roc_auc", np.array([1, 1]), np.array([[0.4, 0.6], [0.3, 0.7]])))


@pytest.mark.parametrize(
    ("metric", "mode"),
    [
        ("mean_columnwise_roc_auc", "max"),
        ("mean_f2", "max"),
        ("quadratic_weighted_kappa", "max"),
        ("map_at_k", "max"),
        ("log_loss", "min"),
    ],
)
def test_each_metric_knows_its_orientation(metric, mode):
    assert metric in METRICS and metric_mode(metric) == mode


@pytest.mark.parametrize(
    ("metric", "num_classes", "multilabel", "message"),
    [
        ("f2", 2, False, "data.metric='f2' is unknown; valid: accuracy, macro_f1, roc_auc, log_loss, mean_"),
        ("roc_auc", 3, False, "roc_auc needs a binary competition, this one has 3 classes; use data.metric="),
        ("roc_auc", 2, True, "roc_auc needs a binary competition, this one is multi-label with 2 tags"),
        ("quadratic_weighted_kappa", 5, True, "quadratic_weighted_kappa needs one label per image"),
        # The newcomer's Planet read as 16 classes: mean F2 would score the file's tags, not those classes.
        ("mean_f2", 16, False, "data.metric=mean_f2 scores sets of tags, this competition has 16 classes"),
        (
            "map_at_k",
            17,
            True,
            "data.metric=map_at_k needs one label per image, this competition is multi-label",
        ),
    ],
)
def test_a_metric_that_does_not_fit_is_refused_in_one_line(metric, num_classes, multilabel, message):
    with pytest.raises(ConfigError) as info:
        check_metric(metric, num_classes, multilabel)
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("metric", "num_classes", "multilabel"),
    [
        ("roc_auc", 2, False),
        ("mean_f2", 17, True),
        ("mean_columnwise_roc_auc", 4, True),
        ("quadratic_weighted_kappa", 5, False),
        ("map_at_k", 5005, False),
        ("log_loss", 120, False),
    ],
)
def test_metrics_that_fit_pass(metric, num_classes, multilabel):
    check_metric(metric, num_classes, multilabel)


def test_multilabel_chance_is_each_tags_frequency_for_every_image():
    truth = np.array([[1, 0], [1, 1], [0, 0], [1, 0]], dtype=np.uint8)
    # Frequencies [0.75, 0.25] -> {first tag} everywhere: F2 1, 5/9, 0 (no true tag), 1.
    assert chance_score("mean_f2", truth, 2) == pytest.approx((2 + 5 / 9) / 4)
    assert chance_score("accuracy", np.array([0, 1, 1]), 2) == pytest.approx(2 / 3)


def test_validation_metrics_of_a_multilabel_run():
    tags = Submission(SubmissionFormat("tags"), ("a", "b", "c"), True, ("tags",), ())
    got = validation_metrics(TAG_TRUTH, TAG_PROBS, "mean_f2", tags, LOWER_B)
    bce = -np.mean(TAG_TRUTH * np.log(TAG_PROBS) + (1 - TAG_TRUTH) * np.log(1 - TAG_PROBS))
    # Tags at LOWER_B: {a, b}, {a, c}, {a}: 3 + 2 + 1 of 9 tag decisions right.
    assert got == {
        "val/loss": pytest.approx(bce),
        "val/acc": pytest.approx(6 / 9),
        "val/score": pytest.approx((1 + 5 / 6) / 3),
    }
    probabilities = Submission(SubmissionFormat("probabilities"), ("x", "y"), False, ("x", "y"), ())
    multiclass = validation_metrics(
        np.array([0, 1]), np.array([[0.8, 0.2], [0.6, 0.4]]), "log_loss", probabilities
    )
    assert multiclass == {
        "val/loss": pytest.approx(-(math.log(0.8) + math.log(0.4)) / 2),
        "val/acc": 0.5,
        "val/score": pytest.approx(-(math.log(0.8) + math.log(0.4)) / 2),
    }
