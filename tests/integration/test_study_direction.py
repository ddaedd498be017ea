"""A study optimises its objective's way: the direction follows the objective unless given, a contradiction
is refused before the storage opens, and studies take their experiment's name (the competition's)."""

import logging

import optuna
import pytest
from omegaconf import OmegaConf

from helpers import compose_config
from helpers.study import launcher, sweeper_cfg
from sweeplab.errors import ConfigError
from sweeplab.study.directions import sweep_directions
from sweeplab.study.loop import StudyLoop
from sweeplab.study.naming import hashed_study_name
from sweeplab.study.search_space import search_space_signature


@pytest.mark.parametrize(
    ("direction", "overrides", "expected"),
    [
        (None, [], (["maximize"], True)),  # val/score of an accuracy competition
        (None, ["data.metric=log_loss"], (["minimize"], True)),
        (None, ["objective=val_loss"], (["minimize"], True)),
        ("maximize", [], (["maximize"], False)),
        (None, ["objective.metric=[val/acc,val/loss]"], (["maximize", "minimize"], True)),
    ],
)
def test_the_direction_follows_the_objective_unless_given(direction, overrides, expected):
    assert sweep_directions(direction, compose_config(overrides)) == expected


def test_an_app_that_is_not_a_sweeplab_job_minimises_as_the_official_plugin_does():
    assert sweep_directions(None, OmegaConf.create({"x": 1})) == (["minimize"], False)


@pytest.mark.parametrize(
    ("direction", "overrides", "message"),
    [
        (
            "minimize",
            [],
            "hydra.sweeper.direction=minimize contradicts objective.metric=val/score, which is "
            "better higher (data.metric=accuracy): drop hydra.sweeper.direction, the objective sets it",
        ),
        (
            "maximize",
            ["data.metric=log_loss"],
            "hydra.sweeper.direction=maximize contradicts objective."
            "metric=val/score, which is better lower (data.metric=log_loss)",
        ),
        (["maximize", "minimize"], [], "hydra.sweeper.direction has 2 entries but objective.metric names 1"),
    ],
)
def test_a_contradicting_direction_is_refused_in_one_line(direction, overrides, message):
    with pytest.raises(ConfigError) as info:
        sweep_directions(direction, compose_config(overrides))
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_a_study_without_a_direction_keeps_its_best_trial_the_objectives_way(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    cfg = sweeper_cfg(tmp_path, direction=None, study_name=None, params={"x": "choice(0.1, 0.6, 0.9)"})
    job = compose_config([])
    loop = StudyLoop(cfg, job, launcher(lambda p: float(p["x"])), [])
    study = loop.run()
    assert [d.name for d in study.directions] == ["MAXIMIZE"]
    assert study.best_value == max(t.value for t in study.trials)
    assert "Directions: ['maximize']" in caplog.text
    assert study.study_name.startswith("demo-")  # the demo's experiment


def earlier_study(tmp_path, direction: str):
    """(job, sweeper config, name): a study an earlier sweeplab made for this job on a competition folder,
    named after `name` (demo) and the given direction."""
    job = compose_config(["data=kaggle", f"data.root={tmp_path / 'dogs-vs-cats'}"])
    cfg = sweeper_cfg(tmp_path, direction=None, study_name=None, n_trials=2, params={"x": "choice(1, 2)"})
    signature = search_space_signature(StudyLoop(cfg, job, launcher(lambda p: 0.0), []).opening.distributions)
    name = hashed_study_name("demo", signature, [direction])
    optuna.create_study(study_name=name, storage=cfg.storage, direction=direction)
    return job, cfg, name


def test_studies_take_the_competition_folders_name_and_find_the_old_name(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    job, cfg, legacy = earlier_study(tmp_path, "maximize")
    loop = StudyLoop(cfg, job, launcher(lambda p: float(p["x"])), [])
    assert loop.opening.study_name == legacy
    assert (
        f"Resuming study {legacy}, named by an earlier sweeplab (after demo, for direction ['maximize'])"
        in (caplog.text)
    )
    # Without it, the study goes by the experiment's name, as its MLflow runs do.
    (tmp_path / "fresh").mkdir()
    fresh = sweeper_cfg(tmp_path / "fresh", direction=None, study_name=None, params={"x": "choice(1, 2)"})
    assert StudyLoop(fresh, job, launcher(lambda p: 0.0), []).opening.study_name == "dogs-vs-cats-x"


def test_a_named_study_made_the_wrong_way_is_resumed_with_one_warning(tmp_path, caplog):
    cfg = sweeper_cfg(tmp_path, direction=None, study_name="old", n_trials=2, params={"x": "choice(1, 2)"})
    optuna.create_study(study_name="old", storage=cfg.storage, direction="minimize")
    loop = StudyLoop(cfg, compose_config([]), launcher(lambda p: float(p["x"])), [])
    study = loop.run()
    assert [d.name for d in study.directions] == ["MINIMIZE"] and len(study.trials) == 2
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith(
        "study 'old' was created with direction ['minimize'] (the old default), against"
    )
    assert "start afresh with hydra.sweeper.study_name=NEW_NAME" in warning


def test_an_unnamed_study_made_under_the_old_minimize_default_is_found_and_resumed_with_a_warning(
    tmp_path, caplog
):
    caplog.set_level(logging.INFO)
    job, cfg, old = earlier_study(tmp_path, "minimize")
    study = StudyLoop(cfg, job, launcher(lambda p: float(p["x"])), []).run()
    assert study.study_name == old and [d.name for d in study.directions] == ["MINIMIZE"]
    assert "(after demo, for direction ['minimize'])" in caplog.text
    assert "was created with direction ['minimize'] (the old default)" in caplog.text


def test_a_study_is_not_resumed_for_another_competition_metric(tmp_path):
    cfg = sweeper_cfg(tmp_path, direction=None, study_name="named", n_trials=1, params={"x": "choice(1, 2)"})
    StudyLoop(cfg, compose_config([]), launcher(lambda p: float(p["x"])), []).run()
    assert optuna.load_study(study_name="named", storage=cfg.storage).user_attrs["sweeplab.objective"] == (
        "val/score (accuracy)"
    )
    again = StudyLoop(cfg, compose_config(["data.metric=macro_f1"]), launcher(lambda p: 0.0), [])
    with pytest.raises(ConfigError, match=r"optimises val/score \(accuracy\), not val/score \(macro_f1\)"):
        again.run()
    flipped = StudyLoop(cfg, compose_config(["data.metric=log_loss"]), launcher(lambda p: 0.0), [])
    with pytest.raises(ConfigError, match="optimises val/score"):  # not resumed the wrong way
        flipped.run()
