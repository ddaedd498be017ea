"""`sweeplab compare`'s columns: a study's swept keys first, its constants left out, refits and ensembles
named by their role; without --sweep, the params that differ between the runs listed."""

from mlflow.tracking import MlflowClient

from sweeplab.kaggle.report import compare
from sweeplab.study.search_space import parse_search_space

PARAMS = {"optimizer.lr": "tag(log, interval(1e-5, 1e-2))", "trainer.batch_size": "choice(16, 32)"}


def make_study(client: MlflowClient) -> str:
    """A multi-label study as a sweep records it: 3 trials, a refit of #1 and an ensemble of #1 and #2."""
    experiment = client.create_experiment("planet")
    study = {"sweeplab.study": "planet-lr-batch_size"}
    distributions, _ = parse_search_space(PARAMS, None, [])
    space = " ".join(f"{k}={v}" for k, v in distributions.items())  # as the study's parent run has it
    tags = {**study, "sweeplab.role": "study", "sweeplab.search_space": space}
    client.set_terminated(client.create_run(experiment, tags=tags).info.run_id)
    constants = {"data.val_fraction": "0.2", "data.thresholds": "None", "data.task": "multilabel"}
    ids = []
    for number, (lr, batch, score) in enumerate([(1e-3, 16, 0.5), (3e-4, 32, 0.7), (1e-4, 32, 0.6)]):
        ids.append(
            run(
                client,
                experiment,
                {
                    **study,
                    "sweeplab.role": "trial",
                    "sweeplab.trial": str(number),
                    "optuna.param.optimizer.lr": str(lr),
                    "optuna.param.trainer.batch_size": str(batch),
                },
                {**constants, "optimizer.lr": str(lr), "trainer.batch_size": str(batch)},
                score,
            )
        )
    refit = {**constants, "optimizer.lr": "0.0003", "trainer.batch_size": "32", "data.val_fraction": "0"}
    run(client, experiment, {**study, "sweeplab.role": "refit", "sweeplab.refit_of": ids[1]}, refit, None)
    members = {"sweeplab.role": "ensemble", "sweeplab.ensemble_of": f"{ids[1]},{ids[2]}"}
    run(client, experiment, {**study, **members}, {"data.metric": "f2"}, 0.75)
    return experiment


def run(client, experiment, tags, params, score) -> str:
    run_id = client.create_run(experiment, tags=tags).info.run_id
    for key, value in params.items():
        client.log_param(run_id, key, value)
    if score is not None:
        client.log_metric(run_id, "val/score", score, step=1)
    client.set_terminated(run_id)
    return run_id


def test_compare_sweep_shows_what_was_swept_and_names_refits_and_ensembles(store, tmp_path):
    client = MlflowClient(store)
    make_study(client)
    said = compare(client, "planet", "planet-lr-batch_size", None, tmp_path / "report")
    header, *lines = said.splitlines()
    assert header.split()[:4] == ["run", "lr", "batch_size", "best"]  # no params column: nothing else
    assert not any(word in said for word in ("val_fraction", "thresholds", "multilabel"))
    by_name = {" ".join(line.split()[1:4]): line for line in lines[:5]}
    assert by_name["#1 0.0003 32"].split()[4] == "0.7000" and "#0 0.001 16" in by_name
    (refit,) = [line for line in lines if " refit of #1 " in line]
    assert refit.split()[4:6] == ["0.0003", "32"]  # its own params, trained on every image
    assert any(" ensemble of 2 (#1 #2) " in line for line in lines)
    csv_header = (tmp_path / "report" / "compare.csv").read_text().splitlines()[0]
    assert csv_header.startswith("run_id,name,lr,batch_size,params,")


def test_compare_without_a_sweep_shows_what_differs_between_the_runs_listed(store, tmp_path):
    client = MlflowClient(store)
    make_study(client)
    top = compare(client, "planet", None, 2, tmp_path / "report")  # the ensemble and trial #1
    assert "batch_size" not in top and "val_fraction" not in top  # the same in those two, or absent
    every = compare(client, "planet", None, None, tmp_path / "report")
    assert "val_fraction=0.2" in every and "val_fraction=0 " in every  # the refit among them
