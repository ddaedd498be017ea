"""What a job left in an MLflow store: its one run, the run it just made, its artifact paths."""

from pathlib import Path

from helpers import compose_config, experiment_ids

# What makes a run's model/ folder an MLflow model (beside the weights files and model/code/sweeplab/).
MLFLOW_MODEL_FILES = {
    f"model/{name}"
    for name in (
        "MLmodel",
        "conda.yaml",
        "python_env.yaml",
        "requirements.txt",
        "input_example.json",
        "serving_input_example.json",
        "data/sweeplab_model.json",
    )
}


def only_run(client, experiment=None):
    ids = [client.get_experiment_by_name(experiment).experiment_id] if experiment else experiment_ids(client)
    runs = client.search_runs(ids)
    assert len(runs) == 1
    return runs[0]


def artifact_paths(client, run_id, path=None) -> set[str]:
    found = set()
    for item in client.list_artifacts(run_id, path):
        found |= artifact_paths(client, run_id, item.path) if item.is_dir else {item.path}
    return found


def run_ids(client) -> set[str]:
    experiments = [e.experiment_id for e in client.search_experiments()]
    return {r.info.run_id for r in client.search_runs(experiments)} if experiments else set()


def new_run(client, before: set[str]) -> str:
    """The one run the store holds that is not in `before`."""
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    (made,) = [r.info.run_id for r in runs if r.info.run_id not in before]
    return made


def trained(overrides: list[str], out: Path, client) -> str:
    """One run of the job (composed from `overrides`, its outputs in `out`); its id."""
    from sweeplab.training.job import run

    before = run_ids(client)
    run(compose_config(overrides), output_dir=out)
    return new_run(client, before)
