"""The commands a user types, run as real subprocesses."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from helpers import CATS_DOGS, ROOT, compose_config, experiment_ids
from sweeplab.training.job import run

pytestmark = pytest.mark.slow
SWEEPLAB = [sys.executable, "-m", "sweeplab.cli"]


def train(args, cwd, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def runs_of(store, experiment=None):
    client = MlflowClient(store)
    if experiment is None:
        return client.search_runs(experiment_ids(client))
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id]) if exp else []


def test_default_job_uses_the_demo_and_the_local_store(tmp_path):
    env = {"MLFLOW_TRACKING_URI": ""}  # the default must not depend on the caller's environment
    done = train([f"data.cache_dir={tmp_path / 'cache'}", "trainer.epochs=1"], cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    # stderr is a pipe here: no progress bar redrawn into it, one line per stage and per epoch instead.
    assert "%|" not in done.stderr and "epoch 1/1: train/loss=" in done.stdout
    assert "labels from class folders in train/ (10 classes)" in done.stdout and "cache entry" in done.stdout
    store = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    (logged,) = runs_of(store)
    assert logged.info.status == "FINISHED" and logged.data.params["data/num_classes"] == "10"
    assert logged.info.artifact_uri.startswith((tmp_path / "mlruns" / "artifacts" / "demo").as_uri())
    submissions = list((tmp_path / "outputs").glob("*/*/submission_last.csv"))
    assert len(submissions) == 1 and len(submissions[0].read_text().splitlines()) == 540  # header + 539


def test_basic_sweep_gives_two_runs_in_one_experiment(tmp_path, tiny_overrides, store):
    done = train(["-m", "optimizer.lr=1e-4,1e-3", *tiny_overrides], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    runs = runs_of(store)
    assert sorted(r.data.params["optimizer.lr"] for r in runs) == ["0.0001", "0.001"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert {r.data.tags["sweeplab.overrides"].split()[0] for r in runs} == {
        "optimizer.lr=0.0001",
        "optimizer.lr=0.001",
    }


def test_user_error_prints_one_line_without_traceback(tmp_path):
    done = train(["data=kaggle", f"data.cache_dir={tmp_path}"], cwd=tmp_path)
    assert done.returncode == 2
    assert "error: data.root is not set: pass data.root=/path/to/competition" in done.stderr
    assert "Traceback" not in done.stderr
    assert not runs_of(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")


def test_bad_job_in_a_sweep_fails_alone(tmp_path, tiny_overrides, store):
    done = train(["-m", *tiny_overrides, "data.img_size=12,20"], cwd=tmp_path)  # last wins
    assert done.returncode != 0  # Hydra reports the failed job after running the batch
    assert "data.img_size=12 is too small" in done.stderr
    (logged,) = runs_of(store)  # the good job ran and was recorded; the bad one recorded nothing
    assert logged.info.status == "FINISHED" and logged.data.params["data.img_size"] == "20"


def test_ui_serves_the_project_store(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    missing = subprocess.run(
        [*SWEEPLAB, "ui", "--store", str(tmp_path / "none")], capture_output=True, text=True
    )
    assert missing.returncode == 2 and "no MLflow store at" in missing.stderr
    (tmp_path / "mlruns").mkdir()
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    experiment = client.create_experiment("demo")
    client.create_run(experiment)
    server = subprocess.Popen(
        [*SWEEPLAB, "ui", "--store", str(tmp_path / "mlruns"), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        server.stdout.readline()  # "MLflow UI on ... (Ctrl-C stops it); the runs of each experiment:"
        url = server.stdout.readline().split(": ", 1)[1].strip()
        # The runs table in model-training mode, with sweeplab's view of it (scores as columns).
        assert url == (
            f"http://127.0.0.1:{port}/#/experiments/{experiment}/runs"
            "?viewStateShareKey=sweeplab&workflowType=machine_learning"
        )
        assert "mlflow.sharedViewState.sweeplab" in client.get_experiment(experiment).tags
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    assert response.status == 200 and b"<html" in response.read(2000).lower()
                    break
            except OSError:
                assert server.poll() is None
                assert time.monotonic() < deadline, "mlflow ui did not answer within 90 s"
                time.sleep(1)
        assert len(_processes_of(server.pid)) <= 3  # one worker, no job runners (MLflow's default: 4 + 8)
        os.killpg(server.pid, signal.SIGINT)  # Ctrl-C, as a terminal sends it
        server.wait(timeout=10)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)


def _processes_of(session: int) -> list[str]:
    """The processes of a session (the UI and what it started)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:  # the session id (field 6 of /proc/PID/stat)
            found.append(stat.parent.name)
    return found


def interrupt_after(args: list[str], marker: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run train.py and press Ctrl-C (SIGINT to its process group, workers included) once `marker` shows."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen = []
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            os.killpg(process.pid, signal.SIGINT)
            break
    rest = process.stdout.read()
    process.wait(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, "".join(seen) + rest, rest)


def test_ctrl_c_in_a_single_run_is_one_line_and_keeps_the_best_submission(tmp_path, tiny_overrides, store):
    done = interrupt_after([*tiny_overrides, "trainer.epochs=200"], "epoch 2/200:", tmp_path)
    assert done.returncode == 130
    assert "Traceback" not in done.stderr and done.stderr.strip().count("\n") == 0, done.stderr
    (logged,) = runs_of(store)
    assert logged.info.status == "KILLED"
    path = done.stderr.strip().rsplit(": ", 1)[1]
    assert done.stderr.startswith(f"\ninterrupted: run {logged.info.run_id} stopped; best-so-far submission")
    assert Path(path).is_file() and len(Path(path).read_text().splitlines()) == 11  # header + 10 test ids
    assert int(logged.data.tags["sweeplab.best_epoch"]) >= 1


def test_ctrl_c_in_a_parallel_study_is_one_line_and_resumable(tmp_path, tiny_overrides, store):
    args = [
        "-m",
        *tiny_overrides,
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.study_name=calm",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2",
        "trainer.epochs=200",
        "optimizer.lr=choice(0.001,0.01)",
    ]
    done = interrupt_after(args, "epoch 2/200:", tmp_path)
    assert done.returncode == 130 and "Traceback" not in done.stderr, done.stderr
    # After Ctrl-C: the trial table (the sweep's usual summary), then one line.
    table, said = done.stderr.strip().rsplit("\n\n", 1)
    assert "Trials of study calm:" in table and "FAIL" in table
    assert said == "interrupted: study calm: finished trials are stored, the same command resumes it"
    (parent,) = [r for r in runs_of(store) if r.data.tags.get("sweeplab.role") == "study"]
    assert parent.info.status == "KILLED"  # stopped by the user, not failed
    study = optuna.load_study(study_name="calm", storage=f"sqlite:///{tmp_path / 'mlruns' / 'optuna.db'}")
    assert {t.user_attrs.get("sweeplab.reason") for t in study.trials} == {"interrupted (Ctrl-C)"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["trainer.epoch=3"], "error: trainer.epoch is not a key of trainer; did you mean trainer.epochs?"),
        (["+trainer.epoch=1"], "error: trainer.epoch is not a key of trainer; did you mean trainer.epochs?"),
        (["model=base_backbone"], "error: model=base_backbone is not an option; valid: resnet101, resnet18,"),
        (
            ["augmentation.normalize=datset"],
            "error: augmentation.normalize=datset is not valid; valid: none,",
        ),
    ],
)
def test_command_line_mistakes_are_one_line_with_exit_code_2(tmp_path, args, message):
    done = train(args, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith(message), done.stderr
    assert done.stderr.count("\n") == 1 and not (tmp_path / "mlruns").exists()


@pytest.mark.skipif(not CATS_DOGS.is_dir(), reason=f"real photographs not present at {CATS_DOGS}")
def test_real_photographs(tmp_path, store):
    overrides = [
        "data=kaggle",
        f"data.root={CATS_DOGS}",
        f"data.cache_dir={tmp_path / 'cache'}",
        "data.img_size=32",
        "model.channels=[8,16]",
        "model.fc=[32]",
        "trainer.epochs=1",
        "trainer.progress=false",
        f"tracking.uri={store}",
        "name=cats_dogs",
    ]
    run(compose_config(overrides), output_dir=tmp_path / "out")
    (logged,) = runs_of(store, "cats_dogs")
    assert int(logged.data.params["data/train_images"]) + int(logged.data.params["data/val_images"]) == 200
    lines = (tmp_path / "out" / "submission_best.csv").read_text().splitlines()
    sample = (CATS_DOGS / "sample_submission.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == [line.split(",")[0] for line in sample]


def test_help_lists_the_options_not_the_schemas():
    done = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "--help"], capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("python train.py [-m] [GROUP=OPTION ...] [KEY=VALUE ...]")
    assert "    seed_cnn_mini *       The lab's network cut to 3 blocks" in done.stdout
    assert "python train.py --cfg job" in done.stdout
    assert "base_" not in done.stdout and "schemas" not in done.stdout and "study.name" not in done.stdout
