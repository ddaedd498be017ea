"""k-fold cross-validation: the folds, a k-fold job's metrics and submission, one fold alone, pruning, the
loop's hooks."""

import dataclasses

import numpy as np
import optuna
import pytest
from mlflow.tracking import MlflowClient

from helpers import compose_config
from helpers.runs import artifact_paths, only_run
from sweeplab.app import train
from sweeplab.data import load_data, make_splits, stratified_folds
from sweeplab.errors import ConfigError
from sweeplab.protocol import Attr
from sweeplab.training.job import prepare, run
from sweeplab.training.trainer import Hook, Trainer


def test_folds_are_disjoint_stratified_cover_every_image_and_fixed_by_the_seed():
    labels = np.array([0] * 50 + [1] * 31 + [2] * 19)
    folds = stratified_folds(labels, 5, seed=3)
    every = np.concatenate(folds)
    assert sorted(every.tolist()) == list(range(100))  # each labelled image in exactly one fold
    for fold in folds:
        counts = np.bincount(labels[fold], minlength=3)
        assert (abs(counts - np.array([10, 6.2, 3.8])) < 1).all()  # each class spread within one image
    assert max(map(len, folds)) - min(map(len, folds)) <= 1
    again = stratified_folds(labels, 5, seed=3)  # another trial, or a rerun: the same folds
    assert all(np.array_equal(a, b) for a, b in zip(folds, again, strict=True))
    assert not np.array_equal(folds[0], stratified_folds(labels, 5, seed=4)[0])


@pytest.mark.parametrize(
    ("folds", "fold", "message"),
    [
        (4, None, "data.folds=4 is more than the 3 images of the smallest class"),
        (3, 3, "data.fold=3 must be in 0..2 for data.folds=3"),
        (1, 0, "data.fold=0 needs k-fold validation"),
        (0, None, "data.folds=0 must be at least 1"),
    ],
)
def test_bad_folds_are_refused(folds, fold, message):
    cfg = compose_config([f"data.folds={folds}", f"data.fold={'null' if fold is None else fold}"]).data
    with pytest.raises(ConfigError, match=message):
        make_splits(np.array([0, 0, 0, 1, 1, 1, 1]), cfg)


def test_train_subset_is_drawn_within_each_fold(tiny_overrides):
    cfg = compose_config([*tiny_overrides, "data.folds=3", "data.train_subset=0.5"]).data
    for split in load_data(cfg).splits:
        assert len(split.train_index) == 8 and not set(split.train_index) & set(split.val_index)


def history(client, run_id, key):
    return {m.step: m.value for m in client.get_metric_history(run_id, key)}


def test_a_three_fold_job_logs_folds_mean_and_one_averaged_submission(
    tiny_overrides, tmp_path, mlflow_client
):
    value = run(compose_config([*tiny_overrides, "data.folds=3"]), output_dir=tmp_path / "out")
    logged = only_run(mlflow_client)
    run_id = logged.info.run_id
    folds = [history(mlflow_client, run_id, f"fold{i}/val/acc") for i in range(3)]
    mean = history(mlflow_client, run_id, "val/acc")
    assert all(sorted(f) == [1, 2] for f in folds) and sorted(mean) == [1, 2]
    for epoch in (1, 2):
        assert mean[epoch] == pytest.approx(np.mean([f[epoch] for f in folds]))
    assert value == max(mean.values())  # the objective: the best epoch of the mean curve
    best = max(mean, key=mean.get)
    assert logged.data.tags["sweeplab.best_epoch"] == str(best)
    assert set(history(mlflow_client, run_id, "cv/std")) == {1, 2}
    assert set(history(mlflow_client, run_id, "oof/score")) == {2}
    assert "fold0/kaggle/public" in logged.data.metrics and "kaggle/public" in logged.data.metrics
    paths = artifact_paths(mlflow_client, run_id)
    assert {"submissions/submission_best.csv", "predictions/test_probs_best.npz"} <= paths
    assert "predictions/val_probs.npz" in paths
    local = mlflow_client.download_artifacts(run_id, "predictions/val_probs.npz", str(tmp_path / "dl"))
    oof = np.load(local)
    assert sorted(oof["rows"].tolist()) == list(range(24))  # out of fold: every labelled image once
    assert np.allclose(oof["probs"].sum(1), 1, atol=1e-5)


def test_one_fold_trains_only_that_fold(tiny_overrides, tmp_path, mlflow_client):
    run(compose_config([*tiny_overrides, "data.folds=3", "data.fold=1"]), output_dir=tmp_path / "out")
    logged = only_run(mlflow_client)
    keys = set(logged.data.metrics)
    assert "fold1/val/acc" in keys and not {"fold0/val/acc", "fold2/val/acc", "cv/std"} & keys
    assert logged.data.params["data/val_images"] == "8"
    fold1 = history(mlflow_client, logged.info.run_id, "fold1/val/acc")
    assert history(mlflow_client, logged.info.run_id, "val/acc") == fold1


def test_bad_folds_in_a_job_record_nothing(tiny_overrides, tmp_path, mlflow_client):
    with pytest.raises(ConfigError, match="data.folds=13 is more than the 12 images"):
        run(compose_config([*tiny_overrides, "data.folds=13"]), output_dir=tmp_path / "o")
    assert [e.name for e in mlflow_client.search_experiments()] == ["Default"]


def test_pruning_with_folds_reports_one_global_step_per_fold_epoch(tiny_overrides, tmp_path, store):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="cv", storage=storage, direction="maximize")
    # Prunes from step 3 on (fold 1, epoch 1): accuracy can never reach 1.1.
    pruner = {"_target_": "optuna.pruners.ThresholdPruner", "lower": 1.1, "n_warmup_steps": 3}
    study.set_user_attr(Attr.PRUNER, pruner)
    trial = study.ask()
    study_keys = ["study.name=cv", f"study.storage={storage}", f"study.trial_id={trial._trial_id}"]
    cfg = compose_config([*tiny_overrides, "data.folds=3", *study_keys, f"study.number={trial.number}"])
    with pytest.raises(optuna.TrialPruned, match=r"fold 1 epoch 1 \(step 3\)"):
        train(cfg, output_dir=tmp_path / "out")
    reported = optuna.load_study(study_name="cv", storage=storage).trials[0].intermediate_values
    assert sorted(reported) == [1, 2, 3]  # fold x epochs + epoch: each (fold, epoch) once
    logged = MlflowClient(store).search_runs(
        [e.experiment_id for e in MlflowClient(store).search_experiments()]
    )
    assert logged[0].data.tags["sweeplab.pruned_epoch"] == "3"


def test_no_validation_cannot_be_a_trial(tiny_overrides, tmp_path, mlflow_client):
    cfg = compose_config([*tiny_overrides, "data.val_fraction=0", "study.trial_id=0", "study.name=s"])
    with pytest.raises(ConfigError, match="data.val_fraction=0 trains without validation"):
        train(cfg, output_dir=tmp_path / "o")
    assert [e.name for e in mlflow_client.search_experiments()] == ["Default"]


def test_the_loop_calls_its_hooks_after_every_epoch_and_after_each_fold(tiny_overrides, tmp_path):
    job = prepare(compose_config([*tiny_overrides, "data.folds=2"]), tmp_path / "out", [])
    heard = []

    class Listening(Hook):
        def on_epoch(self, epoch, metrics, fold):
            heard.append((fold, epoch, "val/acc" in metrics))

        def on_fold_end(self, fold, result):
            heard.append((fold, "end", len(result.history)))

    trainer = Trainer(job.cfg.trainer, job.parts.model, job.parts.augment, job.device)
    for split in job.data.splits:
        trainer.fit(job.data.with_split(split), job.parts.optimizer, None, job.scoring, [Listening()])
    holdout = dataclasses.replace(job.data, fold=None)  # no fold: no fold's end
    trainer.fit(holdout, job.parts.optimizer, None, job.scoring, [Listening()])
    assert heard == [
        *[(0, 1, True), (0, 2, True), (0, "end", 2)],
        *[(1, 1, True), (1, 2, True), (1, "end", 2)],
        *[(None, 1, True), (None, 2, True)],
    ]
