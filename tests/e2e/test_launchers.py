"""Optuna studies launched through submitit (local executor), Ray (a local cluster) and RQ (a real
`rq worker` on the local Redis): batches of n_jobs, pruning from inside the job, runs under one parent.

Each engine's test is skipped, with the reason, only where the engine cannot start here.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from helpers.sweeps import command, load, run, scale_out_study, study_runs
from hydra_plugins.sweeplab_rq.config import SERIALIZER
from sweeplab.study.launchers import Where, placement, storage_warning

# 4 trials in batches of 2; the seeded random sampler draws lr 0.01, 1e-7, 1e-7, 1e-7: the first batch
# completes a trial that learns, so the median pruner stops the hopeless ones of the second batch.
PRUNING = [
    "hydra/sweeper/sampler=random",
    "hydra.sweeper.sampler.seed=11",
    "hydra/sweeper/pruner=median",
    "hydra.sweeper.pruner.n_startup_trials=1",
    "hydra.sweeper.n_trials=4",
    "hydra.sweeper.n_jobs=2",
    "trainer.epochs=3",
    "optimizer.lr=choice(0.01,0.0000001)",
]
# Two trials at once, one of which diverges (sgd at lr 1e30): it fails alone.
ONE_FAILS = [
    "hydra/sweeper/sampler=grid",
    "hydra.sweeper.n_trials=2",
    "hydra.sweeper.n_jobs=2",
    "hydra.sweeper.max_failure_rate=1.0",
    "optimizer=sgd",
    "optimizer.lr=choice(0.01,1e30)",
]
REDIS = "redis://127.0.0.1:6379/0"


def _cfg(launcher: dict):
    return OmegaConf.create({"hydra": {"launcher": launcher}})


SUBMITIT = "hydra_plugins.hydra_submitit_launcher.submitit_launcher."
RAY = "hydra_plugins.hydra_ray_launcher."
RQ = "hydra_plugins.sweeplab_rq.rq_launcher.RQLauncher"
JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"


@pytest.mark.parametrize(
    ("launcher", "where", "batch"),
    [
        ({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}, Where.IN_PROCESS, False),
        ({"_target_": JOBLIB}, Where.THIS_MACHINE, True),
        ({"_target_": SUBMITIT + "LocalLauncher"}, Where.THIS_MACHINE, True),
        ({"_target_": SUBMITIT + "SlurmLauncher"}, Where.OTHER_MACHINES, True),
        ({"_target_": RAY + "ray_launcher.RayLauncher", "ray": {"init": {"address": None}}},
         Where.THIS_MACHINE, True),
        ({"_target_": RAY + "ray_launcher.RayLauncher", "ray": {"init": {"address": "auto"}}},
         Where.OTHER_MACHINES, True),
        ({"_target_": RAY + "ray_aws_launcher.RayAWSLauncher"}, Where.OTHER_MACHINES, True),
        ({"_target_": RQ, "redis": {"host": "127.0.0.1"}}, Where.THIS_MACHINE, True),
        ({"_target_": RQ, "redis": {"host": "queue.lab"}}, Where.OTHER_MACHINES, True),
        ({"_target_": RQ, "redis": {"mock": True}}, Where.IN_PROCESS, True),
    ],
)  # fmt: skip
def test_where_each_launcher_runs_jobs(launcher, where, batch):
    found = placement(_cfg(launcher))
    assert (found.where, found.batch) == (where, batch)


SQLITE, MLRUNS = "sqlite:////work/mlruns/optuna.db", "sqlite:////work/mlruns/mlflow.db"
PG, SERVER = "postgresql://postgres:pw@db/optuna", "http://127.0.0.1:5000"


@pytest.mark.parametrize(
    ("launcher", "storage", "tracking", "expected"),
    [
        ("SlurmLauncher", SQLITE, MLRUNS,
         "hydra/launcher=submitit_slurm runs trials on other machines, which cannot reach the study's "
         "storage sqlite:////work/mlruns/optuna.db (set hydra.sweeper.storage="
         "postgresql://...) or the MLflow store sqlite:////work/mlruns/mlflow.db (set tracking.uri="
         "http://MLFLOWHOST:5000): use PostgreSQL and an MLflow server (docs/studies.md, Scaling out)"),
        ("SlurmLauncher", PG, "./mlruns", "cannot reach the MLflow store ./mlruns (set tracking.uri="),
        ("SlurmLauncher", PG, SERVER, None),
        ("LocalLauncher", SQLITE, MLRUNS, None),  # other processes on this machine share SQLite fine
    ],
)  # fmt: skip
def test_storage_warning_for_jobs_on_other_machines(launcher, storage, tracking, expected):
    line = storage_warning(placement(_cfg({"_target_": SUBMITIT + launcher})), storage, tracking)
    if expected is None:
        assert line is None
    else:
        assert expected in line and "pw" not in line


@pytest.mark.slow  # ~10 s: a train.py subprocess
def test_slurm_sweep_on_the_defaults_warns_at_its_start(tmp_path, tiny_overrides):
    pytest.importorskip("submitit", reason="pip install -e '.[slurm]' (hydra-submitit-launcher)")
    # No sbatch here: the sweep stops when it submits, after the warning.
    done = run(command(tiny_overrides, "hydra/launcher=submitit_slurm", "hydra.sweeper.n_trials=1"), tmp_path)
    assert "hydra/launcher=submitit_slurm runs trials on other machines" in done.stdout
    assert done.stdout.index("runs trials on other machines") < done.stdout.index("Study name:")


def _redis_or_skip():
    import redis

    connection = redis.Redis.from_url(REDIS, socket_connect_timeout=3)
    try:
        connection.ping()
    except redis.RedisError as e:
        pytest.skip(f"no Redis answers on 127.0.0.1:6379 ({e})")
    return connection


def _rq_launcher_cfg(queue: str, port: int = 6379):
    """hydra.launcher as the RQ plugin reads it: its structured config with Redis on this machine."""
    from hydra_plugins.sweeplab_rq.config import RedisConf, RQLauncherConf

    return OmegaConf.structured(RQLauncherConf(queue=queue, redis=RedisConf(host="127.0.0.1", port=port)))


def test_rq_says_in_one_line_when_no_worker_serves_its_queue():
    pytest.importorskip("rq", reason="pip install -e '.[rq]' (rq and redis)")
    from hydra_plugins.sweeplab_rq._core import workers_problem

    _redis_or_skip()
    queue = f"sweeplab-test-{uuid.uuid4().hex[:8]}"
    assert workers_problem(_rq_launcher_cfg(queue)) == (
        f"hydra/launcher=rq: no rq worker serves queue '{queue}' at {REDIS} yet; trials wait until one "
        f"starts: rq worker --url {REDIS} -S {SERIALIZER} {queue}"
    )


@pytest.mark.slow  # ~3 s: waits for a connection timeout
def test_rq_says_in_one_line_when_redis_does_not_answer():
    pytest.importorskip("rq", reason="pip install -e '.[rq]' (rq and redis)")
    from hydra_plugins.sweeplab_rq._core import workers_problem

    with socket.socket() as probe:  # a port nothing listens on once the probe closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    line = workers_problem(_rq_launcher_cfg("sweeplab", port))
    assert line.startswith(f"hydra/launcher=rq: Redis at redis://127.0.0.1:{port}/0 does not answer (")
    assert line.endswith("); the sweep waits for it") and "\n" not in line


@pytest.mark.slow
def test_an_rq_sweep_says_before_its_first_batch_that_no_worker_serves_the_queue(tmp_path, tiny_overrides):
    pytest.importorskip("rq", reason="pip install -e '.[rq]' (rq and redis)")
    from rq import Queue

    connection = _redis_or_skip()
    queue = f"sweeplab-test-{uuid.uuid4().hex[:8]}"
    # No worker, and the launcher stops once it has enqueued: the batch is lost, the sweep ends.
    args = ["hydra/launcher=rq", f"hydra.launcher.queue={queue}", "hydra.launcher.redis.host=127.0.0.1"]
    stop = ["hydra.launcher.stop_after_enqueue=true", "hydra.sweeper.n_trials=1"]
    try:
        done = run(command(tiny_overrides, *args, *stop), tmp_path)
    finally:
        Queue(queue, connection=connection).delete(delete_jobs=True)
    said = f"hydra/launcher=rq: no rq worker serves queue '{queue}' at {REDIS} yet"
    assert done.stdout.count(said) == 1, done.stdout
    assert done.stdout.index("Study name:") < done.stdout.index(said) < done.stdout.index("Enqueued")


# ---- the engines, for real ----


def _engine(name: str, tmp_path: Path) -> list[str]:
    """The launcher's overrides, or a skip saying why the engine cannot start here."""
    if name == "submitit_local":
        pytest.importorskip("submitit", reason="pip install -e '.[slurm]' (hydra-submitit-launcher)")
        return ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=20"]
    if name == "ray":
        pytest.importorskip("ray", reason="pip install -e '.[ray]' (hydra-ray-launcher)")
        return [
            "hydra/launcher=ray",
            "+hydra.launcher.ray.init.num_cpus=2",
            "+hydra.launcher.ray.init.include_dashboard=false",
            # Ray's socket paths must fit in 107 bytes: pytest's tmp_path is too deep.
            f"+hydra.launcher.ray.init._temp_dir={tempfile.mkdtemp(prefix='ray', dir='/tmp')}",
        ]
    pytest.importorskip("rq", reason="pip install -e '.[rq]' (rq and redis)")
    return ["hydra/launcher=rq"]


@pytest.fixture
def rq_worker(tmp_path):
    """A real `rq worker` on the local Redis, serving a queue of this test's own."""
    import redis
    from rq import Queue

    connection = redis.Redis.from_url(REDIS, socket_connect_timeout=3)
    try:
        connection.ping()
    except redis.RedisError as e:
        pytest.skip(f"no Redis answers on 127.0.0.1:6379 ({e})")
    queue = f"sweeplab-test-{uuid.uuid4().hex[:8]}"
    log = (tmp_path / "rq-worker.log").open("w")
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "rq"), "worker", "--url", REDIS, "-S", SERIALIZER, queue],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    yield [f"hydra.launcher.queue={queue}", "hydra.launcher.redis.host=127.0.0.1"]
    os.killpg(worker.pid, signal.SIGTERM)
    worker.wait(30)
    log.close()
    Queue(queue, connection=connection).delete(delete_jobs=True)


ENGINES = ["submitit_local", "ray", "rq"]


def _launch(engine, tmp_path, request) -> list[str]:
    args = _engine(engine, tmp_path)
    return [*args, *request.getfixturevalue("rq_worker")] if engine == "rq" else args


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_a_study_prunes_through_the_launcher_on_the_sqlite_defaults(
    engine, tmp_path, tiny_overrides, store, request
):
    done = run(command(tiny_overrides, *PRUNING, *_launch(engine, tmp_path, request)), tmp_path)
    assert done.returncode == 0, done.stdout
    assert "runs trials on other machines" not in done.stdout
    _check_study(load(tmp_path), store, done.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_a_study_prunes_through_the_launcher_on_postgres(engine, tmp_path, tiny_overrides, store, request):
    storage = request.getfixturevalue("new_database")()
    args = [
        *PRUNING,
        *_launch(engine, tmp_path, request),
        f"hydra.sweeper.storage={storage}",
        "name=scale_out",
    ]
    done = run(command(tiny_overrides, *args), tmp_path)
    assert done.returncode == 0, done.stdout
    _check_study(scale_out_study(storage), store, done.stdout, experiment="scale_out")


def _check_study(study, store, stdout, experiment="study_test"):
    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(study.trials) == 4 and len(finished) == 4, stdout
    pruned = study.get_trials(states=(TrialState.PRUNED,))
    assert pruned and all(t.params["optimizer.lr"] == 1e-7 for t in pruned)  # pruned inside the job
    (parent,), children = study_runs(store, experiment)
    assert len(children) == 4 and {c.data.tags["mlflow.parentRunId"] for c in children} == {
        parent.info.run_id
    }
    from mlflow.tracking import MlflowClient

    plots = {a.path for a in MlflowClient(store).list_artifacts(parent.info.run_id, "plots")}
    assert "plots/intermediate_values.png" in plots and "plots/optimization_history.png" in plots


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_one_failing_job_fails_alone(engine, tmp_path, tiny_overrides, store, request):
    done = run(command(tiny_overrides, *ONE_FAILS, *_launch(engine, tmp_path, request)), tmp_path)
    assert done.returncode == 0, done.stdout
    trials = {t.params["optimizer.lr"]: t for t in load(tmp_path).trials}
    assert trials[0.01].state == TrialState.COMPLETE
    assert trials[1e30].state == TrialState.FAIL
    assert "training loss became" in trials[1e30].user_attrs["sweeplab.reason"]  # the job's own error
    _, children = study_runs(store)
    assert sorted(c.info.status for c in children) == ["FAILED", "FINISHED"]
