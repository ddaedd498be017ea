"""Shared fixtures: tiny real competition folders, Hydra composition and a temp MLflow store."""

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient
from PIL import Image

from sweeplab.config import register_configs

ROOT = Path(__file__).resolve().parents[1]
CATS_DOGS = ROOT.parent / "shared" / "datasets" / "cats-dogs-mini"
# Two blocks of conv5+pool need >= 16 px; 20 px keeps every test fast on two CPU cores.
TINY_MODEL = ["data.img_size=20", "model.channels=[4,8]", "model.fc=[16]"]

register_configs(ROOT / "experiments")


def _image(label: int, rng: np.random.Generator, size: int) -> Image.Image:
    """A learnable picture: class 0 is reddish, class 1 bluish, with noise."""
    base = np.array([200, 40, 40] if label == 0 else [40, 40, 200], dtype=np.float32)
    pixels = base + rng.normal(0, 30, (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def make_competition(
    root: Path, layout: str = "folders", n_train: int = 24, n_test: int = 10, seed: int = 0
) -> Path:
    """A Kaggle-style folder of real PNG and JPEG files: train/ in `layout`, test/, CSVs."""
    rng = np.random.default_rng(seed)
    classes = ["cat", "dog"]
    for i in range(n_train):
        label = i % 2
        name = f"{classes[label]}.{i}.{'jpg' if i % 3 else 'png'}"
        folder = root / "train" / classes[label] if layout == "folders" else root / "train"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (name if layout == "flat" else f"{i}{Path(name).suffix}")
        _image(label, rng, 24 + i % 7).save(path)
    (root / "test").mkdir(parents=True)
    solution = []
    for i in range(1, n_test + 1):
        label = i % 2
        image = _image(label, rng, 30)
        image = image.convert("L") if i == 1 else image  # one greyscale image: decoded to RGB
        image.save(root / "test" / f"{i}.{'jpg' if i % 2 else 'png'}")
        solution.append((str(i), classes[label], "Public" if i % 2 else "Private"))
    # Kaggle lists ids in its own order: deliberately not sorted.
    ids = [row[0] for row in reversed(solution)]
    with (root / "sample_submission.csv").open("w", newline="") as f:
        csv.writer(f).writerows([("id", "label")] + [(i, "cat") for i in ids])
    with (root / "solution.csv").open("w", newline="") as f:
        csv.writer(f).writerows([("id", "label", "Usage")] + solution)
    return root


def experiment_ids(client: MlflowClient) -> list[str]:
    """Every experiment of a store: a run's experiment is named after its competition folder."""
    return [e.experiment_id for e in client.search_experiments()]


@pytest.fixture
def competition(tmp_path) -> Path:
    return make_competition(tmp_path / "competition")


@pytest.fixture(scope="session")
def empty_store_file(tmp_path_factory) -> Path:
    """An MLflow SQLite file with its tables made: creating them takes ~1 s, copying the file ~1 ms."""
    path = tmp_path_factory.mktemp("empty-store") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(tmp_path, empty_store_file) -> str:
    """A real SQLite MLflow store in the test's temp dir."""
    (tmp_path / "mlruns").mkdir()
    shutil.copyfile(empty_store_file, tmp_path / "mlruns" / "mlflow.db")
    return f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"


@pytest.fixture
def mlflow_client(store) -> MlflowClient:
    return MlflowClient(tracking_uri=store)


def compose_config(overrides: list[str]):
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=overrides)


@pytest.fixture
def tiny_overrides(competition, store, tmp_path) -> list[str]:
    """A complete, fast job on the tiny competition, tracked in the temp store."""
    return [
        "data=kaggle",
        f"data.root={competition}",
        f"data.cache_dir={tmp_path / 'cache'}",
        *TINY_MODEL,
        "trainer.epochs=2",
        "trainer.batch_size=8",
        "trainer.progress=false",
        f"tracking.uri={store}",
    ]
