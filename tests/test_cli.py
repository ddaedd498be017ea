"""The commands a user types, run as real subprocesses."""

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from mlflow.tracking import MlflowClient

from conftest import CATS_DOGS, ROOT, compose_config
from sweeplab.job import run

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


def runs_of(store, experiment="demo"):
    client = MlflowClient(store)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id]) if exp else []


def test_default_job_uses_the_demo_and_the_local_store(tmp_path):
    env = {"MLFLOW_TRACKING_URI": ""}  # the default must not depend on the caller's environment
    done = train([f"data.cache_dir={tmp_path / 'cache'}", "trainer.epochs=1"], cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "epoch 1/1" in done.stderr  # the progress bar
    store = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    (logged,) = runs_of(store)
    assert logged.info.status == "FINISHED" and logged.data.metrics["data/num_classes"] == 10
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
    MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}").create_experiment("demo")
    server = subprocess.Popen(
        [*SWEEPLAB, "ui", "--store", str(tmp_path / "mlruns"), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()
                assert time.monotonic() < deadline, "mlflow ui did not answer within 90 s"
                time.sleep(1)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


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
    assert logged.data.metrics["data/train_images"] + logged.data.metrics["data/val_images"] == 200
    lines = (tmp_path / "out" / "submission_best.csv").read_text().splitlines()
    sample = (CATS_DOGS / "sample_submission.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == [line.split(",")[0] for line in sample]
