"""Several workers on one study: PostgreSQL + a real `mlflow server`, and the local SQLite default.

Each worker is the command a user runs on each machine (`python train.py -m ...`), started as its own
process. The PostgreSQL tests need the server on 127.0.0.1:5432 and are skipped only when none answers.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from helpers import ROOT
from helpers.registry import run_with_model
from helpers.sweeps import SCALE_OUT, scale_out_study
from sweeplab.runs.registry import register_run

pytestmark = pytest.mark.slow
# One new database per test, but the tracking server is shared: one experiment per test.
STUDY = SCALE_OUT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(new_database, tmp_path_factory):
    """A real tracking server on a free loopback port, PostgreSQL behind it, artifacts it serves."""
    port = _free_port()
    folder = tmp_path_factory.mktemp("mlflow-server")
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            new_database(),
            "--artifacts-destination",
            str(folder / "artifacts"),
            "--workers",
            "2",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"mlflow server did not start:\n{(folder / 'server.log').read_text()[-3000:]}")
        time.sleep(0.5)
    yield url
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(30)
    log.close()


def _worker_command(tiny_overrides, index, tmp_path, *args) -> list[str]:
    own = [o for o in tiny_overrides if not o.startswith("tracking.uri=")]
    return [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        "hydra/sweeper=optuna",
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.direction=maximize",
        "hydra.sweeper.n_trials=9",
        "hydra.sweeper.heartbeat_interval=1",
        "hydra.sweeper.grace_period=3",
        f"hydra.sweep.dir={tmp_path / f'worker{index}'}",
        f"name={STUDY}",
        f"tracking.experiment={tmp_path.name}",
        *own,
        "optimizer.lr=tag(log,interval(0.001,0.05))",
        *args,
    ]


def _start_workers(count, tiny_overrides, tmp_path, *args) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            _worker_command(tiny_overrides, i, tmp_path, *args),
            cwd=tmp_path,
            stdout=(tmp_path / f"worker{i}.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so a kill takes the worker and only it
        )
        for i in range(count)
    ]


def _wait_all(workers, tmp_path, timeout=400) -> None:
    deadline = time.monotonic() + timeout
    for i, worker in enumerate(workers):
        worker.wait(max(1, deadline - time.monotonic()))
        if worker.returncode not in (0, -signal.SIGKILL):
            log = (tmp_path / f"worker{i}.log").read_text()
            pytest.fail(f"worker {i} exited {worker.returncode}:\n{log}")


def _kill_a_worker_mid_trial(workers, storage_url, experiment: str) -> int:
    """SIGKILL the worker of a trial that has reported an epoch but not finished; its trial number."""
    by_pid = {w.pid: w for w in workers}
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            trials = scale_out_study(storage_url, experiment).trials
        except KeyError:  # not created yet
            trials = []
        for t in trials:
            pid = int(t.user_attrs.get("sweeplab.worker", ":0").rsplit(":", 1)[1])
            if t.state == TrialState.RUNNING and t.intermediate_values and pid in by_pid and t.number >= 1:
                os.killpg(pid, signal.SIGKILL)
                by_pid[pid].wait()
                return t.number
        time.sleep(0.1)
    pytest.fail("no trial was seen running")


def _check_study(storage_url, tracking_uri, experiment: str, killed: int | None = None):
    study = scale_out_study(storage_url, experiment)
    counted = [t for t in study.trials if not t.user_attrs.get("sweeplab.surplus")]
    finished = [t for t in counted if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 9 and len({t.number for t in finished}) == 9
    failed = [t.number for t in counted if t.state == TrialState.FAIL]
    assert failed == ([killed] if killed is not None else [])
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    workers = {t.user_attrs["sweeplab.worker"] for t in counted}
    assert len(workers) >= 2, "the trials were not shared between workers"

    client = MlflowClient(tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("sweeplab.role") == "study"]
    children = [r for r in runs if r.data.tags.get("sweeplab.role") == "trial"]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    done = [c for c in children if c.info.status == "FINISHED"]
    assert sorted(int(c.data.tags["sweeplab.trial"]) for c in done) == sorted(t.number for t in finished)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["trials/complete"] + parent.data.metrics.get("trials/pruned", 0) == 9
    return study, children


def test_three_workers_share_one_study_on_postgres_and_a_tracking_server(
    tmp_path, tiny_overrides, new_database, mlflow_server
):
    storage = new_database()
    workers = _start_workers(
        3, tiny_overrides, tmp_path, f"hydra.sweeper.storage={storage}", f"tracking.uri={mlflow_server}"
    )
    _wait_all(workers, tmp_path)
    _, children = _check_study(storage, mlflow_server, tmp_path.name)
    assert len(children) == 9
    # Artifacts went through the server to its artifact store.
    client = MlflowClient(mlflow_server)
    assert "submissions/submission_best.csv" in {
        a.path for a in client.list_artifacts(children[0].info.run_id, "submissions")
    }


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_a_worker_killed_mid_trial_does_not_stall_the_others(backend, tmp_path, tiny_overrides, request):
    if backend == "postgres":
        storage = request.getfixturevalue("new_database")()
        tracking = request.getfixturevalue("mlflow_server")
        args, count = [f"hydra.sweeper.storage={storage}", f"tracking.uri={tracking}"], 3
    else:  # the defaults: mlruns/optuna.db and mlruns/mlflow.db in the working directory
        storage = f"sqlite:///{tmp_path / 'mlruns' / 'optuna.db'}"
        tracking, args, count = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}", [], 2
    workers = _start_workers(
        count, tiny_overrides, tmp_path, *args, "trainer.epochs=6", "hydra.sweeper.retry_stale_trials=1"
    )
    killed = _kill_a_worker_mid_trial(workers, storage, tmp_path.name)
    _wait_all(workers, tmp_path)
    study, children = _check_study(storage, tracking, tmp_path.name, killed)
    # A survivor retried the killed trial with its parameters.
    (retry,) = [t for t in study.trials if t.system_attrs.get("failed_trial") == killed]
    assert retry.state == TrialState.COMPLETE and retry.params == study.trials[killed].params
    (killed_run,) = [c for c in children if c.data.tags["sweeplab.trial"] == str(killed)]
    assert killed_run.info.status == "KILLED"  # closed by a surviving worker


def test_a_password_in_a_storage_url_is_never_recorded(tmp_path, tiny_overrides, store, new_database):
    """MLflow runs are shared: params, tags, config.yaml and sweeplab's log lines show `***` instead."""
    secret = "pw-" + uuid.uuid4().hex[:10]  # the local server trusts every password
    storage = new_database().replace("postgres@", f"postgres:{secret}@")
    done = subprocess.run(
        _worker_command(
            tiny_overrides, 0, tmp_path, f"hydra.sweeper.storage={storage}", f"tracking.uri={store}"
        )
        + ["hydra.sweeper.n_trials=1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    client = MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name(tmp_path.name).experiment_id])
    assert len(runs) == 2  # the study's parent run and its trial
    for run in runs:
        recorded = [*run.data.params.values(), *run.data.tags.values()]
        assert not [value for value in recorded if secret in value]
    (trial,) = [r for r in runs if r.data.tags["sweeplab.role"] == "trial"]
    assert trial.data.tags["sweeplab.study_storage"].startswith("postgresql://postgres:***@")
    config = client.download_artifacts(trial.info.run_id, "config.yaml", str(tmp_path))
    assert "postgres:***@" in Path(config).read_text() and secret not in Path(config).read_text()
    # The official plugin's "Storage:" line and sweeplab's "Study <experiment>-<signature> in <storage>" line.
    lines = done.stdout.splitlines()
    study_line = f"Study {tmp_path.name}-"  # named after the workers' experiment
    sweeplab_lines = [line for line in lines if study_line in line or "Storage: postgresql" in line]
    assert len(sweeplab_lines) >= 2
    assert sweeplab_lines and not [line for line in sweeplab_lines if secret in line]


def test_the_registry_works_on_a_tracking_server(mlflow_server, tmp_path):
    client = MlflowClient(mlflow_server)
    run_id = run_with_model(client, tmp_path)
    made = register_run(client, run_id, f"server-model-{tmp_path.name}")
    champion = client.get_model_version_by_alias(made.name, "champion")
    assert champion.run_id == run_id and champion.tags["val/score"] == "0.9"
