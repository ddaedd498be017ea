"""The study loop in process, with a real Optuna storage and a launcher that runs a plain function."""

import math

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from helpers.study import launcher, sphere, sweeper_cfg
from sweeplab.errors import TrainingDiverged
from sweeplab.study.loop import StudyLoop, SweepFailed
from sweeplab.study.table import format_table, trial_rows


def test_a_study_runs_n_trials_in_batches_and_records_each(tmp_path):
    batches = []

    def launch(batch, idx):
        batches.append(len(batch))
        return launcher(sphere)(batch, idx)

    loop = StudyLoop(sweeper_cfg(tmp_path), OmegaConf.create({}), launch, [], parallel=True)
    study = loop.run()
    assert batches == [2, 2, 2] and loop.job_idx == 6
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 6
    for t in study.trials:
        assert t.value == pytest.approx(t.params["x"] ** 2 + t.params["y"]) and -2 <= t.params["x"] <= 2
    assert "params.x" in format_table(trial_rows(study))


def test_sequential_launcher_gets_one_trial_at_a_time(tmp_path):
    batches = []

    def launch(batch, idx):
        batches.append(len(batch))
        return launcher(sphere)(batch, idx)

    StudyLoop(sweeper_cfg(tmp_path, n_trials=3), OmegaConf.create({}), launch, [], parallel=False).run()
    assert batches == [1, 1, 1]


def test_outcomes_failed_pruned_diverged_and_bad_values(tmp_path):
    outcomes = iter(
        [
            RuntimeError("boom"),
            optuna.TrialPruned("pruned at epoch 2"),
            TrainingDiverged("training loss became nan"),
            "not a number",
            math.inf,
            1.0,
            2.0,
        ]
    )

    def objective(params):
        outcome = next(outcomes)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    # Pruned and complete trials count towards n_trials=4; failed ones are replaced (3 of 4 may fail).
    cfg = sweeper_cfg(tmp_path, n_trials=4, n_jobs=1, max_failure_rate=0.75, diverged_as="pruned")
    study = StudyLoop(cfg, OmegaConf.create({}), launcher(objective), [], parallel=False).run()
    states = [t.state for t in study.trials]
    fail, pruned, complete = TrialState.FAIL, TrialState.PRUNED, TrialState.COMPLETE
    assert states == [fail, pruned, pruned, fail, fail, complete, complete]
    reasons = [t.user_attrs.get("sweeplab.reason") for t in study.trials]
    assert (
        reasons[0] == "RuntimeError: boom" and "is not a number" in reasons[3] and "not finite" in reasons[4]
    )


def test_too_many_failures_stop_the_study(tmp_path):
    def objective(params):
        raise RuntimeError("always")

    cfg = sweeper_cfg(tmp_path, n_trials=4, n_jobs=1, max_failure_rate=0.25)
    with pytest.raises(SweepFailed, match="2 trials failed, more than hydra.sweeper.max_failure_rate=0.25"):
        StudyLoop(cfg, OmegaConf.create({}), launcher(objective), [], parallel=False).run()


def test_grid_study_is_as_long_as_its_grid(tmp_path):
    cfg = sweeper_cfg(
        tmp_path,
        sampler={"_target_": "optuna.samplers.GridSampler", "seed": 0},
        params={"x": "choice(-1, 0, 1)", "y": "range(0, 2)"},
        n_trials=50,
    )
    loop = StudyLoop(cfg, OmegaConf.create({}), launcher(sphere), [])
    assert loop.n_trials == 6  # computed once, from the grid
    study = loop.run()
    assert sorted((t.params["x"], t.params["y"]) for t in study.trials) == [
        (x, y) for x in (-1, 0, 1) for y in (0, 1)
    ]
