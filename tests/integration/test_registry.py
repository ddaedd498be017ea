"""The Model Registry: a run's model as a version with the alias moved to it, its scores as tags, and
the one-line refusals."""

import csv
from pathlib import Path
from urllib.parse import urlparse

import mlflow.pyfunc
import pytest

from helpers.registry import run_with_model
from helpers.runs import new_run, run_ids, trained
from sweeplab.cli import main
from sweeplab.errors import SweeplabError
from sweeplab.runs.registry import register_run


@pytest.mark.slow  # ~1.6 s: runs and the registry
def test_a_version_gets_the_alias_and_the_best_epochs_scores(mlflow_client, tmp_path, store, monkeypatch):
    first = run_with_model(mlflow_client, tmp_path, name="a")
    second = run_with_model(mlflow_client, tmp_path, name="b")
    made = register_run(mlflow_client, first, "cactus-cnn")
    assert (made.version, made.alias) == ("1", "champion")
    again = register_run(mlflow_client, second, "cactus-cnn")  # the alias moves on
    assert again.version == "2"
    champion = mlflow_client.get_model_version_by_alias("cactus-cnn", "champion")
    assert str(champion.version) == "2" and champion.run_id == second
    assert champion.tags["val/score"] == "0.9" and champion.tags["kaggle/public"] == "0.8"  # epoch 1's
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)  # models:/ URIs are read from the global store
    loaded = mlflow.pyfunc.load_model("models:/cactus-cnn@champion")
    assert loaded.predict([1, 2]) == [0.5, 0.5]


def test_the_register_command_says_what_it_made(mlflow_client, tmp_path, store, capsys):
    run_id = run_with_model(mlflow_client, tmp_path)
    assert main(["register", run_id[:8], "cnn", "--alias", "best", "--tracking-uri", store]) == 0
    out = capsys.readouterr().out
    assert f"registered run {run_id[:8]} as cnn version 1, alias best" in out
    assert "models:/cnn@best" in out


@pytest.mark.parametrize(
    ("with_model", "name", "message"),
    [
        (False, "cnn", "has no MLflow model"),
        (True, "a/b", "model name 'a/b'"),
    ],
)
def test_refusals_are_one_line_and_register_nothing(mlflow_client, tmp_path, with_model, name, message):
    run_id = run_with_model(mlflow_client, tmp_path, with_model)
    with pytest.raises(SweeplabError, match=message):
        register_run(mlflow_client, run_id, name)
    assert not mlflow_client.search_registered_models()


def test_refit_register_of_a_run_without_a_model_logs_the_refits_model(
    tiny_overrides, store, mlflow_client, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    run_id = trained([*tiny_overrides, "tracking.log_model=false"], tmp_path / "a", mlflow_client)
    before = run_ids(mlflow_client)
    assert main(["refit", run_id[:8], "--register", "no-model-refit", "--tracking-uri", store]) == 0
    refit = new_run(mlflow_client, before)
    assert mlflow_client.get_run(refit).data.params["tracking.log_model"] == "True"
    assert "registered run" in capsys.readouterr().out
    version = mlflow_client.get_model_version_by_alias("no-model-refit", "champion")
    assert version.run_id == refit


@pytest.mark.slow  # ~1.8 s: a trial, two refits, the registry
def test_a_refit_under_its_agreement_floor_is_recorded_but_moves_champion_only_when_forced(
    tiny_overrides, store, mlflow_client, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    trial = trained([*tiny_overrides, "trainer.epochs=1"], tmp_path / "a", mlflow_client)
    assert register_run(mlflow_client, trial, "guarded").version == "1"  # today's champion
    # The trial's submission with one label no model writes: no refit agrees with it on every row.
    rows = list(csv.reader((tmp_path / "a" / "submission_best.csv").open()))
    rows[1][1] = "not-a-class"
    (tmp_path / "t").mkdir()
    with (tmp_path / "t" / "submission_best.csv").open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    mlflow_client.log_artifact(trial, str(tmp_path / "t" / "submission_best.csv"), "submissions")
    args = ["refit", trial[:8], "--register", "guarded", "--min-agreement", "1", "--tracking-uri", store]
    before = run_ids(mlflow_client)
    assert main(args) == 0
    refit = new_run(mlflow_client, before)
    out = capsys.readouterr().out
    assert f"warning: refit {refit[:8]} agrees with its trial {trial[:8]} at " in out
    assert "alias champion not moved: refit/agreement " in out and "version 2, no alias moved" in out
    assert mlflow_client.get_model_version_by_alias("guarded", "champion").version == 1
    held = mlflow_client.get_model_version("guarded", "2")  # recorded all the same, with its agreement
    assert held.run_id == refit and float(held.tags["refit/agreement"]) < 1
    assert main([*args, "--force"]) == 0
    assert mlflow_client.get_model_version_by_alias("guarded", "champion").version == 3
    # A trial without its submission: no agreement, said in one line; the refit counts as before.
    artifacts = Path(urlparse(mlflow_client.get_run(trial).info.artifact_uri).path)
    (artifacts / "submissions" / "submission_best.csv").unlink()
    assert main(args) == 0
    out = capsys.readouterr().out
    assert (
        f"refit/agreement not logged: the trial run {trial[:8]} has no submissions/submission_best.csv" in out
    )
    assert mlflow_client.get_model_version_by_alias("guarded", "champion").version == 4
