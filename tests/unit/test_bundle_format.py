"""Every submission format as its file holds it (the one path, sweeplab.offline.submission_values, that both
sweeplab and the bundle's predict.py write through), read back and checked row by row against the
probabilities; the ensembles' mixing against scipy's ranks; and the bundle's code defined once."""

import ast
import csv
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import rankdata

import sweeplab
from sweeplab import offline
from sweeplab.data.competition import Competition
from sweeplab.models.bundle import SCRIPT_SOURCE
from sweeplab.scoring.averaging import combine
from sweeplab.scoring.submission import SubmissionFormat, write_submission

TOP_K = 2

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


def expected_cells(kind, classes, header, values, thresholds, p: np.ndarray) -> list[str]:
    """What one row's value cells must be, worked out here from the probabilities (one row, normalised)."""
    best = int(np.argmax(p))  # the first of tied maxima
    if kind == "probabilities":
        columns = header[1:] if len(header) > 2 else classes
        return [p[classes.index(c)] for c in columns]
    if kind == "probability":
        return [p[classes.index("1") if "1" in classes else 1]]
    if kind == "top_k":
        return [" ".join(classes[j] for j in sorted(range(len(classes)), key=lambda j: (-p[j], j))[:TOP_K])]
    if kind == "tags" and thresholds is not None:
        tags = [c for c, q, t in zip(classes, p, thresholds, strict=True) if q >= t] or [classes[best]]
        return [" ".join(tags)]
    indices = all(v.lstrip("+-").isdigit() for v in values) and values
    return [str(best) if indices and not all(c.isdigit() for c in classes) else classes[best]]


@pytest.mark.parametrize("case", CASES)
def test_a_submission_file_holds_what_its_format_says(case, tmp_path):
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
    path = write_submission(tmp_path / "s.csv", competition, probs, SubmissionFormat(kind, TOP_K), thresholds)
    with path.open(newline="") as f:
        written_header, *rows = list(csv.reader(f))
    value_columns = header[1:] if kind == "probabilities" and len(header) > 2 else header[1:2]
    if kind == "probabilities" and len(header) <= 2:
        value_columns = classes
    assert written_header == [header[0], *value_columns]
    assert [row[0] for row in rows] == ids
    normalised = probs.astype(np.float64)
    if task != "multilabel":
        normalised /= normalised.sum(1, keepdims=True)
    for row, p in zip(rows, normalised, strict=True):
        want = expected_cells(kind, classes, header, values, thresholds, p)
        if kind in ("probabilities", "probability"):
            assert [float(v) for v in row[1:]] == pytest.approx(want, abs=1e-9)
        else:
            assert row[1:] == want


def scipy_mix(probs, method, weights, multilabel):
    """The ensembles' mixing as it was written with scipy's ranks: a reference independent of offline.mix."""
    w = np.asarray(weights, dtype=np.float64) / np.sum(weights)
    if method == "rank":
        probs = [rankdata(p, axis=0) / len(p) for p in probs]
    mixed = sum(wi * p for wi, p in zip(w, probs, strict=True))
    return mixed / mixed.sum(1, keepdims=True) if method == "rank" and not multilabel else mixed


@pytest.mark.parametrize("method", ["mean", "rank"])
@pytest.mark.parametrize("multilabel", [False, True])
def test_an_ensemble_mixes_with_scipys_ranks_and_weights(method, multilabel):
    rng = np.random.default_rng(3)
    probs = [rng.random((9, 3)) for _ in range(3)]
    probs[1][:4, 0] = 0.5  # ties share their mean rank
    probs[2][:, 1] = 0.25  # a constant column: every row tied
    weights = [1.0, 2.0, 0.5]
    expected = scipy_mix(probs, method, weights, multilabel)
    np.testing.assert_allclose(combine(probs, method, weights, multilabel), expected, rtol=0, atol=1e-12)


def test_ranks_tie_as_scipy_does():
    values = np.array([0.3, 0.1, 0.3, 0.2, 0.3, 0.1])
    np.testing.assert_array_equal(offline.average_ranks(values), rankdata(values))


# The bundle's rules, each defined in offline.py alone (sweeplab imports them from there).
DEFINED_ONCE = ("natural_key", "decode", "mix", "submission_values", "predicted_tags", "average_ranks")


def test_the_bundles_script_is_offline_py_and_its_rules_are_defined_nowhere_else():
    assert Path(offline.__file__) == SCRIPT_SOURCE
    package = Path(sweeplab.__file__).parent
    defined = {
        (node.name, str(path.relative_to(package)))
        for path in package.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name in DEFINED_ONCE
    }
    assert defined == {(name, "offline.py") for name in DEFINED_ONCE}
