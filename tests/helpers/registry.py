"""A run as sweeplab records one, with a small real MLflow model: what the registry tests register."""

import mlflow.pyfunc


class Constant(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [0.5] * len(model_input)


def run_with_model(client, tmp_path, with_model: bool = True, name: str = "r") -> str:
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
