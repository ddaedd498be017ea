"""Configs a study runs first: hydra.sweeper.enqueue and warm_start_from, with real Optuna storages."""

import logging

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import create_trial

from helpers.study import launcher, sphere, sweeper_cfg
from sweeplab.errors import ConfigError
from sweeplab.protocol import Attr
from sweeplab.study.loop import StudyLoop


def sweep(tmp_path, **changes) -> optuna.Study:
    cfg = sweeper_cfg(tmp_path, **{"n_jobs": 1, **changes})
    return StudyLoop(cfg, OmegaConf.create({}), launcher(sphere), []).run()


def test_enqueued_configs_run_first_and_a_resume_does_not_run_them_again(tmp_path, caplog):
    enqueue = [{"x": 1.5, "y": 1}, {"x": -0.5}]
    with caplog.at_level(logging.INFO, logger="sweeplab.study.warm_start"):
        study = sweep(tmp_path, n_trials=3, enqueue=enqueue)
    first, second, third = study.trials
    assert first.params == {"x": 1.5, "y": 1} and second.params["x"] == -0.5  # y: the sampler's
    assert first.user_attrs[Attr.ENQUEUED] == second.user_attrs[Attr.ENQUEUED] == "enqueue"
    assert Attr.ENQUEUED not in third.user_attrs
    assert "Enqueued 2 configs to run first (2 of 2 from hydra.sweeper.enqueue;" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sweeplab.study.warm_start"):
        again = sweep(tmp_path, n_trials=5, enqueue=enqueue)  # resumed with two more trials
    assert len(again.trials) == 5 and [t.params["x"] for t in again.trials].count(1.5) == 1
    assert sum(Attr.ENQUEUED in t.user_attrs for t in again.trials) == 2
    assert "Enqueued 0 configs to run first (0 of 2 from hydra.sweeper.enqueue;" in caplog.text


def test_warm_start_takes_the_best_of_another_study_in_order_restricted_to_shared_params(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    source = optuna.create_study(study_name="small", storage=storage, direction="maximize")
    space = {
        "x": FloatDistribution(-2, 2),
        "y": CategoricalDistribution([0, 1]),
        "w": FloatDistribution(0, 1),  # searched there only
    }
    for i, value in enumerate([0.3, 0.9, 0.1, 0.7, 0.5]):
        params = {"x": i / 4, "y": i % 2, "w": value}
        source.add_trial(create_trial(params=params, distributions=space, value=value))
    source.add_trial(create_trial(state=optuna.trial.TrialState.FAIL))

    study = sweep(tmp_path, n_trials=4, warm_start_from="small", warm_start_top=3)
    warm = study.trials[:3]
    # Best first by the source's direction (maximize): its trials #1 (0.9), #3 (0.7), #4 (0.5).
    assert [t.params for t in warm] == [{"x": 0.25, "y": 1}, {"x": 0.75, "y": 1}, {"x": 1.0, "y": 0}]
    assert [t.user_attrs[Attr.ENQUEUED] for t in warm] == [f"warm_start_from small #{n}" for n in (1, 3, 4)]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert Attr.ENQUEUED not in study.trials[3].user_attrs  # then the sampler's own


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"enqueue": [{"z": 1.0}]},
            "hydra.sweeper.enqueue[0].z is not a parameter of this sweep; searched: x, y",
        ),
        (
            {"enqueue": [{"x": 5.0}]},
            "hydra.sweeper.enqueue[0].x=5.0 is outside this sweep's search space: x is in [-2.0, 2.0]",
        ),
        ({"enqueue": [{"y": 2}]}, "y is one of [0, 1]"),
        ({"warm_start_top": 0}, "hydra.sweeper.warm_start_top=0 must be at least 1"),
    ],
)
def test_bad_warm_start_values_are_refused_in_one_line_before_the_storage_opens(tmp_path, changes, message):
    with pytest.raises(ConfigError) as refused:
        StudyLoop(sweeper_cfg(tmp_path, **changes), OmegaConf.create({}), launcher(sphere), [])
    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert not (tmp_path / "optuna.db").exists()


def test_warm_start_from_an_unknown_study_lists_the_storages_studies_and_makes_none(tmp_path):
    sweep(tmp_path, study_name="first", n_trials=1)
    with pytest.raises(
        ConfigError, match=r"warm_start_from=frist: no such study in this storage; its studies: first$"
    ):
        sweep(tmp_path, study_name="second", warm_start_from="frist")
    assert optuna.get_all_study_names(f"sqlite:///{tmp_path / 'optuna.db'}") == ["first"]  # none made
