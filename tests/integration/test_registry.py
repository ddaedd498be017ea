"""The Model Registry: a run's model as a version with the alias moved to it, its scores as tags, and
the one-line refusals."""

import mlflow.pyfunc
import pytest

from sweeplab.cli import main
from sweeplab.errors import SweeplabError
from sweeplab.runs.registry import register_run


class Constant(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [0.5] * len(model_input)


def _run_with_model(client, tmp_path, with_model: bool = True, name: str = "r") -> str:
    """A run as sweeplab records one: scores per epoch, the best epoch's tag, an MLflow model in model/."""
    experiment = client.get_experiment_by_name("comp") or client.get_experiment(
        client.create_experiment("comp")
    )
    run = client.create_run(experiment.experiment_id, tags={"sweeplab.best_epoch": "1"})
    for step, (val, public) in enumerate(((0.9, 0.8), (0.7, 0.6)), 1):
        client.log_metric(run.info.run_id, "val/score", val, step=step)
        client.log_metric(run.info.run_id, "kaggle/public", public, step=step)
    if with_model:
        folder = tmp_path / f"model-{name}"
        mlflow.pyfunc.save_model(folder, python_model=Constant(), pip_requirements=["numpy"])
        client.log_artifacts(run.info.run_id, str(folder), "model")
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def test_a_version_gets_the_alias_and_the_best_epochs_scores(mlflow_client, tmp_path, store, monkeypatch):
    first = _run_with_model(mlflow_client, tmp_path, name="a")
    second = _run_with_model(mlflow_client, tmp_path, name="b")
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
    run_id = _run_with_model(mlflow_client, tmp_path)
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
    run_id = _run_with_model(mlflow_client, tmp_path, with_model)
    with pytest.raises(SweeplabError, match=message):
        register_run(mlflow_client, run_id, name)
    assert not mlflow_client.search_registered_models()
