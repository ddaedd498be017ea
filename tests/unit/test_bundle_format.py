"""The bundle's predict.py writes submissions by sweeplab's rules: every format against write_submission."""

import csv
import importlib.util

import numpy as np
import pytest
from scipy.stats import rankdata

from sweeplab.data.competition import Competition
from sweeplab.models.bundle import TEMPLATE
from sweeplab.scoring.averaging import combine
from sweeplab.scoring.submission import SubmissionFormat, write_submission


def template():
    """predict.py as a module: it is a standalone script, not part of sweeplab's import tree."""
    spec = importlib.util.spec_from_file_location("bundle_predict", TEMPLATE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CASES = {
    # name: (kind, task, classes, the sample's header, its values, thresholds)
    "label names": ("label", "multiclass", ["cat", "dog"], ["id", "label"], ["cat"], None),
    "label indices": ("label", "multiclass", ["cat", "dog"], ["id", "label"], ["0", "1"], None),
    "probability": ("probability", "multiclass", ["0", "1"], ["id", "has_cactus"], ["0.5"], None),
    "probabilities in the sample's order": (
        "probabilities",
        "multiclass",
        ["a", "b", "c"],
        ["image_id", "c", "a", "b"],
        ["0.3"],
        None,
    ),
    "probabilities without a sample's columns": (
        "probabilities",
        "multiclass",
        ["a", "b"],
        ["id", "x"],
        [],
        None,
    ),
    "tags with thresholds": (
        "tags",
        "multilabel",
        ["r", "g", "b"],
        ["image_name", "tags"],
        ["r g"],
        [0.3, 0.6, 0.9],
    ),
    "top 2": ("top_k", "multiclass", ["w1", "w2", "w3"], ["Image", "Id"], ["w1 w2"], None),
    "one tag per image": ("tags", "multiclass", ["x", "y"], ["id", "tags"], ["x"], None),
}


@pytest.mark.parametrize("case", CASES)
def test_predict_py_writes_what_sweeplab_writes(case, tmp_path):
    kind, task, classes, header, values, thresholds = CASES[case]
    rng = np.random.default_rng(len(case))
    probs = rng.random((7, len(classes))).astype(np.float32)
    probs[0] = 0.25  # a tie: the earlier class first
    probs[1] = 0.01  # multi-label: no tag passes, the most likely one is written
    ids = [str(i) for i in range(7)]
    competition = Competition(
        root=tmp_path,
        classes=classes,
        train_files=[],
        train_labels=[],
        test_files=[],
        test_ids=ids,
        id_column=header[0],
        label_column=header[1],
        task=task,
        submission_columns=tuple(header[1:]),
        sample_values=tuple(values),
    )
    path = write_submission(tmp_path / "s.csv", competition, probs, SubmissionFormat(kind, 2), thresholds)
    with path.open(newline="") as f:
        expected_header, *expected = list(csv.reader(f))
    bundle = {
        "classes": classes,
        "task": task,
        "thresholds": thresholds,
        "submission": {"kind": kind, "top_k": 2},
    }
    predict_py = template()
    assert predict_py.submission_header(bundle, header) == expected_header
    rows = predict_py.submission_values(probs, bundle, header, values)
    assert [[i, *row] for i, row in zip(ids, rows, strict=True)] == expected


@pytest.mark.parametrize("method", ["mean", "rank"])
@pytest.mark.parametrize("multilabel", [False, True])
def test_predict_py_mixes_an_ensembles_parts_as_sweeplab_does(method, multilabel):
    rng = np.random.default_rng(3)
    probs = [rng.random((9, 3)) for _ in range(3)]
    probs[1][:4, 0] = 0.5  # ties share their mean rank
    probs[2][:, 1] = 0.25  # a constant column: every row tied
    weights = [1.0, 2.0, 0.5]
    got = template().mix(probs, method, weights, multilabel)
    np.testing.assert_allclose(got, combine(probs, method, weights, multilabel), rtol=0, atol=1e-12)


def test_predict_py_ranks_ties_as_scipy_does():
    values = np.array([0.3, 0.1, 0.3, 0.2, 0.3, 0.1])
    np.testing.assert_array_equal(template().average_ranks(values), rankdata(values))
