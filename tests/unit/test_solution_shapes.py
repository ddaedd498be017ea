"""solution.csv in Kaggle's own shape (the submission's columns holding the truth, plus Usage) and in
today's id,label,Usage; and the local Public score of a written submission, checked by a plain
implementation on the file's Public rows."""

import csv

import numpy as np
import pytest

from helpers import kaggle_reference as ref
from helpers.kaggle_reference import bare_competition
from sweeplab.errors import DataError
from sweeplab.scoring.solution import read_solution
from sweeplab.scoring.submission import Submission, submission_format, write_submission
from sweeplab.scoring.thresholds import tune_thresholds

IDS = ["t3", "t1", "t2", "t4"]
USAGE = ["Public", "Private", "Public", "Ignored"]


def solution_file(tmp_path, header, values):
    """A solution.csv: one row per test id (in another order than the submission's), then Usage."""
    rows = [[i, *v, u] for i, v, u in zip(IDS, values, USAGE, strict=True)]
    path = tmp_path / "solution.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([[*header, "Usage"], *reversed(rows)])
    return path


@pytest.mark.parametrize(
    ("case", "classes", "task", "header", "values", "truth"),
    [
        (
            "today's id,label",
            ["cat", "dog"],
            "multiclass",
            ["id", "label"],
            ["dog", "cat", "cat", "dog"],
            [1, 0, 0, 1],
        ),
        (
            "label names",
            ["0", "1", "2"],
            "multiclass",
            ["id_code", "diagnosis"],
            ["2", "0", "1", "1"],
            [2, 0, 1, 1],
        ),
        (
            "indices of named classes",
            ["cat", "dog", "fox"],
            "multiclass",
            ["id", "label"],
            ["2", "0", "1", "1"],
            [2, 0, 1, 1],
        ),
        (
            "0/1 probability column",
            ["cat", "dog"],
            "multiclass",
            ["id", "p_dog"],
            ["1", "0", "0", "1"],
            [1, 0, 0, 1],
        ),
        (
            "0.0/1.0 probability column",
            ["0", "1"],
            "multiclass",
            ["id", "has_cactus"],
            ["1.0", "0.0", "0.0", "1"],
            [1, 0, 0, 1],
        ),
        (
            "positive class '1' first",
            ["1", "2"],
            "multiclass",
            ["id", "p"],
            ["1", "0", "0.0", "1"],
            [0, 1, 1, 0],
        ),
        (
            "one-hot classes in another order",
            ["beagle", "chow", "pug"],
            "multiclass",
            ["id", "pug", "beagle", "chow"],
            [["1", "0", "0"], ["0", "1", "0"], ["0", "0", "1"], ["0.0", "1.0", "0.0"]],
            [2, 0, 1, 0],
        ),
        (
            "one-hot tags",
            ["clear", "road", "water"],
            "multilabel",
            ["image_name", "water", "clear", "road"],
            [["1", "1", "0"], ["0", "1", "1"], ["0", "0", "0"], ["1", "0", "1"]],
            [[1, 0, 1], [1, 1, 0], [0, 0, 0], [0, 1, 1]],
        ),
        (
            "tags",
            ["clear", "road", "water"],
            "multilabel",
            ["image_name", "tags"],
            ["clear water", "road clear", "", "water"],
            [[1, 0, 1], [1, 1, 0], [0, 0, 0], [0, 0, 1]],
        ),
    ],
)
def test_each_shape_is_read_into_the_truth(tmp_path, case, classes, task, header, values, truth):
    values = [v if isinstance(v, list) else [v] for v in values]
    solution = read_solution(solution_file(tmp_path, header, values), bare_competition(classes, IDS, task))
    assert solution.truth.tolist() == truth, case
    assert solution.truth.dtype == (np.uint8 if task == "multilabel" else np.int64)
    assert solution.public.tolist() == [True, False, True, False]
    assert solution.private.tolist() == [False, True, False, False]


@pytest.mark.parametrize(
    ("classes", "task", "header", "values", "message"),
    [
        (
            ["cat", "dog"],
            "multiclass",
            ["id", "label"],
            ["dog", "bird", "cat", "dog"],
            "labels that are not training classes: ['bird']",
        ),
        (
            ["cat", "dog", "fox"],
            "multiclass",
            ["id", "label"],
            ["0", "3", "1", "2"],
            "labels that are not training classes: ['3']",
        ),
        (
            ["a", "b"],
            "multilabel",
            ["id", "tags"],
            ["a", "b c", "", "a"],
            "labels that are not training classes: ['c']",
        ),
        (
            ["beagle", "chow", "pug"],
            "multiclass",
            ["id", "beagle", "chow", "collie"],
            [["1", "0", "0"]] * 4,
            "columns the classes lack: ['collie']; classes the columns lack: ['pug']",
        ),
        (
            ["beagle", "chow"],
            "multiclass",
            ["id", "beagle", "chow"],
            [["1", "0"], ["1", "1"], ["0", "1"], ["1", "0"]],
            "the row of id t1 has 2 ones under the class columns; a multi-class solution has exactly one",
        ),
        (
            ["beagle", "chow"],
            "multiclass",
            ["id", "beagle", "chow"],
            [["0.3", "0.7"]] * 4,
            "values other than 0 and 1",
        ),
    ],
)
def test_a_solution_that_does_not_fit_is_one_line(tmp_path, classes, task, header, values, message):
    values = [v if isinstance(v, list) else [v] for v in values]
    with pytest.raises(DataError) as info:
        read_solution(solution_file(tmp_path, header, values), bare_competition(classes, IDS, task))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_ids_that_do_not_match_and_a_missing_usage_are_refused(tmp_path):
    path = solution_file(tmp_path, ["id", "label"], [["cat"]] * 4)
    with pytest.raises(
        DataError, match=r"ids without a solution row: \['t5'\]; solution rows without a test image: \['t4'\]"
    ):
        read_solution(path, bare_competition(["cat", "dog"], ["t1", "t2", "t3", "t5"]))
    path.write_text("id,label\nt1,cat\n")
    with pytest.raises(
        DataError, match="needs an id column, the submission's columns holding the truth, and Usage"
    ):
        read_solution(path, bare_competition(["cat", "dog"], ["t1"]))


# The local Public score of a written submission, as Kaggle would compute it from the file ---------------

N = 80
TEST_IDS = [f"x{i}" for i in reversed(range(N))]


def public_rows(tmp_path, competition, fmt, probs, truth_cells, thresholds=None):
    """(truth cells, submission cells) of the Public rows: the submission written, the solution beside it."""
    usage = ["Public" if i % 3 else "Private" for i in range(N)]
    header = [competition.id_column, *(competition.submission_columns or [competition.label_column])]
    with (tmp_path / "solution.csv").open("w", newline="") as f:
        csv.writer(f).writerows(
            [[*header, "Usage"], *([i, *t, u] for i, t, u in zip(TEST_IDS, truth_cells, usage, strict=True))]
        )
    path = write_submission(tmp_path / "submission.csv", competition, probs, fmt, thresholds)
    with path.open(newline="") as f:
        written = {row[0]: row[1:] for row in list(csv.reader(f))[1:]}
    public = [i for i, u in zip(TEST_IDS, usage, strict=True) if u == "Public"]
    solution = read_solution(tmp_path / "solution.csv", competition)
    truth_of = dict(zip(TEST_IDS, truth_cells, strict=True))
    return solution, [truth_of[i] for i in public], [written[i] for i in public]


def softmax(rng, truth, num_classes):
    logits = rng.normal(size=(len(truth), num_classes)) + 1.5 * np.eye(num_classes)[truth]
    return (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)


def test_cactus_public_roc_auc(tmp_path):
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, N)
    probs = softmax(rng, truth, 2)
    competition = bare_competition(
        ["0", "1"], TEST_IDS, columns=("has_cactus",), values=("0.5",), label_column="has_cactus"
    )
    fmt = submission_format(competition, "roc_auc")
    solution, true, sub = public_rows(tmp_path, competition, fmt, probs, [[str(t)] for t in truth])
    expected = ref.auc([int(t[0]) for t in true], [float(s[0]) for s in sub])
    assert solution.scores("roc_auc", Submission.of(competition, fmt), probs)[
        "kaggle/public"
    ] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("metric", ["log_loss", "mean_columnwise_roc_auc"])
def test_dog_breed_and_plant_pathology_public_scores(tmp_path, metric):
    rng = np.random.default_rng(1)
    classes, columns = ["beagle", "chow", "collie", "pug"], ("pug", "beagle", "collie", "chow")
    truth = rng.integers(0, 4, N)
    probs = softmax(rng, truth, 4)
    competition = bare_competition(classes, TEST_IDS, columns=columns, values=("0.25",))
    one_hot = [[str(int(classes[t] == c)) for c in columns] for t in truth]
    fmt = submission_format(competition, metric)
    solution, true, sub = public_rows(tmp_path, competition, fmt, probs, one_hot)
    true, sub = [[int(v) for v in r] for r in true], [[float(v) for v in r] for r in sub]
    expected = ref.log_loss(true, sub) if metric == "log_loss" else ref.mean_columnwise_auc(true, sub)
    assert solution.scores(metric, Submission.of(competition, fmt), probs)["kaggle/public"] == pytest.approx(
        expected, abs=1e-6
    )


def test_planet_public_mean_f2_at_the_thresholds(tmp_path):
    rng = np.random.default_rng(2)
    tags = ["agriculture", "clear", "haze", "primary", "road"]
    truth = (rng.random((N, 5)) < 0.4).astype(np.uint8)
    probs = np.clip(truth * 0.3 + rng.random((N, 5)) * 0.7, 0, 1).astype(np.float32)
    thresholds = tune_thresholds(truth, probs, "mean_f2")
    competition = bare_competition(
        tags, TEST_IDS, "multilabel", ("tags",), ("clear primary",), "image_name", "tags"
    )
    cells = [[" ".join(t for t, on in zip(tags, row, strict=True) if on)] for row in truth]
    fmt = submission_format(competition, "mean_f2")
    solution, true, sub = public_rows(tmp_path, competition, fmt, probs, cells, thresholds)
    expected = ref.mean_f2([set(t[0].split()) for t in true], [set(s[0].split()) for s in sub])
    scores = solution.scores("mean_f2", Submission.of(competition, fmt), probs, thresholds)
    assert scores["kaggle/public"] == pytest.approx(expected, abs=1e-6)


def test_aptos_public_kappa(tmp_path):
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 5, N)
    probs = softmax(rng, truth, 5)
    grades = [str(g) for g in range(5)]
    competition = bare_competition(
        grades, TEST_IDS, columns=("diagnosis",), values=("0",), id_column="id_code", label_column="diagnosis"
    )
    fmt = submission_format(competition, "quadratic_weighted_kappa")
    solution, true, sub = public_rows(tmp_path, competition, fmt, probs, [[str(t)] for t in truth])
    expected = ref.quadratic_weighted_kappa([int(t[0]) for t in true], [int(s[0]) for s in sub], 5)
    assert solution.scores("quadratic_weighted_kappa", Submission.of(competition, fmt), probs)[
        "kaggle/public"
    ] == pytest.approx(expected, abs=1e-6)


def test_humpback_public_map_at_5(tmp_path):
    rng = np.random.default_rng(4)
    whales = [f"w_{i:04x}" for i in range(9)]
    truth = rng.integers(0, 9, N)
    probs = softmax(rng, truth, 9)
    competition = bare_competition(
        whales, TEST_IDS, columns=("Id",), values=("w_0000 w_0001",), id_column="Image", label_column="Id"
    )
    fmt = submission_format(competition, "map_at_k")
    solution, true, sub = public_rows(tmp_path, competition, fmt, probs, [[whales[t]] for t in truth])
    expected = ref.map_at_k([t[0] for t in true], [s[0].split() for s in sub], 5)
    assert solution.scores("map_at_k", Submission.of(competition, fmt), probs)[
        "kaggle/public"
    ] == pytest.approx(expected, abs=1e-6)
