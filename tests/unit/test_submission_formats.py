"""Which submission a competition gets (the issue's table), the refusals, and every format written and
read back: rescoring the file with a plain implementation reproduces metric_score on the probabilities."""

import csv
import logging

import numpy as np
import pytest

from helpers import kaggle_reference as ref
from helpers.kaggle_reference import bare_competition
from sweeplab.errors import ConfigError, DataError
from sweeplab.scoring.measures import metric_score
from sweeplab.scoring.submission import SubmissionFormat, submission_format, write_submission
from sweeplab.scoring.thresholds import tune_thresholds

BREEDS = ["affenpinscher", "beagle", "chow", "collie"]
LEAVES = ["healthy", "multiple_diseases", "rust", "scab"]
TAGS = ["agriculture", "clear", "cloudy", "primary", "road", "water"]
GRADES = ["0", "1", "2", "3", "4"]
WHALES = ["new_whale", "w_1287fbc", "w_98baff9", "w_7554f44", "w_1eafe46", "w_0a0c768", "w_9b5109b"]


@pytest.mark.parametrize(
    ("case", "classes", "task", "columns", "values", "metric", "override", "kind"),
    [
        (
            "Aerial Cactus",
            ["0", "1"],
            "multiclass",
            ("has_cactus",),
            ("0.5",),
            "roc_auc",
            None,
            "probability",
        ),
        ("Histopathologic", ["0", "1"], "multiclass", ("label",), ("0",), "roc_auc", None, "probability"),
        (
            "binary log loss",
            ["cat", "dog"],
            "multiclass",
            ("label",),
            ("0.5",),
            "log_loss",
            None,
            "probability",
        ),
        ("binary accuracy", ["0", "1"], "multiclass", ("has_cactus",), ("0.5",), "accuracy", None, "label"),
        (
            "Dog Breed",
            BREEDS,
            "multiclass",
            tuple(BREEDS[::-1]),
            ("0.25",),
            "log_loss",
            None,
            "probabilities",
        ),
        (
            "Plant Pathology",
            LEAVES,
            "multiclass",
            tuple(LEAVES),
            ("0.25",),
            "mean_columnwise_roc_auc",
            None,
            "probabilities",
        ),
        ("Planet", TAGS, "multilabel", ("tags",), ("clear primary",), "mean_f2", None, "tags"),
        ("Planet, one tag sampled", TAGS, "multilabel", ("tags",), ("clear",), "mean_f2", None, "tags"),
        ("tags without a sample", TAGS, "multilabel", (), (), "mean_f2", None, "tags"),
        ("APTOS", GRADES, "multiclass", ("diagnosis",), ("0",), "quadratic_weighted_kappa", None, "label"),
        (
            "Humpback",
            WHALES,
            "multiclass",
            ("Id",),
            ("new_whale w_1287fbc w_98baff9",),
            "map_at_k",
            None,
            "top_k",
        ),
        ("map_at_k without a sample", WHALES, "multiclass", (), (), "map_at_k", None, "top_k"),
        (
            "map_at_k on one label sampled",
            WHALES,
            "multiclass",
            ("Id",),
            ("new_whale",),
            "map_at_k",
            None,
            "top_k",
        ),
        (
            "several tags sampled but one label per image: the label (tags need data.task=multilabel)",
            TAGS,
            "multiclass",
            ("tags",),
            ("a b",),
            "accuracy",
            None,
            "label",
        ),
        (
            "a class named with a space",
            ["golden retriever", "pug"],
            "multiclass",
            ("breed",),
            ("golden retriever",),
            "accuracy",
            None,
            "label",
        ),
        ("labels without a sample", ["cat", "dog"], "multiclass", (), (), "accuracy", None, "label"),
        (
            "three classes sampled as 0.5: a probability per class",
            BREEDS[:3],
            "multiclass",
            ("label",),
            ("0.5",),
            "log_loss",
            None,
            "probabilities",
        ),
        (
            "binary, values beyond [0, 1]: the positive class's probability still",
            ["0", "1"],
            "multiclass",
            ("label",),
            ("2",),
            "roc_auc",
            None,
            "probability",
        ),
        (
            "override wins",
            ["0", "1"],
            "multiclass",
            ("has_cactus",),
            ("0.5",),
            "log_loss",
            "probabilities",
            "probabilities",
        ),
        (
            "override: columns",
            BREEDS,
            "multiclass",
            ("breed",),
            ("beagle",),
            "log_loss",
            "probabilities",
            "probabilities",
        ),
        ("override: top-k", BREEDS, "multiclass", (), (), "map_at_k", "top_k", "top_k"),
    ],
)
def test_the_format_follows_the_sample_and_the_metric(
    case, classes, task, columns, values, metric, override, kind
):
    competition = bare_competition(classes, ["a", "b"], task, columns, values)
    assert submission_format(competition, metric, override, top_k=3) == SubmissionFormat(kind, 3), case


@pytest.mark.parametrize(
    ("classes", "task", "override", "message"),
    [
        (
            BREEDS,
            "multiclass",
            "probability",
            "probability needs a binary competition (one column: the positive",
        ),
        (
            ["0", "1"],
            "multilabel",
            "probability",
            "this one is multi-label with 2 tags; use data.submission_format",
        ),
        (TAGS, "multilabel", "top_k", "data.submission_format=top_k needs one label per image"),
        (TAGS, "multilabel", "label", "data.submission_format=label needs one label per image"),
        (TAGS, "multiclass", "csv", "data.submission_format=csv is unknown; valid: label, probability, "),
        (TAGS, "multiclass", "tags", "data.submission_format=tags needs a multi-label competition"),
    ],
)
def test_an_impossible_override_is_refused_in_one_line(classes, task, override, message):
    with pytest.raises(ConfigError) as info:
        submission_format(bare_competition(classes, ["a"], task), "accuracy", override)
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("metric", "override", "message"),
    [
        ("map_at_k", "label", "label cannot be scored by data.metric=map_at_k"),  # one label, not five
        ("accuracy", "top_k", "top_k cannot be scored by data.metric=accuracy"),
        ("quadratic_weighted_kappa", "probabilities", "which scores labels"),
        # Kaggle cannot score log loss from labels: the file would not be the score logged.
        ("log_loss", "label", "label cannot be scored by data.metric=log_loss, which scores probabilities"),
    ],
)
def test_a_format_the_metric_would_score_otherwise_is_refused(metric, override, message):
    """The logged Kaggle scores must be the file's: a format the metric reads differently is refused."""
    with pytest.raises(ConfigError, match=message):
        submission_format(bare_competition(BREEDS, ["a"], "multiclass"), metric, override)


def test_sample_columns_and_training_classes_that_differ_are_one_line_listing_both():
    competition = bare_competition(["beagle", "chow", "pug"], ["a"], columns=("beagle", "chow", "collie"))
    with pytest.raises(DataError) as info:
        submission_format(competition, "log_loss")
    message = str(info.value)
    assert "columns the training labels lack: ['collie']" in message
    assert "training classes the columns lack: ['pug']" in message and "\n" not in message


def test_a_probability_metric_on_a_label_sample_writes_probabilities_in_one_line(caplog):
    """The demo with data.metric=log_loss: the file Kaggle would score holds what the metric scores."""
    digits = bare_competition([str(d) for d in range(10)], ["1"], columns=("label",), values=("0",))
    cats = bare_competition(["cat", "dog"], ["1"], columns=("label",), values=("cat",))
    with caplog.at_level(logging.INFO, logger="sweeplab.scoring.submission"):
        assert submission_format(digits, "log_loss").kind == "probabilities"
        assert submission_format(cats, "roc_auc").kind == "probability"
    assert [r.getMessage() for r in caplog.records] == [
        "data.metric=log_loss scores probabilities, so the submission holds one probability per class, not "
        "the sample's labels (data.submission_format=label writes them)",
        "data.metric=roc_auc scores probabilities, so the submission holds the probability of class 'dog', "
        "not the sample's labels (data.submission_format=label writes them)",
    ]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sweeplab.scoring.submission"):
        submission_format(bare_competition(BREEDS, ["1"], columns=tuple(BREEDS)), "log_loss")
        submission_format(bare_competition(BREEDS, ["1"], columns=("label",), values=("x",)), "accuracy")
    assert caplog.records == []


# Writing and reading back ------------------------------------------------------------------------------


def softmax_case(classes, n=40, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, len(classes), n)
    logits = rng.normal(size=(n, len(classes))) + 1.5 * np.eye(len(classes))[truth]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return truth, probs.astype(dtype)


def written(tmp_path, competition, probs, fmt=None, thresholds=None):
    """The file's header and its rows, as Kaggle reads them."""
    path = write_submission(tmp_path / "submission.csv", competition, probs, fmt, thresholds)
    with path.open(newline="") as f:
        header, *rows = list(csv.reader(f))
    assert [r[0] for r in rows] == competition.test_ids  # the sample's ids, in its order
    return header, rows


def ids(n):
    return [f"img_{i:03d}" for i in reversed(range(n))]  # Kaggle's order, deliberately not sorted


def test_labels_as_the_sample_writes_them(tmp_path):
    truth, probs = softmax_case(GRADES)
    competition = bare_competition(
        GRADES, ids(40), columns=("diagnosis",), values=("0",), id_column="id_code", label_column="diagnosis"
    )
    header, rows = written(tmp_path, competition, probs, SubmissionFormat("label"))
    assert header == ["id_code", "diagnosis"]
    labels = [int(r[1]) for r in rows]
    for metric, expected in (
        ("accuracy", ref.accuracy(truth.tolist(), labels)),
        ("macro_f1", ref.macro_f1(truth.tolist(), labels, list(range(5)))),
        ("quadratic_weighted_kappa", ref.quadratic_weighted_kappa(truth.tolist(), labels, 5)),
    ):
        assert metric_score(metric, truth, probs) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("values", "written_as"),
    [(("0", "1"), ["0", "1", "2"]), (("cat",), ["cat", "dog", "fox"]), ((), ["cat", "dog", "fox"])],
)
def test_names_or_indices_as_the_sample_writes_them(tmp_path, values, written_as):
    # A sample of integers for named classes wants the class index; names otherwise.
    truth, probs = softmax_case(["cat", "dog", "fox"])
    competition = bare_competition(
        ["cat", "dog", "fox"], ids(40), columns=("label",) if values else (), values=values
    )
    header, rows = written(tmp_path, competition, probs)  # fmt None: labels
    assert header == ["id", "label"]
    assert [r[1] for r in rows] == [written_as[i] for i in probs.argmax(1)]
    truth_as_written = [written_as[t] for t in truth]
    assert metric_score("accuracy", truth, probs) == pytest.approx(
        ref.accuracy(truth_as_written, [r[1] for r in rows])
    )


@pytest.mark.parametrize(
    ("classes", "positive"),
    [(["0", "1"], 1), (["cat", "dog"], 1), (["1", "2"], 0)],  # class "1" where there is one, else the second
)
def test_one_probability_column_holds_the_positive_class(tmp_path, classes, positive):
    truth, probs = softmax_case(classes, n=60)
    competition = bare_competition(
        classes, ids(60), columns=("has_cactus",), values=("0.5",), label_column="has_cactus"
    )
    fmt = submission_format(competition, "roc_auc")
    header, rows = written(tmp_path, competition, probs, fmt)
    assert fmt.kind == "probability" and header == ["id", "has_cactus"]
    p = [float(r[1]) for r in rows]
    np.testing.assert_allclose(p, probs[:, positive], rtol=1e-6)
    is_positive = (truth == positive).astype(int).tolist()
    assert metric_score("roc_auc", truth, probs) == pytest.approx(ref.auc(is_positive, p), abs=1e-6)
    assert metric_score("log_loss", truth, probs) == pytest.approx(
        ref.binary_log_loss(is_positive, p), abs=1e-6
    )


def test_one_probability_column_per_class_in_the_samples_order(tmp_path):
    truth, probs = softmax_case(BREEDS, dtype=np.float64)
    probs[0] = [1.0, 0.0, 0.0, 0.0]  # a zero: Kaggle clips it to 1e-15, as metric_score does
    columns = ("collie", "affenpinscher", "chow", "beagle")
    competition = bare_competition(BREEDS, ids(40), columns=columns, values=("0.25",))
    header, rows = written(tmp_path, competition, probs, submission_format(competition, "log_loss"))
    assert header == ["id", *columns]
    file_probs = [[float(v) for v in r[1:]] for r in rows]
    np.testing.assert_allclose(np.sum(file_probs, 1), 1.0, atol=1e-9)  # rows sum to 1
    onehot = [[int(BREEDS[t] == c) for c in columns] for t in truth]
    assert metric_score("log_loss", truth, probs) == pytest.approx(ref.log_loss(onehot, file_probs), abs=1e-6)
    assert metric_score("mean_columnwise_roc_auc", truth, probs) == pytest.approx(
        ref.mean_columnwise_auc(onehot, file_probs), abs=1e-6
    )


def multilabel_case(n=60, seed=4):
    rng = np.random.default_rng(seed)
    truth = (rng.random((n, len(TAGS))) < 0.35).astype(np.uint8)
    probs = np.clip(truth * 0.35 + rng.random((n, len(TAGS))) * 0.65, 0, 1).astype(np.float32)
    return truth, probs


def test_per_tag_probability_columns(tmp_path):
    truth, probs = multilabel_case()
    competition = bare_competition(TAGS, ids(60), "multilabel", columns=tuple(TAGS), values=("0.5",))
    header, rows = written(
        tmp_path, competition, probs, submission_format(competition, "mean_columnwise_roc_auc")
    )
    assert header == ["id", *TAGS]
    file_probs = [[float(v) for v in r[1:]] for r in rows]
    np.testing.assert_allclose(file_probs, probs, rtol=1e-6)  # sigmoids as they are: rows need not sum to 1
    assert metric_score("mean_columnwise_roc_auc", truth, probs) == pytest.approx(
        ref.mean_columnwise_auc(truth.tolist(), file_probs), abs=1e-6
    )
    assert metric_score("log_loss", truth, probs) == pytest.approx(
        ref.columnwise_log_loss(truth.tolist(), file_probs), abs=1e-6
    )


@pytest.mark.parametrize("metric", ["mean_f2", "accuracy", "macro_f1"])
def test_tags_at_the_tuned_thresholds(tmp_path, metric):
    truth, probs = multilabel_case()
    competition = bare_competition(
        TAGS, ids(60), "multilabel", columns=("tags",), values=("clear primary",), label_column="tags"
    )
    thresholds = tune_thresholds(truth, probs, metric)
    header, rows = written(tmp_path, competition, probs, submission_format(competition, metric), thresholds)
    assert header == ["id", "tags"]
    predicted = [set(r[1].split(" ")) for r in rows]
    true = [{TAGS[j] for j in np.flatnonzero(t)} for t in truth]
    assert all(predicted)  # every image gets a tag
    expected = {
        "mean_f2": ref.mean_f2(true, predicted),
        "accuracy": ref.accuracy([frozenset(t) for t in true], [frozenset(p) for p in predicted]),
        "macro_f1": sum(
            ref.macro_f1([c in t for t in true], [c in p for p in predicted], [True]) for c in TAGS
        )
        / len(TAGS),
    }[metric]
    assert metric_score(metric, truth, probs, thresholds) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("k", [5, 3])
def test_top_k_labels(tmp_path, k):
    truth, probs = softmax_case(WHALES)
    competition = bare_competition(
        WHALES, ids(40), columns=("Id",), values=("new_whale w_1287fbc",), label_column="Id"
    )
    fmt = submission_format(competition, "map_at_k", top_k=k)
    header, rows = written(tmp_path, competition, probs, fmt)
    assert header == ["id", "Id"] and fmt == SubmissionFormat("top_k", k)
    predicted = [r[1].split(" ") for r in rows]
    assert {len(p) for p in predicted} == {k}
    expected = ref.map_at_k([WHALES[t] for t in truth], predicted, k)
    assert metric_score("map_at_k", truth, probs, top_k=k) == pytest.approx(expected, abs=1e-6)
