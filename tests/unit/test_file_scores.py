"""Every score sweeplab logs is the file's: for every (submission format, metric) pair sweeplab allows,
the submission is written and re-read by an independent scorer (helpers.leaderboard, which imports nothing
from sweeplab), and kaggle/public and val/score must equal its score of the file."""

import csv
import itertools

import numpy as np
import pytest

from helpers.kaggle_reference import bare_competition
from helpers.leaderboard import score
from sweeplab.errors import ConfigError
from sweeplab.offline import positive_class
from sweeplab.scoring.measures import check_metric
from sweeplab.scoring.orientation import METRICS
from sweeplab.scoring.solution import read_solution
from sweeplab.scoring.submission import FORMATS, Submission, submission_format, write_submission
from sweeplab.scoring.thresholds import tune_thresholds

N = 60
IDS = [f"t{i}" for i in reversed(range(N))]  # not sorted: rows are joined by id
USAGE = ["Public" if i % 3 else "Private" for i in range(N)]
# (classes, task, sample columns, sample values): binary labels as names and as 0/1, integer grades,
# breeds, Planet's tags.
SHAPES = {
    "binary": (["cat", "dog"], "multiclass", ("label",), ("cat",)),
    "cactus": (["0", "1"], "multiclass", ("has_cactus",), ("0",)),
    "breeds": (["beagle", "chow", "pug"], "multiclass", ("breed",), ("pug",)),
    "grades": (["0", "1", "2", "3"], "multiclass", ("diagnosis",), ("0",)),
    "tags": (["clear", "haze", "primary", "road"], "multilabel", ("tags",), ("clear primary",)),
}


def allowed_pairs():
    """(shape, metric, format) for every pair sweeplab accepts: the format given, or inferred (None)."""
    for (shape, (classes, task, columns, values)), metric, kind in itertools.product(
        SHAPES.items(), METRICS, (None, *FORMATS)
    ):
        if metric == "quadratic_weighted_kappa" and not classes[0].isdigit():
            continue  # Kaggle's kappa reads integer grades: names are no competition's grades
        competition = bare_competition(classes, IDS, task, columns, values)
        try:
            check_metric(metric, len(classes), task == "multilabel")
            submission_format(competition, metric, kind)
        except ConfigError:
            continue
        yield shape, metric, kind


PAIRS = list(allowed_pairs())


def truth_and_probs(shape: str, rng: np.random.Generator):
    classes = SHAPES[shape][0]
    if SHAPES[shape][1] == "multilabel":
        truth = (rng.random((N, len(classes))) < 0.4).astype(np.uint8)
        truth[truth.sum(1) == 0, 0] = 1  # every image has a tag
        return truth, np.clip(0.35 * truth + 0.65 * rng.random(truth.shape), 0, 1)
    truth = rng.integers(0, len(classes), N)
    logits = rng.normal(size=(N, len(classes))) + 1.2 * np.eye(len(classes))[truth]
    return truth, np.exp(logits) / np.exp(logits).sum(1, keepdims=True)


def solution_cells(competition, kind: str, truth: np.ndarray) -> tuple[list[str], list[list[str]]]:
    """Kaggle's solution for this submission: its columns holding the truth."""
    classes = competition.classes
    if kind == "probabilities":
        hot = truth if truth.ndim == 2 else np.eye(len(classes), dtype=int)[truth]
        return classes, [[str(int(v)) for v in row] for row in hot]
    if kind == "probability":
        return [competition.label_column], [[str(int(t == positive_class(classes)))] for t in truth]
    if truth.ndim == 2:
        return [competition.label_column], [[" ".join(np.array(classes)[row == 1])] for row in truth]
    return [competition.label_column], [[classes[t]] for t in truth]


@pytest.mark.parametrize(("shape", "metric", "kind"), PAIRS, ids=[f"{s}-{m}-{k}" for s, m, k in PAIRS])
def test_the_logged_scores_are_the_written_files(tmp_path, shape, metric, kind):
    classes, task, columns, values = SHAPES[shape]
    competition = bare_competition(classes, IDS, task, columns, values, label_column=columns[0])
    fmt = submission_format(competition, metric, kind)
    truth, probs = truth_and_probs(shape, np.random.default_rng(len(PAIRS)))
    thresholds = tune_thresholds(truth, probs, metric) if task == "multilabel" else None
    header, cells = solution_cells(competition, fmt.kind, truth)
    with (tmp_path / "solution.csv").open("w", newline="") as f:
        rows = ([i, *c, u] for i, c, u in zip(IDS, cells, USAGE, strict=True))
        csv.writer(f).writerows([["id", *header, "Usage"], *rows])
    written = write_submission(tmp_path / "submission.csv", competition, probs, fmt, thresholds)

    submission = Submission.of(competition, fmt)
    logged = read_solution(tmp_path / "solution.csv", competition).scores(
        metric, submission, probs, thresholds
    )
    public = np.array(USAGE) == "Public"
    expected = score(written, tmp_path / "solution.csv", metric, "Public")
    assert logged["kaggle/public"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert submission.score(metric, truth[public], probs[public], thresholds) == pytest.approx(expected)


def test_every_shape_and_metric_has_a_pair():
    """The pairs above are not empty by accident: each metric is scored on some shape."""
    assert {m for _, m, _ in PAIRS} == set(METRICS) and len(PAIRS) >= 20
