"""Study jobs run as a user runs them (`python train.py -m ...` in a subprocess), and what they left."""

import subprocess
import sys

import optuna
from mlflow.tracking import MlflowClient

from helpers import ROOT
from sweeplab.study.naming import resolve_study_name
from sweeplab.study.storage import open_storage

POSTGRES = "postgresql://postgres@127.0.0.1:5432"  # started by CI and the developers' machines
REDIS = "redis://127.0.0.1:6379/0"  # likewise
SCALE_OUT = "scale_out"  # test_scale_out's workers' job name


STUDY = [
    "hydra/sweeper=optuna",
    "hydra.sweeper.n_jobs=1",
    "name=study_test",
]


def command(tiny_overrides, *args):
    return [sys.executable, str(ROOT / "train.py"), "-m", *STUDY, *tiny_overrides, *args]


def run(cmd, cwd, timeout=600):
    return subprocess.run(
        cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
    )


def load(cwd, name="study_test"):
    """The study of job `name`: unnamed, it is called `<name>-<the keys it sweeps>`."""
    storage = f"sqlite:///{cwd / 'mlruns' / 'optuna.db'}"
    found = resolve_study_name(name, optuna.get_all_study_names(storage))
    if found is None:
        raise KeyError(f"no study of {name} yet")  # as optuna.load_study says it
    return optuna.load_study(study_name=found, storage=storage)


def study_runs(store, experiment="study_test"):
    """(parent runs, child runs) of the experiment."""
    client = MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    parents = [r for r in runs if r.data.tags.get("sweeplab.role") == "study"]
    children = [r for r in runs if r.data.tags.get("sweeplab.role") == "trial"]
    return parents, children


def scale_out_study(storage_url: str, experiment: str = SCALE_OUT) -> optuna.Study:
    """The workers' one study: unnamed, it is named after their MLflow experiment (`name=scale_out`, or
    tracking.experiment) and a signature of the search space."""
    # One storage (one connection pool) per URL, as sweeplab's processes keep it: a URL string would make
    # two new pools per call, and the polling tests below call this every few seconds.
    storage = open_storage(storage_url)
    name = resolve_study_name(experiment, optuna.get_all_study_names(storage))
    if name is None:
        raise KeyError(f"no study of {experiment} yet")  # as optuna.load_study says it
    return optuna.load_study(study_name=name, storage=storage)


def redis_or_skip():
    """A connection to the local Redis, or a skip saying that none answers."""
    import pytest
    import redis

    connection = redis.Redis.from_url(REDIS, socket_connect_timeout=3)
    try:
        connection.ping()
    except redis.RedisError as e:
        pytest.skip(f"no Redis answers on 127.0.0.1:6379 ({e})")
    return connection
