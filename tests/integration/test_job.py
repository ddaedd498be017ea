"""End-to-end jobs on tiny real competitions, asserted through a real MLflow store."""

import csv
import gc
from pathlib import Path

import pytest
import torch

from helpers import compose_config, experiment_ids, make_competition
from helpers.runs import MLFLOW_MODEL_FILES, artifact_paths, only_run
from sweeplab.errors import ConfigError
from sweeplab.models.builders import build_model
from sweeplab.runs.provenance import git_state
from sweeplab.runs.tracking import experiment_name
from sweeplab.training.job import run
from sweeplab.training.trainer import Trainer


@pytest.mark.parametrize("layout", ["folders", "flat"])
def test_job_logs_a_complete_run(tmp_path, store, mlflow_client, layout):
    root = make_competition(tmp_path / layout, layout=layout)
    overrides = [
        "data=kaggle",
        f"data.root={root}",
        f"data.cache_dir={tmp_path / 'cache'}",
        "data.img_size=20",
        "model.channels=[4,8]",
        "model.fc=[16]",
        "trainer.epochs=2",
        "trainer.batch_size=8",
        "trainer.progress=false",
        f"tracking.uri={store}",
        "optimizer.lr=3e-3",
    ]
    value = run(compose_config(overrides), output_dir=tmp_path / "out", overrides=overrides)

    logged = only_run(mlflow_client)
    assert logged.info.status == "FINISHED"
    history = mlflow_client.get_metric_history(logged.info.run_id, "val/acc")
    assert [m.step for m in history] == [1, 2]
    assert value == max(m.value for m in history)  # default objective: best val accuracy
    for key in ("train/loss", "train/acc", "val/loss", "lr"):
        assert [m.step for m in mlflow_client.get_metric_history(logged.info.run_id, key)] == [1, 2]
    assert int(logged.data.params["data/train_images"]) + int(logged.data.params["data/val_images"]) == 24
    assert logged.data.params["data/corrupt_images"] == "0"
    params = logged.data.params
    assert params["optimizer.lr"] == "0.003" and params["model.channels"] == "[4, 8]"
    assert params["data.root"] == str(root) and params["trainer.epochs"] == "2"
    assert logged.data.tags["sweeplab.overrides"] == " ".join(overrides)
    assert len(logged.data.tags["sweeplab.data.fingerprint"]) == 64

    git = git_state()
    dirty = {"git/uncommitted.diff"} if git is not None and git.dirty else set()
    paths = artifact_paths(mlflow_client, logged.info.run_id)
    assert "model/code/sweeplab/__init__.py" in paths  # the MLflow model carries sweeplab's code
    assert {p for p in paths if not p.startswith("model/code/")} == {
        "config.yaml",
        "learning_curves.png",
        "model/model_state_dict.pt",
        *MLFLOW_MODEL_FILES,
        "submissions/submission_best.csv",
        "submissions/submission_last.csv",
        "predictions/test_probs_best.npz",
        "predictions/test_probs_last.npz",
        "predictions/val_probs.npz",
        *dirty,
    }
    local = Path(mlflow_client.download_artifacts(logged.info.run_id, "", str(tmp_path / "dl")))
    assert "lr: 0.003" in (local / "config.yaml").read_text()
    assert (local / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    state = torch.load(local / "model" / "model_state_dict.pt", weights_only=True)
    assert state["0.weight"].shape == (4, 3, 5, 5)
    with (local / "submissions" / "submission_last.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["id", "label"]
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(10, 0, -1)]  # sample submission's order
    assert {r[1] for r in rows[1:]} <= {"cat", "dog"}


def test_learnable_data_is_learned(tiny_overrides, tmp_path):
    overrides = [*tiny_overrides, "trainer.epochs=3", "optimizer.lr=1e-2"]
    assert run(compose_config(overrides), output_dir=tmp_path / "out") >= 0.75


def test_objective_mode_and_metric(tiny_overrides, tmp_path, mlflow_client):
    value = run(compose_config([*tiny_overrides, "objective=val_loss"]), output_dir=tmp_path / "o")
    logged = only_run(mlflow_client)
    history = mlflow_client.get_metric_history(logged.info.run_id, "val/loss")
    assert value == min(m.value for m in history)
    # The best epoch (the submission's) is chosen by the objective's metric and mode, not by val/acc.
    assert logged.data.tags["sweeplab.best_epoch"] == str(min(history, key=lambda m: m.value).step)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("objective.metric=val/f1", "objective.metric='val/f1' is not logged"),
        ("data.img_size=12", "data.img_size=12 is too small"),
        ("trainer.device=tpu", "trainer.device='tpu' is not a device"),
        ("optimizer.lr=0", "optimizer.lr=0.0 must be positive"),
        ("augmentation.hflip=2", "augmentation.hflip=2.0 is a probability"),
    ],
)
def test_bad_config_fails_before_any_run_is_recorded(
    tiny_overrides, tmp_path, mlflow_client, override, message
):
    with pytest.raises(ConfigError) as info:
        run(compose_config([*tiny_overrides, override]), output_dir=tmp_path / "o")
    assert message in str(info.value)
    assert [e.name for e in mlflow_client.search_experiments()] == ["Default"]  # nothing half-recorded


def test_failure_during_training_marks_the_run_failed(tiny_overrides, tmp_path, mlflow_client):
    # A learning rate this large drives the loss to inf within the first epoch.
    with pytest.raises(Exception, match="training loss became"):
        run(
            compose_config([*tiny_overrides, "optimizer=sgd", "optimizer.lr=1e30"]), output_dir=tmp_path / "o"
        )
    failed = only_run(mlflow_client)
    assert failed.info.status == "FAILED"
    assert "TrainingDiverged" in failed.data.tags["sweeplab.error"]


def test_augmentations_and_schedulers_train(tiny_overrides, tmp_path, mlflow_client):
    overrides = [
        *tiny_overrides,
        "augmentation=standard",
        "scheduler=step",
        "optimizer=adamw",
        "augmentation.transforms=[{_target_: torchvision.transforms.v2.ColorJitter, brightness: 0.2}]",
    ]
    run(compose_config(overrides), output_dir=tmp_path / "o")
    logged = only_run(mlflow_client)
    lrs = [m.value for m in mlflow_client.get_metric_history(logged.info.run_id, "lr")]
    assert lrs == pytest.approx([1e-3, 5e-4])  # StepLR halves every epoch
    assert logged.data.params["augmentation.normalize"] == "dataset"


@pytest.mark.slow  # Inductor compiles C++ on the CPU: ~8 s a graph on two cores
def test_compiled_model_trains_and_saves_plain_weights(tmp_path, tiny_overrides, mlflow_client):
    """trainer.compile=true runs the loop through torch.compile (Inductor, C++ on the CPU)."""
    # One batch shape per mode, so Inductor compiles two graphs (training, evaluation), not a third for a
    # short last batch: 20 training images in batches of 4; 4 validation and 10 test images in batches of 2.
    shapes = ["trainer.batch_size=4", "trainer.eval_batch_size=2"]
    cfg = compose_config([*tiny_overrides, "trainer.compile=true", "trainer.epochs=1", *shapes])
    run(cfg, output_dir=tmp_path / "out", overrides=[])
    logged = only_run(mlflow_client)
    assert logged.info.status == "FINISHED" and logged.data.metrics["train/loss"] > 0
    saved = torch.load(tmp_path / "out" / "model_state_dict.pt")
    assert not [k for k in saved if "_orig_mod" in k]  # loads into a plain model
    eager = build_model(cfg.model, num_classes=2, img_size=cfg.data.img_size)
    eager.load_state_dict(saved)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.batch_size=0", "trainer.batch_size=0 must be at least 1"),
        ("trainer.epochs=0", "trainer.epochs=0 must be at least 1"),
    ],
)
def test_bad_trainer_values_are_refused_before_the_run(tiny_overrides, mlflow_client, override, message):
    with pytest.raises(ConfigError, match=message):
        run(compose_config([*tiny_overrides, "trainer.compile=true", override]))
    assert [e.name for e in mlflow_client.search_experiments()] == ["Default"]


@pytest.mark.slow  # ~2 s: two walks of every object the interpreter holds
def test_a_failed_job_holds_no_model_or_optimizer(tiny_overrides, simulate_oom):
    """A sweep keeps each failed trial's exception (and so its frames) until the batch is told: the
    model, optimizer and batches must already be let go, or a GPU would stay full for the next trial."""

    def alive() -> int:
        gc.collect()
        return sum(issubclass(type(o), torch.optim.Optimizer) for o in gc.get_objects())

    before = alive()
    simulate_oom(1)
    with pytest.raises(torch.cuda.OutOfMemoryError) as failure:
        run(compose_config(tiny_overrides))
    assert failure.value.__traceback__ is not None  # the frames are still reachable from here
    assert alive() == before


@pytest.mark.slow  # ~1.4 s: a 4-epoch run
def test_without_a_solution_the_test_set_is_predicted_only_for_the_submissions(
    tiny_overrides, tmp_path, competition, mlflow_client, monkeypatch
):
    """The best-so-far and the last epoch need test predictions; other epochs do not (12,500 images)."""
    (competition / "solution.csv").unlink()
    predicted = []
    predict = Trainer.predict

    def counting(self, images, index):
        predicted.append(len(index))
        return predict(self, images, index)

    monkeypatch.setattr(Trainer, "predict", counting)
    run(compose_config([*tiny_overrides, "trainer.epochs=4", "optimizer.lr=0.05"]), output_dir=tmp_path / "o")
    logged = only_run(mlflow_client)
    val = [
        m.value
        for m in sorted(mlflow_client.get_metric_history(logged.info.run_id, "val/acc"), key=lambda m: m.step)
    ]
    improved = [e for e in range(4) if e == 0 or val[e] > max(val[:e])]
    n_test = 10
    assert predicted.count(n_test) == len(set(improved) | {3})  # improved epochs, and the last
    assert len(predicted) - predicted.count(n_test) == 4  # validation every epoch
    assert int(logged.data.tags["sweeplab.best_epoch"]) == improved[-1] + 1


@pytest.mark.parametrize(
    ("overrides", "experiment"),
    [
        ([], "demo"),
        (["data=kaggle", "data.root=/data/dogs-vs-cats"], "dogs-vs-cats"),  # not mixed with the demo's runs
        (["data=kaggle", "data.root=/data/dogs-vs-cats", "name=mine"], "mine"),
        (["experiment=lab4_seed", "data.root=/data/dogs-vs-cats"], "lab4_seed"),
        (["data=kaggle", "data.root=/data/x", "tracking.experiment=kept"], "kept"),
    ],
)
def test_experiment_is_named_after_the_competition_unless_named(overrides, experiment):
    assert experiment_name(compose_config(overrides)) == experiment


def test_a_run_ends_with_a_summary_line_and_data_counts_are_params(
    tiny_overrides, tmp_path, mlflow_client, caplog
):
    caplog.set_level("INFO", logger="sweeplab.training.job")
    run(compose_config(tiny_overrides), output_dir=tmp_path / "o")
    logged = only_run(mlflow_client, "competition")
    (summary,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("run ")]
    assert summary.startswith(f"run {logged.info.run_id} (competition): val/score=")
    assert f"best epoch {logged.data.tags['sweeplab.best_epoch']} of 2" in summary
    assert str(tmp_path / "o" / "submission_best.csv") in summary
    assert (
        f"/#/experiments/{logged.info.experiment_id}/runs/{logged.info.run_id}?workflowType=machine_learning"
        in summary
    )
    # Facts, not curves: the data counts are params; the study's bookkeeping is not a param at all.
    assert logged.data.params["data/num_classes"] == "2" and "data/num_classes" not in logged.data.metrics
    assert not [k for k in logged.data.params if k.startswith("study.")]


def test_a_single_run_is_named_by_what_differs_without_long_paths(tiny_overrides, tmp_path, mlflow_client):
    overrides = ["data=kaggle", f"data.root={tmp_path / 'competition'}", "optimizer.lr=0.003"]
    overrides += [f"tracking.uri={mlflow_client.tracking_uri}", "hydra/launcher=basic"]
    overrides += [f"data.cache_dir={tmp_path / 'cache'}", "augmentation.transforms=[]"]
    run(
        compose_config([*tiny_overrides, "optimizer.lr=0.003"]),
        output_dir=tmp_path / "o",
        overrides=overrides,
    )
    name = only_run(mlflow_client, "competition").info.run_name
    # The competition is the experiment's name already; stores, caches and Hydra's own choices are not
    # what the run is.
    assert name == "optimizer.lr=0.003 augmentation.transforms=[]"
    sub = ["data=kaggle", f"data.root={tmp_path / 'competition'}", f"model.weights_path={tmp_path / 'w'}"]
    run(compose_config(tiny_overrides), output_dir=tmp_path / "p", overrides=sub)
    names = {r.info.run_name for r in mlflow_client.search_runs(experiment_ids(mlflow_client))}
    assert "demo" in names  # nothing left that differs: the config's name


def test_a_run_without_validation_says_so_instead_of_nan(tiny_overrides, tmp_path, caplog):
    caplog.set_level("INFO", logger="sweeplab.training.job")
    run(compose_config([*tiny_overrides, "data.val_fraction=0"]), output_dir=tmp_path / "o")
    (summary,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("run ")]
    assert "no validation (trained on every labelled image), submission from epoch 2" in summary
    assert "nan" not in summary
