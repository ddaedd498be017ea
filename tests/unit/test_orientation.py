"""Which way each metric improves, defined once: the objective's mode and the study's direction follow it."""

import pytest
from omegaconf import OmegaConf

from helpers import compose_config
from sweeplab.errors import ConfigError
from sweeplab.objective import objective_directions, objective_specs
from sweeplab.scoring.orientation import key_mode, metric_mode


@pytest.mark.parametrize(
    ("key", "metric", "mode"),
    [
        ("val/acc", "log_loss", "max"),
        ("train/acc", "accuracy", "max"),
        ("val/loss", "roc_auc", "min"),
        ("train/loss", "accuracy", "min"),
        ("cv/std", "accuracy", "min"),
        ("val/score", "accuracy", "max"),
        ("val/score", "roc_auc", "max"),
        ("val/score", "macro_f1", "max"),
        ("val/score", "log_loss", "min"),
        ("kaggle/public", "log_loss", "min"),
        ("kaggle/private", "roc_auc", "max"),
        ("oof/score", "log_loss", "min"),
        ("gap/val_minus_public", "accuracy", "min"),  # validation looking better than the leaderboard
        ("gap/val_minus_public", "log_loss", "max"),
    ],
)
def test_each_key_has_one_orientation(key, metric, mode):
    assert key_mode(key, metric) == mode


def test_an_unknown_competition_metric_is_refused_with_the_valid_ones():
    with pytest.raises(ConfigError, match=r"data.metric='qwk' is unknown; valid: accuracy, macro_f1"):
        metric_mode("qwk")


@pytest.mark.parametrize(
    ("objective", "metric", "specs", "directions"),
    [
        ({"metric": "val/score", "mode": "auto"}, "accuracy", [("val/score", "max")], ["maximize"]),
        ({"metric": "val/score", "mode": "auto"}, "log_loss", [("val/score", "min")], ["minimize"]),
        ({"metric": "val/loss", "mode": "auto"}, "accuracy", [("val/loss", "min")], ["minimize"]),
        # mode=last returns the last epoch's value; the study still wants it high for val/acc.
        ({"metric": "val/acc", "mode": "last"}, "accuracy", [("val/acc", "last")], ["maximize"]),
        (
            {"metric": ["val/score", "val/loss"], "mode": "auto"},
            "roc_auc",
            [("val/score", "max"), ("val/loss", "min")],
            ["maximize", "minimize"],
        ),
    ],
)
def test_auto_mode_and_directions_follow_the_metric(objective, metric, specs, directions):
    cfg = OmegaConf.create(objective)
    assert objective_specs(cfg, metric) == specs
    assert objective_directions(cfg, metric) == directions


def test_the_default_objective_is_the_competition_metric_its_own_way():
    cfg = compose_config([])
    assert (cfg.objective.metric, cfg.objective.mode) == ("val/score", "auto")
    assert objective_specs(cfg.objective, "log_loss") == [("val/score", "min")]
    for option in ("val_acc", "val_loss", "val_score", "kaggle_public"):
        assert compose_config([f"objective={option}"]).objective.mode == "auto"
