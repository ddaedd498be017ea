"""Pruning across folds (hydra/sweeper/pruner=wilcoxon) in a real study of real k-fold jobs, its refusals
by the sweep and by the job, and the noise each trial's job records for the study."""

import math

import optuna
import pytest
from optuna.trial import TrialState

from helpers import compose_config
from helpers.study import job_launcher, sweeper_cfg
from sweeplab.app import train
from sweeplab.errors import ConfigError
from sweeplab.protocol import Attr
from sweeplab.study.loop import StudyLoop

WILCOXON = {"_target_": "optuna.pruners.WilcoxonPruner", "p_threshold": 0.1, "n_startup_steps": 2}
GOOD, BAD = 0.01, 1e-7  # a learning rate that learns red from blue in 3 epochs, and one that cannot


def test_the_sweep_refuses_wilcoxon_on_a_holdout_before_any_trial(tmp_path, tiny_overrides):
    cfg = sweeper_cfg(tmp_path, pruner=WILCOXON, direction=None, params={"optimizer.lr": "choice(0.01,0.1)"})
    with pytest.raises(ConfigError, match="needs k-fold validation"):
        StudyLoop(cfg, compose_config(tiny_overrides), job_launcher(tiny_overrides, tmp_path), [])
    with pytest.raises(ConfigError, match="cannot prune with data.folds=3"):  # fixed by the command line
        StudyLoop(
            cfg, compose_config(tiny_overrides), job_launcher(tiny_overrides, tmp_path), ["data.folds=3"]
        )
    assert not (tmp_path / "optuna.db").exists()  # refused before the storage was opened


def trial_keys(study: optuna.Study, trial: optuna.Trial, storage: str) -> list[str]:
    return [
        f"study.name={study.study_name}",
        f"study.storage={storage}",
        f"study.trial_id={trial._trial_id}",
        f"study.number={trial.number}",
    ]


def test_a_trial_job_refuses_wilcoxon_with_too_few_folds_before_its_run(
    tmp_path, tiny_overrides, mlflow_client
):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="cv", storage=storage, direction="maximize")
    study.set_user_attr(Attr.PRUNER, WILCOXON)
    cfg = compose_config([*tiny_overrides, "data.folds=3", *trial_keys(study, study.ask(), storage)])
    with pytest.raises(ConfigError, match="cannot prune with data.folds=3"):
        train(cfg, output_dir=tmp_path / "out")
    assert [e.name for e in mlflow_client.search_experiments()] == ["Default"]


def test_a_holdout_trial_records_the_binomial_noise_of_its_accuracy(tmp_path, tiny_overrides, mlflow_client):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="holdout", storage=storage, direction="maximize")
    trial = study.ask()
    value = train(
        compose_config([*tiny_overrides, *trial_keys(study, trial, storage)]), output_dir=tmp_path / "o"
    )
    attrs = optuna.load_study(study_name="holdout", storage=storage).trials[0].user_attrs
    n_val = int(mlflow_client.get_run(attrs[Attr.RUN]).data.params["data/val_images"])  # 4 of the 24
    assert attrs[Attr.NOISE] == pytest.approx(math.sqrt(value * (1 - value) / n_val))


# 9 fold trainings of the tiny CNN and 2 trials' bookkeeping: ~6 s on two cores
@pytest.mark.slow
def test_a_bad_trial_is_pruned_after_its_fourth_fold_of_five(tmp_path, tiny_overrides, mlflow_client):
    base = [*tiny_overrides, "data.folds=5", "trainer.epochs=3"]
    cfg = sweeper_cfg(
        tmp_path,
        pruner=WILCOXON,
        direction=None,  # the objective's: val/score of an accuracy competition, maximised
        params={"optimizer.lr": f"choice({GOOD},{BAD})"},
        enqueue=[{"optimizer.lr": GOOD}, {"optimizer.lr": BAD}],  # the good trial is the best one first
        n_trials=2,
        n_jobs=1,
    )
    study = StudyLoop(cfg, compose_config(base), job_launcher(base, tmp_path / "jobs"), []).run()
    good, bad = study.trials
    assert (good.params["optimizer.lr"], bad.params["optimizer.lr"]) == (GOOD, BAD)
    assert good.state == TrialState.COMPLETE and sorted(good.intermediate_values) == [0, 1, 2, 3, 4]
    assert bad.state == TrialState.PRUNED and sorted(bad.intermediate_values) == [0, 1, 2, 3]
    assert bad.user_attrs[Attr.REASON].startswith("pruned after fold 4 of 5 (value ")
    # The trial's noise: the folds' spread of its objective (val/score) at the epoch it returned, cv/std.
    logged = mlflow_client.get_run(good.user_attrs[Attr.RUN])
    best_epoch = int(logged.data.tags["sweeplab.best_epoch"])
    cv_std = {m.step: m.value for m in mlflow_client.get_metric_history(logged.info.run_id, "cv/std")}
    assert (
        good.user_attrs[Attr.NOISE] == pytest.approx(cv_std[best_epoch]) and Attr.NOISE not in bad.user_attrs
    )
