"""The competition builders of the end-to-end tests: Kaggle's files in Kaggle's shapes, labels that a
model can learn from the pixels, and a solution the reference scorer reads."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression

from helpers import CATS_DOGS
from helpers.kaggle_shapes import N_TRAIN, SHAPES
from helpers.leaderboard import beats, constant_score, score

pytestmark = pytest.mark.skipif(not CATS_DOGS.is_dir(), reason=f"real photographs not present at {CATS_DOGS}")
FORMAT = {".jpg": "JPEG", ".png": "PNG", ".tif": "TIFF"}
MIN_PER_CLASS = 8
PERFECT = {"log_loss": 0.0}  # every other metric: 1


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("shapes")
    return {name: shape.build(root / name, 32) for name, shape in SHAPES.items()}


def images_of(root: Path) -> dict[str, Path]:
    """Every image under root, by file name and by name without its suffix."""
    found = {}
    for path in root.rglob("*"):
        if path.suffix in FORMAT:
            found[path.name] = found[path.stem] = path
    return found


def targets(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """0/1 per class (or tag) per row, from a labels CSV or a solution in any of the shapes."""
    values = frame.drop(columns=["Usage"], errors="ignore").iloc[:, 1:]
    if values.shape[1] > 1:  # one-hot columns
        return values.astype(int)
    column = values.iloc[:, 0].astype(str)
    return column.str.get_dummies(sep=" ") if kind == "tags" else pd.get_dummies(column).astype(int)


@pytest.mark.parametrize("name", SHAPES)
def test_the_files_are_kaggles(built, name):
    shape, root = SHAPES[name], built[name]
    sample = pd.read_csv(root / shape.sample, dtype=str)
    solution = pd.read_csv(root / "solution.csv", dtype=str)
    labels = pd.read_csv(root / shape.labels_csv, dtype=str)
    assert list(solution.columns) == [*sample.columns, "Usage"]
    assert sorted(solution.iloc[:, 0]) == sorted(sample.iloc[:, 0]) != list(sample.iloc[:, 0])
    assert len(labels) == N_TRAIN and len(sample) == 100 and set(solution["Usage"]) == {"Public", "Private"}
    images = images_of(root)
    assert len(set(images.values())) == N_TRAIN + len(sample)
    for image_id in [*labels.iloc[:, 0], *sample.iloc[:, 0]]:
        with Image.open(images[image_id]) as image:
            assert image.format == FORMAT[images[image_id].suffix] and image.size == (32, 32)
    if (root / "test.csv").exists():
        assert list(pd.read_csv(root / "test.csv", dtype=str).iloc[:, 0]) == list(sample.iloc[:, 0])


@pytest.mark.parametrize("name", SHAPES)
def test_every_class_is_in_training_and_both_leaderboards(built, name):
    shape, root = SHAPES[name], built[name]
    train = targets(pd.read_csv(root / shape.labels_csv, dtype=str), shape.kind)
    solution = pd.read_csv(root / "solution.csv", dtype=str)
    assert train.sum().min() >= MIN_PER_CLASS, train.sum()
    for usage in ("Public", "Private"):
        rows = targets(solution[solution["Usage"] == usage], shape.kind)
        assert set(rows.columns[rows.sum() > 0]) == set(train.columns), usage
    if shape.kind in ("probabilities", "label", "top_k"):  # one class per image
        assert (train.sum(axis=1) == 1).all()
    if shape.values:
        assert set(train.columns) <= set(shape.values)


@pytest.mark.parametrize("name", SHAPES)
def test_the_solution_scores_perfectly_and_beats_the_constant(built, name, tmp_path):
    shape, root = SHAPES[name], built[name]
    perfect = tmp_path / "perfect.csv"
    pd.read_csv(root / "solution.csv", dtype=str).drop(columns="Usage").to_csv(perfect, index=False)
    for usage in ("Public", "Private"):
        best = score(perfect, root / "solution.csv", shape.metric, usage)
        assert best == pytest.approx(PERFECT.get(shape.metric, 1.0), abs=1e-9)
        assert beats(best, constant_score(root / "solution.csv", shape.metric, usage), shape.metric)


@pytest.mark.parametrize("name", SHAPES)
def test_the_labels_are_learnable_from_the_pixels(built, name):
    """A linear model on 8x8 thumbnails tells the classes (each tag) apart on the test rows: the cue the
    builder imposes is in the pixels, far above the largest class."""
    shape, root = SHAPES[name], built[name]
    images = images_of(root)
    labels = pd.read_csv(root / shape.labels_csv, dtype=str)
    solution = pd.read_csv(root / "solution.csv", dtype=str)
    train = targets(labels, shape.kind)
    test = targets(solution, shape.kind).reindex(columns=train.columns, fill_value=0)
    x_train, x_test = thumbnails(images, labels.iloc[:, 0]), thumbnails(images, solution.iloc[:, 0])
    if shape.kind == "tags":  # one model per tag
        cases = [(train[tag].to_numpy(), test[tag].to_numpy()) for tag in train.columns]
    else:  # one model over the classes
        cases = [(train.to_numpy().argmax(axis=1), test.to_numpy().argmax(axis=1))]
    for y_train, y_test in cases:
        model = LogisticRegression(max_iter=5000).fit(x_train, y_train)
        accuracy = (model.predict(x_test) == y_test).mean()
        largest = np.bincount(y_test).max() / len(y_test)
        assert accuracy >= max(0.9, largest + 0.2), (accuracy, largest)


def thumbnails(images: dict[str, Path], ids) -> np.ndarray:
    rows = []
    for image_id in ids:
        with Image.open(images[image_id]) as image:
            rows.append(np.asarray(image.convert("RGB").resize((8, 8)), dtype=np.float32).ravel() / 255)
    return np.stack(rows)
