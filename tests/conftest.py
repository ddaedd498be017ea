"""Shared fixtures: tiny real competition folders, a temp MLflow store, a fast job's overrides and a
simulated CUDA out-of-memory.

Shared functions and constants live in the `helpers` package; this file holds fixtures only.
"""

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from helpers import TINY_MODEL, make_competition
from helpers.hooks import out_of_memory_above
from sweeplab.training.trainer import Trainer


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


@pytest.fixture
def simulate_oom(monkeypatch) -> Callable[[int], None]:
    """simulate_oom(N): from then on in this test, batches above N images raise CUDA out-of-memory."""

    def above(batch: int) -> None:
        monkeypatch.setattr(Trainer, "backward", out_of_memory_above(batch, Trainer.backward))

    return above


TIERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items) -> None:
    """Each test carries its tier's marker (its folder's name): `pytest -m unit` runs one tier anywhere."""
    for item in items:
        tier = next((part for part in item.path.parts if part in TIERS), None)
        if tier is not None:
            item.add_marker(tier)


@pytest.fixture(scope="session")
def weights_path(tmp_path_factory):
    """mobilenet_v3_small's state_dict, randomly initialised, as a local weights file (10 MB)."""
    import torch
    from torchvision import models as tv_models

    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("weights") / "mobilenet_v3_small.pth"
    torch.save(tv_models.mobilenet_v3_small().state_dict(), path)
    return path
