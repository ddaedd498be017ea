"""Every option of every config group, and every experiment, composes and builds."""

import copy

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from helpers import ROOT, compose_config
from sweeplab.compat import shared_config_store
from sweeplab.config import SCHEMAS
from sweeplab.models.builders import build_model, exact_sizes

# search/ options are global packages (they fill hydra.sweeper): tested below with Hydra's own config.
GROUP_OPTIONS = sorted(
    (path.parent.name, path.stem) for path in (ROOT / "conf").glob("*/*.yaml") if path.parent.name != "search"
)
EXPERIMENTS = sorted(path.stem for path in (ROOT / "experiments").glob("*.yaml"))


def test_every_group_has_options():
    groups = {group for group, _ in GROUP_OPTIONS}
    assert {"data", "model", "optimizer", "scheduler", "augmentation", "trainer", "tracking"} <= groups
    assert {"lab4_seed", "lab4_resnet101_frozen"} <= set(EXPERIMENTS)


@pytest.mark.parametrize(("group", "option"), GROUP_OPTIONS)
def test_group_option_composes(group, option):
    cfg = compose_config([f"{group}={option}"])
    assert cfg[group] is not None
    # Schema names never leak into values (OneCycleLR's own base_momentum is a key, not a schema).
    assert not any(schema in str(cfg[group]) for schema in SCHEMAS[group])


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes(experiment):
    cfg = compose_config([f"experiment={experiment}"])
    assert cfg.name == experiment
    assert cfg.data.name == ("demo" if experiment.startswith("demo") else "kaggle")


def plain_compose(overrides: list[str]):
    """Hydra's own composition (helpers.compose_config composes on the shared ConfigStore)."""
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=True)


def sweeper_config(overrides: list[str]):
    return plain_compose(overrides).hydra.sweeper


def test_a_sweeps_shared_config_store_composes_the_same_configs():
    """A sweep's jobs compose without deep-copying Hydra's ConfigStore each time (sweeplab.compat)."""
    cases = [[f"experiment={e}"] for e in EXPERIMENTS] + [["model=resnet18", "search=batch_lr_epochs"]]
    copied = [OmegaConf.to_yaml(plain_compose(o)) for o in cases]
    with shared_config_store():
        assert copy.deepcopy(ConfigStore.instance()) is ConfigStore.instance()
        shared = [OmegaConf.to_yaml(plain_compose(o)) for o in cases]
    assert copy.deepcopy(ConfigStore.instance()) is not ConfigStore.instance()  # only inside the sweep
    assert shared == copied


def test_search_group_is_shared_by_the_sweep_experiments():
    search = sweeper_config(["search=batch_lr_epochs"])
    demo, lab = sweeper_config(["experiment=demo_optuna"]), sweeper_config(["experiment=lab4_optuna"])
    # No direction: the study takes it from the objective (val/score: the competition metric's way).
    assert search.params["trainer.epochs"] == "range(1, 7)" and search.direction is None
    assert dict(demo.params) == dict(search.params)
    assert dict(lab.params) == {**search.params, "trainer.epochs": "int(interval(1, 10))"}
    assert (demo.study_name, lab.study_name) == ("demo_optuna", "lab4_optuna")
    assert demo.pruner._target_ == lab.pruner._target_ == "optuna.pruners.MedianPruner"


def test_lab4_seed_is_the_lab_setup():
    cfg = compose_config(["experiment=lab4_seed"])
    assert (cfg.model.name, list(cfg.model.channels), list(cfg.model.fc)) == (
        "seed_cnn",
        [8, 16, 32, 64, 128, 256],
        [1000, 500, 100],
    )
    assert (cfg.data.img_size, cfg.trainer.batch_size, cfg.trainer.epochs) == (444, 100, 3)
    assert (cfg.optimizer._target_, cfg.optimizer.lr) == ("torch.optim.Adam", 1e-4)
    # auto: no normalisation without pretrained weights, as the lab had
    assert cfg.augmentation.hflip == 0 and cfg.augmentation.normalize == "auto"


def test_frozen_resnet_experiment():
    cfg = compose_config(["experiment=lab4_resnet101_frozen"])
    assert (cfg.model.name, cfg.model.arch) == ("torchvision", "resnet101")
    assert cfg.model.pretrained and cfg.model.freeze_backbone and cfg.augmentation.normalize == "auto"
    assert not cfg.model.weights_path  # downloaded into the torch hub cache: no manual step


def test_cosine_schedule_follows_epochs():
    cfg = compose_config(["scheduler=cosine", "trainer.epochs=7"])
    assert cfg.scheduler.T_max == 7


@pytest.mark.parametrize(
    "override",
    ["trainer.epoch=5", "trainer.epochs=abc", "model.channels=3", "data=nonexistent", "optimizer.lr=fast"],
)
def test_typos_and_wrong_types_fail_at_compose_time(override):
    with pytest.raises(ConfigCompositionException):
        compose_config([override])


@pytest.mark.parametrize("option", sorted(p.stem for p in (ROOT / "conf" / "model").glob("*.yaml")))
def test_every_model_builds_and_runs_a_tiny_batch(option):
    cfg = compose_config([f"model={option}"])
    channels = cfg.model.get("channels")
    # The smallest size the seed CNNs accept; ResNets take any size >= 32.
    img_size = exact_sizes(len(channels), cfg.model.kernel_size)[0] if channels else 32
    model = build_model(cfg.model, num_classes=3, img_size=img_size).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, img_size, img_size)).shape == (2, 3)


# Each config group's code, found by its name in the package of its stage (STYLE.md, habit 2).
GROUP_CODE = {
    "data": "data/__init__.py",
    "augmentation": "data/augment.py",
    "model": "models/builders.py",
    "optimizer": "training/optim.py",
    "scheduler": "training/optim.py",
    "trainer": "training/trainer.py",
    "objective": "objective.py",
    "tracking": "runs/tracking.py",
}


def test_conf_groups_mirror_modules():
    groups = {p.name for p in (ROOT / "conf").iterdir() if p.is_dir()} - {"search"}  # search: the sweeper's
    assert groups == set(GROUP_CODE)
    for group, module in GROUP_CODE.items():
        assert (ROOT / "src" / "sweeplab" / module).is_file(), f"no module for conf/{group}: {module}"
    # The top level holds the base layer (the contract, the device, the offline bundle's code), the objective
    # and the front door only; the stages are packages.
    top = {p.stem for p in (ROOT / "src" / "sweeplab").glob("*.py")}
    base = {"compat", "protocol", "errors", "config", "device", "offline"}
    assert top == base | {"objective", "app", "__init__"}, sorted(top)
    # The study's side (run by the sweep process) is a package of its own.
    assert {"loop", "storage", "runs", "search_space"} <= {
        p.stem for p in (ROOT / "src" / "sweeplab" / "study").iterdir()
    }
