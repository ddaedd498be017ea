"""Models out of a run: the MLflow model under `model/`, `sweeplab predict` on a folder of images and the
offline bundle of `sweeplab export`, each reproducing the run's own submission_best.csv (the bundle's
predict.py in a process without sweeplab: tests/e2e/test_offline_bundle.py)."""

import json

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest

from helpers import frozen_backbone
from helpers.runs import artifact_paths, trained
from helpers.submissions import assert_same_submission, predicted, rows_of
from sweeplab.cli import main as sweeplab


@pytest.mark.slow  # ~5 s: a run, four predictions (one through the registry) and an MLflow load
def test_a_runs_model_predicts_its_own_submission(
    tiny_overrides, competition, store, mlflow_client, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    run_id = trained(
        [*tiny_overrides, "trainer.tta=[hflip]", "trainer.epochs=3", "optimizer.lr=3e-3"], out, mlflow_client
    )
    paths = artifact_paths(mlflow_client, run_id, "model")
    assert {
        "model/model_state_dict.pt",
        "model/MLmodel",
        "model/data/sweeplab_model.json",
        "model/requirements.txt",
    } <= paths
    assert "model/code/sweeplab/offline.py" in paths  # the Predictor it rebuilds

    sample = competition / "sample_submission.csv"
    got = predicted(run_id, competition / "test", tmp_path / "p.csv", store, "--sample", str(sample))
    assert_same_submission(got, out / "submission_best.csv")
    natural = predicted(run_id, competition / "test", tmp_path / "n.csv", store)  # ids from the file names
    assert [r[0] for r in rows_of(natural)[1]] == [str(i) for i in range(1, 11)]
    assert_same_submission(natural, out / "submission_best.csv", ordered=False)

    mlflow_client.create_registered_model("tiny")  # as `sweeplab register` makes a version
    source = f"{mlflow_client.get_run(run_id).info.artifact_uri}/model"
    version = mlflow_client.create_model_version("tiny", source, run_id)
    mlflow_client.set_registered_model_alias("tiny", "champion", version.version)
    args = [
        "predict",
        "models:/tiny@champion",
        "--images",
        str(competition / "test"),
        "--sample",
        str(sample),
    ]
    assert sweeplab([*args, "--out", str(tmp_path / "r.csv"), "--tracking-uri", store]) == 0
    assert_same_submission(tmp_path / "r.csv", out / "submission_best.csv")

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    best = np.load(out / "predictions" / "test_probs_best.npz")
    files = [
        str(competition / "test" / next(p.name for p in (competition / "test").glob(f"{i}.*")))
        for i in best["ids"]
    ]
    probs = model.predict(pd.DataFrame({"image": files}))
    assert list(probs.columns) == ["cat", "dog"]
    assert np.allclose(probs.to_numpy(), best["probs"], atol=1e-6)  # the best epoch's model
    assert np.allclose(model.predict(files).to_numpy(), best["probs"], atol=1e-6)  # a plain list too


@pytest.mark.slow  # ~3 s: a 2-fold run and a prediction
def test_every_fold_model_at_the_chosen_epoch_predicts_a_probabilities_submission(
    tiny_overrides, competition, store, mlflow_client, tmp_path
):
    overrides = [*tiny_overrides, "data.folds=2", "trainer.epochs=3", "data.submission_format=probabilities"]
    overrides.append("data.metric=log_loss")  # a metric of probabilities: the file scores as logged
    run_id = trained(overrides, tmp_path / "out", mlflow_client)
    paths = artifact_paths(mlflow_client, run_id, "model")
    assert {"model/model_state_dict_fold0.pt", "model/model_state_dict_fold1.pt"} <= paths
    got = predicted(
        run_id,
        competition / "test",
        tmp_path / "p.csv",
        store,
        "--sample",
        str(competition / "sample_submission.csv"),
    )
    assert rows_of(got)[0] == ["id", "cat", "dog"]
    assert_same_submission(got, tmp_path / "out" / "submission_best.csv")


def test_bad_input_is_one_line_and_writes_nothing(
    tiny_overrides, competition, store, mlflow_client, tmp_path, capsys
):
    run_id = trained([*tiny_overrides, "trainer.epochs=1"], tmp_path / "out", mlflow_client)
    empty = tmp_path / "empty"
    empty.mkdir()
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id,label\n1,cat\n99,cat\n")
    experiment = mlflow_client.get_run(run_id).info.experiment_id
    no_model = mlflow_client.create_run(experiment).info.run_id  # tracking.log_model=false, or older
    cases = [
        (["nosuchrun"], "no run id starts with 'nosuchrun'"),
        (["models:/tiny"], "models:/tiny: name a version, models:/NAME@ALIAS"),
        ([no_model], "has no MLflow model (model/MLmodel)"),
        ([run_id[:8], "--images", str(empty)], "holds no images"),
        (
            [run_id[:8], "--images", str(competition / "test"), "--sample", str(wrong)],
            "disagree: 2 ids vs 10 images",
        ),
    ]
    for given, message in cases:
        args = ["--images", str(competition / "test"), *given[1:]] if len(given) == 1 else given[1:]
        out = tmp_path / "submission.csv"
        assert sweeplab(["predict", given[0], *args, "--out", str(out), "--tracking-uri", store]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists()
    assert sweeplab(["export", run_id[:8], str(tmp_path / "out"), "--tracking-uri", store]) == 2
    assert "exists and is not empty" in capsys.readouterr().err


@pytest.mark.slow  # ~9 s: a frozen torchvision backbone's run, its prediction and its export
def test_a_frozen_backbones_head_and_backbone_predict_and_export(
    tiny_overrides, competition, weights_path, store, mlflow_client, tmp_path
):
    overrides = frozen_backbone(tiny_overrides, weights_path)
    run_id = trained(overrides, tmp_path / "out", mlflow_client)
    paths = artifact_paths(mlflow_client, run_id, "model")
    assert {"model/head_state_dict.pt", "model/backbone.json", "model/MLmodel"} <= paths
    assert not [p for p in paths if "model_state_dict" in p]  # the backbone's weights are not logged
    sample = competition / "sample_submission.csv"
    got = predicted(run_id, competition / "test", tmp_path / "p.csv", store, "--sample", str(sample))
    assert_same_submission(got, tmp_path / "out" / "submission_best.csv")
    bundle = tmp_path / "bundle"
    assert sweeplab(["export", run_id[:8], str(bundle), "--tracking-uri", store]) == 0
    config = json.loads((bundle / "bundle.json").read_text())  # torch.export checked it predicts the same
    (part,) = config["parts"]
    assert part["model"] == "model=torchvision model.arch=mobilenet_v3_small" and part["img_size"] == 32
    assert (bundle / "model.pt2").stat().st_size > 4e6  # the backbone's weights (6 MB) are inside
