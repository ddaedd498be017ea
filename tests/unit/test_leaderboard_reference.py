"""The independent reference scorer on tiny hand-written CSVs, each expected value computed by hand."""

import math
import re

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, fbeta_score

from helpers.leaderboard import beats, constant_score, score

# (metric, solution.csv, submission.csv, expected Public score, expected constant Public score)
CASES = [
    (
        "accuracy",  # 3 of 4 Public rows right; the private row is not counted; the largest class: 2 of 4
        "id,label,Usage\na,cat,Public\nb,dog,Public\nc,dog,Public\nd,cat,Public\ne,cat,Private\n",
        "id,label\nd,dog\nc,dog\nb,dog\na,cat\ne,dog\n",
        0.75,
        0.5,
    ),
    (
        "accuracy",  # probability columns: the argmax; the priors' argmax is the largest class (2 of 3)
        "id,a,b,Usage\n1,1,0,Public\n2,0,1,Public\n3,0,1,Public\n",
        "id,b,a\n1,0.3,0.7\n2,0.6,0.4\n3,0.2,0.8\n",
        2 / 3,
        2 / 3,
    ),
    (
        "accuracy",  # tags: the same set in any order; "1.0" is the label 1
        "id,tags,Usage\n1,clear primary,Public\n2,haze,Public\n3,1,Public\n",
        "id,tags\n1,primary clear\n2,haze primary\n3,1.0\n",
        2 / 3,
        1 / 3,
    ),
    (
        # cat: P 1, R 1/2, F1 2/3; dog: P 2/3, R 1, F1 4/5. Constant cat (tie, first by name): cat F1 2/3.
        "macro_f1",
        "id,label,Usage\na,cat,Public\nb,cat,Public\nc,dog,Public\nd,dog,Public\n",
        "id,label\na,cat\nb,dog\nc,dog\nd,dog\n",
        (2 / 3 + 4 / 5) / 2,
        (2 / 3 + 0) / 2,
    ),
    (
        "roc_auc",  # positives 0.35, 0.8 vs negatives 0.1, 0.4: 3 of 4 pairs ordered
        "id,has_cactus,Usage\na,0,Public\nb,0,Public\nc,1,Public\nd,1,Public\n",
        "id,has_cactus\na,0.1\nb,0.4\nc,0.35\nd,0.8\n",
        0.75,
        0.5,
    ),
    (
        # rows: p_true 0.5; 0.4/0.8 = 0.5 after normalising; 0 clipped to 1e-15. Priors 1/3 each: ln 3.
        "log_loss",
        "id,x,y,z,Usage\n1,1,0,0,Public\n2,0,0,1,Public\n3,0,1,0,Public\n",
        "id,x,y,z\n1,0.5,0.25,0.25\n2,0.2,0.2,0.4\n3,1,0,0\n",
        (2 * math.log(2) - math.log(1e-15 / (1 + 1e-15))) / 3,
        math.log(3),
    ),
    (
        "log_loss",  # one column: binary log loss of the probability of 1; prior 1/2: ln 2
        "id,label,Usage\na,1,Public\nb,0,Public\n",
        "id,label\na,0.8\nb,0.4\n",
        -(math.log(0.8) + math.log(0.6)) / 2,
        math.log(2),
    ),
    (
        # healthy AUC 1, rust AUC 2/4, scab all 0: skipped, not 0.5
        "mean_columnwise_roc_auc",
        "image_id,healthy,rust,scab,Usage\n"
        "T0,1,0,0,Public\nT1,0,1,0,Public\nT2,1,0,0,Public\nT3,0,1,0,Public\n",
        "image_id,healthy,rust,scab\nT0,0.9,0.2,0.1\nT1,0.1,0.1,0.1\nT2,0.8,0.6,0.1\nT3,0.3,0.7,0.1\n",
        0.75,
        0.5,
    ),
    (
        # F2 = 5 TP / (4 |true| + |predicted|): 5/9, 5/7, 0 (none right), 0 (empty). Best constant: all
        # four tags, 10/12 + 3 x 5/8.
        "mean_f2",
        "image_name,tags,Usage\n"
        "t0,clear primary,Public\nt1,haze,Public\nt2,water,Public\nt3,clear,Public\nt4,haze,Private\n",
        "image_name,tags\nt0,clear\nt1,clear haze primary\nt2,clear\nt3,\nt4,haze\n",
        (5 / 9 + 5 / 7) / 4,
        (10 / 12 + 3 * 5 / 8) / 4,
    ),
    (
        # ratings 0..2, weights (i-j)^2/4: observed 0.25, expected 1.25, kappa 1 - 0.2; a constant: 0
        "quadratic_weighted_kappa",
        "id_code,diagnosis,Usage\na,0,Public\nb,1,Public\nc,2,Public\n",
        "id_code,diagnosis\na,0\nb,2.0\nc,2\n",
        0.8,
        0.0,
    ),
    (
        # 1, 1/3, 0 (absent), 1/3 (w2 third: repeats keep their place), 0 (sixth). Constant: each
        # label once, ranked by name: w1 w2 w3 w6 w9 -> 1, 1/3, 1/5, 1/2, 1/4.
        "map_at_k",
        "Image,Id,Usage\n"
        "a.jpg,w1,Public\nb.jpg,w3,Public\nc.jpg,w9,Public\nd.jpg,w2,Public\ne.jpg,w6,Public\n",
        "Image,Id\na.jpg,w1 w2 w3 w4 w5\nb.jpg,w1 w2 w3 w4 w5\nc.jpg,w1 w2 w3 w4 w5\n"
        "d.jpg,w1 w1 w2 w3 w4\ne.jpg,w1 w2 w3 w4 w5 w6\n",
        (1 + 1 / 3 + 1 / 3) / 5,
        (1 + 1 / 3 + 1 / 5 + 1 / 2 + 1 / 4) / 5,
    ),
]


def write(tmp_path, solution: str, submission: str):
    (tmp_path / "solution.csv").write_text(solution)
    (tmp_path / "submission.csv").write_text(submission)
    return tmp_path / "submission.csv", tmp_path / "solution.csv"


@pytest.mark.parametrize(
    ("metric", "solution", "submission", "expected", "constant"),
    CASES,
    ids=[f"{case[0]}-{i}" for i, case in enumerate(CASES)],
)
def test_scores_as_computed_by_hand(tmp_path, metric, solution, submission, expected, constant):
    submission_csv, solution_csv = write(tmp_path, solution, submission)
    assert score(submission_csv, solution_csv, metric, "Public") == pytest.approx(expected, abs=1e-12)
    assert constant_score(solution_csv, metric, "Public") == pytest.approx(constant, abs=1e-12)


def test_usage_picks_the_rows_and_none_scores_them_all(tmp_path):
    submission_csv, solution_csv = write(tmp_path, CASES[0][1], CASES[0][2])
    assert score(submission_csv, solution_csv, "accuracy", "Private") == 0.0
    assert score(submission_csv, solution_csv, "accuracy", None) == pytest.approx(3 / 5)


def test_the_perfect_submission_is_the_solution_without_usage(tmp_path):
    solution = CASES[5][1]
    submission = "\n".join(line.rsplit(",", 1)[0] for line in solution.splitlines()) + "\n"
    assert score(*write(tmp_path, solution, submission), "log_loss") == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize(
    ("submission", "message"),
    [
        ("id,label\na,cat\nb,dog\n", "the submission lacks 2 ids"),
        ("id,label\na,cat\na,cat\n", "repeats ids"),
        ("id,guess\na,cat\n", "submission columns ['id', 'guess'] != ['id', 'label']"),
    ],
)
def test_a_malformed_submission_is_refused(tmp_path, submission, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        score(*write(tmp_path, CASES[0][1], submission), "accuracy")


def test_an_unknown_metric_names_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown metric f3; known: accuracy, macro_f1, roc_auc"):
        score(*write(tmp_path, CASES[0][1], CASES[0][2]), "f3")


def test_lower_is_better_only_for_log_loss():
    assert beats(0.3, 0.6, "log_loss") and not beats(0.3, 0.6, "roc_auc") and beats(0.9, 0.5, "map_at_k")


def test_kappa_and_f2_agree_with_scikit_learn_on_random_rows(tmp_path):
    rng = np.random.default_rng(0)
    truth, guess = rng.integers(0, 5, 60), rng.integers(0, 5, 60)
    rows = "".join(f"{i},{t},Public\n" for i, t in enumerate(truth))
    guesses = "".join(f"{i},{g}\n" for i, g in enumerate(guess))
    kappa = score(
        *write(tmp_path, "id,diagnosis,Usage\n" + rows, "id,diagnosis\n" + guesses),
        "quadratic_weighted_kappa",
    )
    assert kappa == pytest.approx(cohen_kappa_score(truth, guess, weights="quadratic"), abs=1e-12)
    tags = np.array(["a", "b", "c", "d"])
    true_sets, guessed_sets = rng.random((60, 4)) < 0.4, rng.random((60, 4)) < 0.5
    true_sets[:, 0] |= ~true_sets.any(axis=1)  # every image has a tag
    rows = "".join(f"{i},{' '.join(tags[t])},Public\n" for i, t in enumerate(true_sets))
    guesses = "".join(f"{i},{' '.join(tags[g])}\n" for i, g in enumerate(guessed_sets))
    f2 = score(*write(tmp_path, "id,tags,Usage\n" + rows, "id,tags\n" + guesses), "mean_f2")
    expected = fbeta_score(true_sets, guessed_sets, beta=2, average="samples", zero_division=0)
    assert f2 == pytest.approx(expected, abs=1e-12)
