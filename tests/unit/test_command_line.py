"""Refusals of sweeplab keys and values at compose time: one line naming the key and the valid values."""

import pytest
from hydra.core.config_store import ConfigStore
from hydra.errors import ConfigCompositionException

from helpers import ROOT, compose_config
from sweeplab.app import choose_competition_data, command_line_problem, competition_data
from sweeplab.config import CompetitionMetric, CompileMode, ModelLibrary, Normalize

CONF = ROOT / "conf"
# An experiment whose search space names a key the job does not have: caught before any trial runs.
ConfigStore.instance().store(
    group="experiment",
    name="typo_in_params",
    node={
        "defaults": [{"override /search": "batch_lr_epochs"}],
        "hydra": {"sweeper": {"params": {"trainer.epoch": "range(1, 3)"}}},
    },
    package="_global_",
)


def problem(*args: str) -> str | None:
    return command_line_problem(CONF, list(args))


@pytest.mark.parametrize(
    ("override", "valid"),
    [
        ("augmentation.normalize=datset", [m.value for m in Normalize]),
        ("trainer.compile_mode=fastest", [m.value for m in CompileMode]),
        ("data.metric=auc", [m.value for m in CompetitionMetric]),
        ("data.name=dmo", ["demo", "kaggle"]),
        ("model=resnet18 model.name=resnet34", [m.value for m in ModelLibrary]),  # arch: checked by the job
        ("hydra/sweeper=optuna hydra.sweeper.diverged_as=skip", ["fail", "pruned"]),
    ],
)
def test_closed_choices_are_refused_with_the_valid_values(override, valid):
    *before, last = override.split()
    key, value = last.split("=")
    message = problem(*before, last)
    assert message == f"{key}={value} is not valid; valid: {', '.join(valid)}"
    with pytest.raises(ConfigCompositionException):  # Hydra itself refuses it too, before any decoding
        compose_config([*before, last])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["trainer.epoch=3"], "trainer.epoch is not a key of trainer; did you mean trainer.epochs?"),
        (["+trainer.epoch=3"], "trainer.epoch is not a key of trainer; did you mean trainer.epochs?"),
        (
            ["-m", "optimizer.lrr=1e-4,1e-3"],
            "optimizer.lrr is not a key of optimizer; did you mean optimizer.lr?",
        ),
        (["optimizer=adamw", "optimizer.momentum=0.9"], "optimizer.momentum is not a key of optimizer"),
        (["trainer.epochs=abc"], "trainer.epochs=abc is not valid: Value 'abc' of type 'str' could not be"),
        (
            ["model=resnet34"],
            "model=resnet34 is not an option; valid: resnet101, resnet18, resnet50, seed_cnn,",
        ),
        (
            ["model=base_backbone"],
            "model=base_backbone is not an option; valid: resnet101, resnet18, resnet50, seed_cnn,",
        ),
        (["experiment=nope"], "experiment=nope is not an option; valid: demo_optuna, lab4_optuna,"),
        (
            ["-m", "hydra/sweeper=optuna", "hydra.sweeper.direction=minimize"],
            "hydra.sweeper.direction=minimize contradicts objective.metric=val/score, which is better higher",
        ),
        (["-m", "hydra/sweeper=optuna", "trainer.epoch=range(1,3)"], "trainer.epoch is not a key of trainer"),
        (
            ["-m", "experiment=typo_in_params"],
            "hydra.sweeper.params.trainer.epoch: trainer.epoch is not a key of trainer; did you mean",
        ),
    ],
)
def test_mistakes_are_one_line_naming_the_key_and_the_fix(args, expected):
    message = problem(*args)
    assert message is not None and message.startswith(expected)
    assert "\n" not in message
    assert "base_" not in message.partition(" is ")[2]  # the schemas are never offered as options


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["-m", "optimizer.lr=1e-4,1e-3"],
        ["-m", "experiment=demo_optuna"],
        ["-m", "hydra/sweeper=optuna", "optimizer.lr=tag(log, interval(1e-5, 1e-2))"],
        ["+augmentation.transforms=[]"],  # an existing key: Hydra's own rule applies
        ["data=kaggle", "data.root=/somewhere", "augmentation.normalize=imagenet"],
        ["--help"],
        ["--cfg", "job"],
    ],
)
def test_valid_command_lines_pass(args):
    assert problem(*args) is None


def test_closed_choices_read_as_plain_strings():
    cfg = compose_config(["augmentation=standard", "trainer.compile_mode=max-autotune"])
    assert cfg.augmentation.normalize == "dataset" and cfg.trainer.compile_mode == "max-autotune"
    assert str(cfg.data.metric) == "accuracy"  # so MLflow params and config.yaml hold the value


@pytest.mark.parametrize(
    ("args", "chosen"),
    [
        (["data.root=/comp/planet", "data.metric=mean_f2"], True),  # the demo's config: a competition
        (["-m", "data.root=/comp/planet", "optimizer.lr=1e-4,1e-3"], True),
        (["data=demo", "data.root=/tmp/digits"], False),  # where the demo is written
        (["data=kaggle", "data.root=/comp/planet"], False),
        (["experiment=lab4_seed", "data.root=/comp/dogs"], False),  # the experiment chose data=kaggle
        (["trainer.epochs=2"], False),
    ],
)
def test_a_competition_folder_given_alone_selects_data_kaggle(args, chosen):
    argv = ["train.py", *args]
    choose_competition_data(CONF, argv)
    assert argv == ["train.py", *args, *(["data=kaggle"] if chosen else [])]
    line = competition_data(CONF, args)
    assert (line is not None) == chosen
    if chosen:
        assert line.startswith("data.root=/comp/planet: a competition folder, so data=kaggle")
