"""What a job left in an MLflow store: its one run, its artifact paths."""

from helpers import experiment_ids

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
