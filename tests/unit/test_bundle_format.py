"""Every submission format as its file holds it (the one path, sweeplab.offline.submission_values, that both
sweeplab and the bundle's predict.py write through), read back and checked row by row against the
probabilities; the bundle's predict.py against `sweeplab predict` on a folder, with and without a sample;
the ensembles' mixing against scipy's ranks; and the bundle's code defined once."""

import ast
import csv
import hashlib
import json
import shutil
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.stats import rankdata

import sweeplab
from helpers.submissions import bundle_script
from sweeplab import offline
from sweeplab.data.competition import Competition
from sweeplab.kaggle.folder_submission import folder_competition
from sweeplab.models.bundle import SCRIPT_SOURCE
from sweeplab.models.packaged import Answer
from sweeplab.offline import natural_key
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
    "tags at 0.5 without thresholds": (
        "tags",
        "multilabel",
        ["r", "g", "b"],
        ["image_name", "tags"],
        ["r"],
        None,
    ),
    "top 2": ("top_k", "multiclass", ["w1", "w2", "w3"], ["Image", "Id"], ["w1 w2"], None),
    "one tag per image": ("tags", "multiclass", ["x", "y"], ["id", "tags"], ["x"], None),
}


def expected_cells(kind, task, classes, header, values, thresholds, p: np.ndarray) -> list[str]:
    """What one row's value cells must be, worked out here from the probabilities (one row, normalised)."""
    best = int(np.argmax(p))  # the first of tied maxima
    if kind == "probabilities":
        columns = header[1:] if len(header) > 2 else classes
        return [p[classes.index(c)] for c in columns]
    if kind == "probability":
        return [p[classes.index("1") if "1" in classes else 1]]
    if kind == "top_k":
        return [" ".join(classes[j] for j in sorted(range(len(classes)), key=lambda j: (-p[j], j))[:TOP_K])]
    if kind == "tags" and task == "multilabel":  # without tuned thresholds: 0.5 each
        cuts = thresholds or [0.5] * len(classes)
        tags = [c for c, q, t in zip(classes, p, cuts, strict=True) if q >= t] or [classes[best]]
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
        want = expected_cells(kind, task, classes, header, values, thresholds, p)
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


class Brightness(torch.nn.Module):
    """A model for the bundle: each channel's mean brightness through a fixed linear map, then softmax (or
    sigmoid), so that every image gets its own probabilities."""

    def __init__(self, classes: int, multilabel: bool):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.arange(3 * classes, dtype=torch.float32).view(3, classes) / 20)
        self.multilabel = multilabel

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = (images.float().mean((2, 3)) / 255 - 0.5) * 8 @ self.weight
        return offline.probabilities(logits, self.multilabel)


ABC, RGB, CATS = ["a", "b", "c"], ["r", "g", "b"], ["cat", "dog"]
MULTI, TAGS = "multiclass", "multilabel"
# name: (kind, task, classes, the sample's header or None, its values, thresholds, ids with extension)
FOLDER_CASES = {
    "labels, no sample": ("label", MULTI, CATS, None, [], None, False),
    "labels as the sample's indices": ("label", MULTI, CATS, ["id", "y"], ["0"], None, False),
    "one probability": ("probability", MULTI, ["0", "1"], ["id", "has_cactus"], ["0.5"], None, False),
    "probabilities, the sample's order": ("probabilities", MULTI, ABC, ["id", *"cab"], ["0.3"], None, False),
    "probabilities, no sample": ("probabilities", MULTI, ABC, None, [], None, False),
    "probabilities, the run's order": ("probabilities", MULTI, ABC, ["id", *"bca"], ["0.3"], None, False),
    "tags at their thresholds": ("tags", TAGS, RGB, ["image_name", "tags"], ["r"], [0.3, 0.6, 0.9], False),
    "tags at 0.5, no sample": ("tags", TAGS, RGB, None, [], None, False),
    "top 2, ids with their extension": ("top_k", MULTI, ["w1", "w2", "w3"], None, [], None, True),
}  # fmt: skip
RUN_SAMPLE_ONLY = {"probabilities, the run's order"}  # the run had this sample; predict is given none


@pytest.mark.parametrize("case", FOLDER_CASES)
def test_the_bundles_predict_py_writes_what_sweeplab_predict_writes(case, tmp_path):
    """The bundle's own plumbing (bundle.json, the folder's ids and order, the sample's header and values)
    against `sweeplab predict`'s (folder_competition, write_submission), on the same program's output."""
    kind, task, classes, header, values, thresholds, with_extension = FOLDER_CASES[case]
    images = tmp_path / "test"
    images.mkdir()
    for n, level in enumerate((10, 200, 90, 140, 30, 250, 170), 1):  # natural order: 2 before 10
        Image.new("RGB", (12, 9), (level, 255 - level, (level * 7) % 256)).save(images / f"{n * 4}.png")
    names = sorted(p.name for p in images.iterdir())
    ids = names if with_extension else [Path(n).stem for n in names]
    sample = None
    if header is not None:
        sample = tmp_path / "sample_submission.csv"
        rows = [[i, *[values[0]] * (len(header) - 1)] for i in reversed(ids)]  # the sample's own order
        with sample.open("w", newline="") as f:
            csv.writer(f).writerows([header, *rows])
    answer = Answer(
        kind=kind,
        top_k=TOP_K,
        id_column=header[0] if header else "id",
        label_column=header[1] if header else "label",
        columns=tuple(header[1:]) if header else (),
        sample_values=tuple(values),
        ids_with_extension=with_extension,
    )
    model = Brightness(len(classes), task == "multilabel").eval()
    size, batch = 16, torch.export.Dim("batch")
    example = torch.zeros((2, 3, size, size), dtype=torch.uint8)
    program = torch.export.export(model, (example,), dynamic_shapes={"images": {0: batch}})

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copyfile(SCRIPT_SOURCE, bundle / "predict.py")
    torch.export.save(program, bundle / "model.pt2")
    config = {
        "classes": classes,
        "task": task,
        "parts": [{"program": "model.pt2", "img_size": size, "weight": 1.0}],
        "method": "mean",
        "thresholds": thresholds,
        "submission": asdict(answer),
        "ensemble_of": None,
        "sha256": {"model.pt2": hashlib.sha256((bundle / "model.pt2").read_bytes()).hexdigest()},
    }
    (bundle / "bundle.json").write_text(json.dumps(config))
    predict_py = bundle_script(bundle)
    if case in RUN_SAMPLE_ONLY:
        sample = None
    args = ["--images", str(images), "--out", str(tmp_path / "bundle.csv")]
    assert predict_py.main([*args, *(["--sample", str(sample)] if sample else [])]) == 0

    spec = SimpleNamespace(answer=answer, classes=classes, task=task)
    competition = folder_competition(images, sample, spec)
    part = offline.Part(model, size)
    (probs,), _ = offline.predict_parts([part], competition.test_files, torch.device("cpu"))
    fmt = SubmissionFormat(kind, TOP_K)
    write_submission(tmp_path / "sweeplab.csv", competition, probs, fmt, thresholds)
    assert (tmp_path / "bundle.csv").read_text() == (tmp_path / "sweeplab.csv").read_text()
    if sample is None:  # no sample: every image, in natural order of its name
        written = [row[0] for row in csv.reader((tmp_path / "bundle.csv").open())][1:]
        assert written == sorted(ids, key=natural_key)
