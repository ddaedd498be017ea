"""What tests share: paths, Hydra composition, tiny competitions, store queries and the study doubles.

A package, not conftest.py: a test imports from `helpers` like from any module (conftest is pytest's,
for fixtures only).
"""

from pathlib import Path

from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient

from helpers.competitions import make_competition
from sweeplab.compat import shared_config_store

ROOT = Path(__file__).resolve().parents[2]
CATS_DOGS = ROOT.parent / "shared" / "datasets" / "cats-dogs-mini"
SWEEPER_APPS = ROOT / "tests" / "sweeper_apps"  # the official plugin's example apps, run unchanged
# Two blocks of conv5+pool need >= 16 px; 20 px keeps every test fast on two CPU cores.
TINY_MODEL = ["data.img_size=20", "model.channels=[4,8]", "model.fc=[16]"]

__all__ = [
    "CATS_DOGS",
    "frozen_backbone",
    "ROOT",
    "SWEEPER_APPS",
    "TINY_MODEL",
    "compose_config",
    "experiment_ids",
    "make_competition",
]


def experiment_ids(client: MlflowClient) -> list[str]:
    """Every experiment of a store: a run's experiment is named after its competition folder."""
    return [e.experiment_id for e in client.search_experiments()]


def compose_config(overrides: list[str], with_hydra: bool = False):
    """conf/config.yaml composed with overrides; with_hydra keeps the hydra: node (sweeper, launcher).
    Composed as a sweep's jobs are, on the shared ConfigStore (tests/unit/test_configs.py checks that it
    composes the same configs): ~70 ms a composition instead of ~95 ms."""
    with shared_config_store(), initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=with_hydra)


def frozen_backbone(overrides: list[str], weights_path) -> list[str]:
    """The lab's frozen-backbone setup, small: a pretrained mobilenet (a local weights file) whose head
    alone trains, in place of the model in `overrides`."""
    return [
        *[o for o in overrides if not o.startswith(("model.", "data.img_size"))],
        "data.img_size=32",
        "model=torchvision",
        "model.arch=mobilenet_v3_small",
        "model.weights=IMAGENET1K_V1",
        f"model.weights_path={weights_path}",
        "model.freeze_backbone=true",
    ]
