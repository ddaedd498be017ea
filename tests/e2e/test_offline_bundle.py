"""The offline bundle as a Kaggle notebook runs it: `sweeplab export`'s predict.py in a fresh process where
sweeplab and MLflow cannot be imported, against the submission of a multi-label run, of a refit and
three-run ensemble (registered, predicted and exported: one program per member run, each at its own
image size, mixed as `sweeplab ensemble` mixed their test predictions) and of a multi-label ensemble."""

import json
import subprocess
import sys
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import torch

from helpers.competitions import make_tagged, tagged_overrides
from helpers.runs import artifact_paths, new_run, run_ids, trained
from helpers.submissions import assert_same_submission, bundle_script, predicted, rows_of, stubbed_env
from sweeplab.cli import main as sweeplab


def said(capsys) -> str:
    return capsys.readouterr().out


@pytest.mark.slow  # ~30 s: two runs, a refit, an ensemble, four predictions, an export and predict.py
def test_a_refit_and_a_three_run_ensemble_register_predict_and_export_their_submissions(
    tiny_overrides, competition, store, mlflow_client, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    # Probabilities in the files: the predictions are compared value by value, not only as labels.
    base = [*tiny_overrides, "data.metric=log_loss", "data.submission_format=probabilities"]
    tta_run = trained([*base, "trainer.tta=[hflip]"], tmp_path / "a", mlflow_client)
    folds_run = trained([*base, "data.folds=2", "data.img_size=28"], tmp_path / "b", mlflow_client)
    test, sample = competition / "test", competition / "sample_submission.csv"

    before = run_ids(mlflow_client)
    # --force: two 20 px models of 24 images agree by chance, so the floor would hold `champion` at random.
    refit_args = ["refit", tta_run[:8], "--register", "tiny-refit", "--force", "--tracking-uri", store]
    assert sweeplab(refit_args) == 0
    refit = new_run(mlflow_client, before)
    assert f"registered run {refit[:8]} as tiny-refit version 1, alias champion" in said(capsys)
    (refit_out,) = Path("outputs").glob("*/*refit*")
    got = predicted("models:/tiny-refit@champion", test, tmp_path / "r.csv", store, "--sample", str(sample))
    assert_same_submission(got, refit_out / "submission_best.csv")

    members = [tta_run, folds_run, refit]
    args = ["ensemble", *members, "--weights", "1,2,1", "--out", str(tmp_path / "ens")]
    assert sweeplab([*args, "--register", "tiny-ens", "--tracking-uri", store]) == 0
    ens = new_run(mlflow_client, before | {refit})
    out = said(capsys)
    assert f"registered run {ens[:8]} as tiny-ens version 1, alias champion" in out
    assert "no MLflow model" not in out
    assert f"no validation score: {refit[:8]} trained without validation (a refit)" in out
    paths = artifact_paths(mlflow_client, ens, "model")
    assert {"model/MLmodel", "model/data/sweeplab_model.json", "model/members/2/model_state_dict.pt"} <= paths
    assert {"model/members/1/model_state_dict_fold0.pt", "model/members/1/model_state_dict_fold1.pt"} <= paths
    version = mlflow_client.get_model_version_by_alias("tiny-ens", "champion")
    assert version.run_id == ens and version.tags["sweeplab.ensemble_of"] == ",".join(members)
    assert version.tags["sweeplab.submission_format"] == "probabilities"

    submission = tmp_path / "ens" / "submission_best.csv"
    assert rows_of(submission)[0] == ["id", "cat", "dog"]
    got = predicted("models:/tiny-ens@champion", test, tmp_path / "e.csv", store, "--sample", str(sample))
    assert_same_submission(got, submission)
    assert "ensemble of 3 runs (mean, weights 1,2,1), 4 models" in said(capsys)

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    model = mlflow.pyfunc.load_model(f"runs:/{ens}/model")
    stored = np.load(tmp_path / "ens" / "predictions" / "test_probs_best.npz")
    files = [str(next(test.glob(f"{i}.*"))) for i in stored["ids"]]
    probs = model.predict(pd.DataFrame({"image": files}))
    assert list(probs.columns) == ["cat", "dog"]
    assert np.allclose(probs.to_numpy(), stored["probs"], atol=1e-6)

    bundle = tmp_path / "bundle"
    assert sweeplab(["export", "models:/tiny-ens@champion", str(bundle), "--tracking-uri", store]) == 0
    names = sorted(p.name for p in bundle.iterdir())
    assert names == ["bundle.json", "model_0.pt2", "model_1.pt2", "model_2.pt2", "predict.py"]
    config = json.loads((bundle / "bundle.json").read_text())
    assert [(p["img_size"], p["weight"], p["members"]) for p in config["parts"]] == [
        (20, 1.0, 1),
        (28, 2.0, 2),
        (20, 1.0, 1),
    ]
    command = [str(bundle / "predict.py"), "--images", str(test), "--sample", str(sample)]
    done = subprocess.run(
        [sys.executable, *command, "--out", str(tmp_path / "b.csv")],
        env=stubbed_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert_same_submission(tmp_path / "b.csv", submission)

    # Ranks, one member weighted 0: its model mixes the one member left, by rank, as the submission did.
    args = ["ensemble", tta_run, folds_run, "--weights", "1,0", "--rank", "--out", str(tmp_path / "rank")]
    assert sweeplab([*args, "--register", "tiny-rank", "--tracking-uri", store]) == 0
    got = predicted("models:/tiny-rank@champion", test, tmp_path / "k.csv", store, "--sample", str(sample))
    assert_same_submission(got, tmp_path / "rank" / "submission_best.csv")
    assert "ensemble of 1 runs (rank), 1 model" in said(capsys)


@pytest.mark.slow  # ~15 s: two multi-label runs, their ensemble, a prediction and an export
def test_a_multilabel_ensembles_model_writes_its_tags_at_its_own_thresholds(store, mlflow_client, tmp_path):
    root = make_tagged(tmp_path / "planet")
    overrides = tagged_overrides(root, tmp_path, store)
    runs = [
        trained(overrides, tmp_path / "a", mlflow_client),
        trained([*overrides, "data.img_size=24", "trainer.tta=[vflip]"], tmp_path / "b", mlflow_client),
    ]
    assert sweeplab(["ensemble", *runs, "--out", str(tmp_path / "ens"), "--tracking-uri", store]) == 0
    ens = new_run(mlflow_client, set(runs))
    spec_file = mlflow_client.download_artifacts(ens, "model/data/sweeplab_model.json", str(tmp_path))
    spec = json.loads(Path(spec_file).read_text())
    thresholds = json.loads(mlflow_client.get_run(ens).data.tags["sweeplab.thresholds"])
    assert spec["thresholds"] == pytest.approx(thresholds)  # the ensemble's own, tuned on its validation
    sample = root / "sample_submission_v2.csv"
    got = predicted(ens, root / "test-jpg", tmp_path / "p.csv", store, "--sample", str(sample))
    assert_same_submission(got, tmp_path / "ens" / "submission_best.csv")
    bundle = tmp_path / "bundle"
    assert sweeplab(["export", ens, str(bundle), "--tracking-uri", store]) == 0
    command = [sys.executable, str(bundle / "predict.py"), "--images", str(root / "test-jpg")]
    done = subprocess.run(
        [*command, "--sample", str(sample), "--out", str(tmp_path / "b.csv")],
        env=stubbed_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert_same_submission(tmp_path / "b.csv", tmp_path / "ens" / "submission_best.csv")


@pytest.fixture
def tagged_run(tmp_path, store, mlflow_client) -> tuple[str, Path, Path]:
    """A multi-label run (tags with tuned thresholds): its id, competition and output folder."""
    root = make_tagged(tmp_path / "planet")
    overrides = tagged_overrides(root, tmp_path, store)
    return trained(overrides, tmp_path / "out", mlflow_client), root, tmp_path / "out"


@pytest.mark.slow  # ~13 s: a run, a prediction, an export and predict.py in a fresh process
def test_the_bundle_predicts_tags_offline_without_sweeplab(tagged_run, store, tmp_path, capsys):
    run_id, root, out = tagged_run
    sample = root / "sample_submission_v2.csv"
    got = predicted(run_id, root / "test-jpg", tmp_path / "p.csv", store, "--sample", str(sample))
    assert_same_submission(got, out / "submission_best.csv")

    bundle = tmp_path / "bundle"
    assert sweeplab(["export", run_id[:8], str(bundle), "--tracking-uri", store]) == 0
    assert sorted(p.name for p in bundle.iterdir()) == ["bundle.json", "model.pt2", "predict.py"]
    env = stubbed_env(tmp_path)
    assert subprocess.run([sys.executable, "-c", "import sweeplab"], env=env, capture_output=True).returncode
    command = [sys.executable, str(bundle / "predict.py"), "--images", str(root / "test-jpg")]
    done = subprocess.run(
        [*command, "--out", str(tmp_path / "b.csv"), "--sample", str(sample)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert_same_submission(tmp_path / "b.csv", out / "submission_best.csv")
    predict_py = bundle_script(bundle)
    # On a GPU the graph's own device checks must move too (seen on an H200: "Tensor device mismatch!
    # Expected: cpu, Got: cuda:0"); the meta device stands in for one here.
    moved = predict_py.load_program(bundle / "model.pt2", torch.device("meta"))
    assert {str(n.kwargs["device"]) for n in moved.graph.nodes if "device" in n.kwargs} == {"meta"}

    with (bundle / "model.pt2").open("r+b") as f:  # one byte changed
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 1]))
    # in process: refused before torch loads anything
    assert predict_py.main(["--images", str(root / "test-jpg"), "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert "model.pt2 is not the file the bundle was made with" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.csv").exists()
