"""Optuna studies launched through submitit (local executor), Ray (a local cluster) and RQ (a real
`rq worker` on the local Redis): batches of n_jobs, pruning from inside the job, a failing job failing
alone, runs under one parent.

Each engine's test is skipped, with the reason, only where the engine cannot start here.
"""

import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from optuna.trial import TrialState

from helpers.sweeps import REDIS, command, load, redis_or_skip, run, scale_out_study, study_runs
from hydra_plugins.sweeplab_rq.config import SERIALIZER

# 4 trials in batches of 2; the seeded random sampler draws lr 1e30, 0.01, 1e-7, 1e-7: in the first batch
# one trial diverges (training loss NaN) and fails alone while the other learns and completes, so the
# median pruner stops the hopeless ones of the second batch from inside their jobs.
PRUNING_AND_ONE_FAILURE = [
    "hydra/sweeper/sampler=random",
    "hydra.sweeper.sampler.seed=2",
    "hydra/sweeper/pruner=median",
    "hydra.sweeper.pruner.n_startup_trials=1",
    "hydra.sweeper.n_trials=4",
    "hydra.sweeper.n_jobs=2",
    "hydra.sweeper.max_failure_rate=1.0",
    "trainer.epochs=3",
    "optimizer.lr=choice(0.01,0.0000001,1e30)",
]


@pytest.mark.slow  # ~10 s: a train.py subprocess
def test_slurm_sweep_on_the_defaults_warns_at_its_start(tmp_path, tiny_overrides):
    pytest.importorskip("submitit", reason="pip install -e '.[slurm]' (hydra-submitit-launcher)")
    # No sbatch here: the sweep stops when it submits, after the warning.
    done = run(command(tiny_overrides, "hydra/launcher=submitit_slurm", "hydra.sweeper.n_trials=1"), tmp_path)
    assert "hydra/launcher=submitit_slurm runs trials on other machines" in done.stdout
    assert done.stdout.index("runs trials on other machines") < done.stdout.index("Study name:")


@pytest.mark.slow
def test_an_rq_sweep_says_before_its_first_batch_that_no_worker_serves_the_queue(tmp_path, tiny_overrides):
    pytest.importorskip("rq", reason="pip install -e '.[rq]' (rq and redis)")
    from rq import Queue

    connection = redis_or_skip()
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
    from rq import Queue

    connection = redis_or_skip()
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
def test_a_study_prunes_and_fails_alone_through_the_launcher_on_the_sqlite_defaults(
    engine, tmp_path, tiny_overrides, store, request
):
    done = run(
        command(tiny_overrides, *PRUNING_AND_ONE_FAILURE, *_launch(engine, tmp_path, request)), tmp_path
    )
    assert done.returncode == 0, done.stdout
    assert "runs trials on other machines" not in done.stdout
    _check_study(load(tmp_path), store, done.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_a_study_prunes_and_fails_alone_through_the_launcher_on_postgres(
    engine, tmp_path, tiny_overrides, store, request
):
    storage = request.getfixturevalue("new_database")()
    args = [
        *PRUNING_AND_ONE_FAILURE,
        *_launch(engine, tmp_path, request),
        f"hydra.sweeper.storage={storage}",
        "name=scale_out",
    ]
    done = run(command(tiny_overrides, *args), tmp_path)
    assert done.returncode == 0, done.stdout
    _check_study(scale_out_study(storage), store, done.stdout, experiment="scale_out")


def _check_study(study, store, stdout, experiment="study_test"):
    """Every trial ended: the diverging one failed alone with the job's own error, the learning one
    completed, the hopeless ones were pruned inside their jobs; each has a run under the study's parent."""
    assert len(study.trials) == 4, stdout
    by_lr = {}
    for trial in study.trials:
        by_lr.setdefault(trial.params["optimizer.lr"], []).append(trial)
    assert [t.state for t in by_lr[0.01]] == [TrialState.COMPLETE], stdout
    (failed,) = by_lr[1e30]
    assert failed.state == TrialState.FAIL
    assert "training loss became" in failed.user_attrs["sweeplab.reason"]  # the job's own error
    hopeless = by_lr[1e-7]
    assert hopeless and all(t.state == TrialState.PRUNED for t in hopeless)  # pruned inside the job
    (parent,), children = study_runs(store, experiment)
    assert len(children) == 4 and {c.data.tags["mlflow.parentRunId"] for c in children} == {
        parent.info.run_id
    }
    statuses = {int(c.data.tags["sweeplab.trial"]): c.info.status for c in children}
    assert statuses.pop(failed.number) == "FAILED" and set(statuses.values()) == {"FINISHED"}
    from mlflow.tracking import MlflowClient

    plots = {a.path for a in MlflowClient(store).list_artifacts(parent.info.run_id, "plots")}
    assert "plots/intermediate_values.png" in plots and "plots/optimization_history.png" in plots
