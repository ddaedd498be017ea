"""Optuna studies of real training jobs: pruning, MLflow study runs, kills, failures, parallel trials."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from helpers.sweeps import command, load, run, study_runs

pytestmark = pytest.mark.slow
# Random choice between a learning rate that learns and one that cannot: the median pruner stops the latter.
PRUNING = [
    "hydra/sweeper/sampler=random",
    "hydra.sweeper.sampler.seed=4",
    "hydra/sweeper/pruner=median",
    "hydra.sweeper.pruner.n_startup_trials=1",
    "hydra.sweeper.n_trials=6",
    "trainer.epochs=3",
    "optimizer.lr=choice(0.01,0.0000001)",
]


def test_median_pruner_prunes_bad_trials_and_mlflow_mirrors_the_study(tmp_path, tiny_overrides, store):
    done = run(
        command(tiny_overrides, *PRUNING),
        tmp_path,
    )
    assert done.returncode == 0, done.stdout
    study = load(tmp_path)
    states = [t.state for t in study.trials]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 6
    pruned = study.get_trials(states=(TrialState.PRUNED,))
    assert pruned and all(t.params["optimizer.lr"] == 1e-7 for t in pruned)
    assert all(len(t.intermediate_values) < 3 for t in pruned)  # stopped before the last epoch

    (parent,), children = study_runs(store)
    assert parent.info.status == "FINISHED" and parent.data.metrics["trials/pruned"] == len(pruned)
    assert parent.data.metrics["best_value"] == study.best_value
    assert len(children) == 6 and {c.data.tags["mlflow.parentRunId"] for c in children} == {
        parent.info.run_id
    }
    by_trial = {int(c.data.tags["sweeplab.trial"]): c for c in children}
    for trial in study.trials:
        child = by_trial[trial.number]
        assert child.data.tags["sweeplab.trial_state"] == trial.state.name
        assert child.data.params["optimizer.lr"] == str(trial.params["optimizer.lr"])
        assert child.info.status == "FINISHED"
        if trial.state == TrialState.PRUNED:
            assert child.data.tags["sweeplab.pruned"] == "true"
            assert int(child.data.tags["sweeplab.pruned_epoch"]) == max(trial.intermediate_values)
    client = MlflowClient(store)
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert "trials.csv" in artifacts
    assert {
        "plots/optimization_history.png",
        "plots/intermediate_values.png",
        "plots/parallel_coordinate.png",
        "plots/param_importances.png",
    } <= plots
    assert "Trials of study study_test-lr:" in done.stdout  # the experiment and the key it sweeps

    # Resumed: the same parent run is reused and nothing runs again.
    again = run(
        command(tiny_overrides, *PRUNING),
        tmp_path,
    )
    assert again.returncode == 0 and "6 of 6 trials finished" in again.stdout
    parents, children = study_runs(store)
    assert [p.info.run_id for p in parents] == [parent.info.run_id] and len(children) == 6

    # Comparing the sweep: every trial with its local Kaggle scores; the report goes to the parent run.
    compared = subprocess.run(
        [
            sys.executable,
            "-m",
            "sweeplab.cli",
            "compare",
            "study_test",
            "--sweep",
            "study_test",
            "--tracking-uri",
            store,
            "--out",
            str(tmp_path / "report"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert compared.returncode == 0, compared.stderr
    header, *lines = compared.stdout.splitlines()
    assert header.split()[:2] == ["run", "lr"]  # the swept key is the first column
    assert sum(bool(re.match(r"[0-9a-f]{8} #\d", line)) for line in lines) == 6
    assert parent.info.run_id in compared.stdout
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "comparison")} == {
        "comparison/compare.html",
        "comparison/compare.csv",
    }


def test_sigkill_mid_trial_loses_nothing_finished(tmp_path, tiny_overrides, store):
    cmd = command(
        tiny_overrides,
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.heartbeat_interval=1",
        "hydra.sweeper.grace_period=3",
        "trainer.epochs=40",
        "optimizer.lr=tag(log,interval(0.001,0.01))",
    )
    sweep = subprocess.Popen(
        cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 240
    while True:  # kill it while trial 1 runs, after trial 0 finished
        time.sleep(0.2)
        assert time.monotonic() < deadline and sweep.poll() is None
        try:
            trials = load(tmp_path).trials
        except KeyError:
            continue
        if any(t.state == TrialState.COMPLETE for t in trials) and any(
            t.state == TrialState.RUNNING and t.intermediate_values for t in trials
        ):
            break
    os.killpg(sweep.pid, signal.SIGKILL)
    sweep.wait()
    killed = [t.number for t in load(tmp_path).trials if t.state == TrialState.RUNNING]
    time.sleep(4)  # past the grace period: the killed trial's heartbeat is stale

    done = run(cmd, tmp_path)
    assert done.returncode == 0, done.stdout
    study = load(tmp_path)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 4
    assert [t.state for t in study.trials if t.number in killed] == [TrialState.FAIL]
    parents, children = study_runs(store)
    assert len(parents) == 1
    assert not [c for c in children if c.info.status == "RUNNING"]  # no orphan left running
    complete_runs = [c for c in children if c.data.tags.get("sweeplab.trial_state") == "COMPLETE"]
    assert sorted(int(c.data.tags["sweeplab.trial"]) for c in complete_runs) == sorted(
        t.number for t in study.get_trials(states=(TrialState.COMPLETE,))
    )
    (killed_run,) = [c for c in children if int(c.data.tags["sweeplab.trial"]) in killed]
    assert killed_run.info.status == "KILLED"


def test_injected_failures_fail_alone_and_oom_can_retry(
    tmp_path, tiny_overrides, store, simulate_oom_in_jobs
):
    # batch 16 "runs out of memory" (simulate_oom_in_jobs), lr 1e30 makes the loss inf.
    done = run(
        command(
            tiny_overrides,
            "hydra/sweeper/sampler=grid",
            "hydra.sweeper.n_trials=4",
            "hydra.sweeper.max_failure_rate=1.0",
            *simulate_oom_in_jobs(8),
            "optimizer=sgd",
            "trainer.batch_size=choice(4,16)",
            "optimizer.lr=choice(0.01,1e30)",
        ),
        tmp_path,
    )
    assert done.returncode == 0, done.stdout
    trials = {(t.params["trainer.batch_size"], t.params["optimizer.lr"]): t for t in load(tmp_path).trials}
    assert trials[(4, 0.01)].state == TrialState.COMPLETE
    assert trials[(16, 0.01)].state == TrialState.FAIL
    assert "OutOfMemoryError" in trials[(16, 0.01)].user_attrs["sweeplab.reason"]
    assert trials[(4, 1e30)].state == TrialState.FAIL
    assert "training loss became" in trials[(4, 1e30)].user_attrs["sweeplab.reason"]
    _, children = study_runs(store)
    failed = [c for c in children if c.info.status == "FAILED"]
    assert len(failed) == 3 and all("sweeplab.error" in c.data.tags for c in failed)

    retried = run(
        command(
            tiny_overrides,
            "hydra.sweeper.n_trials=1",
            "name=oom_retry",
            "trainer.oom_retry=true",
            *simulate_oom_in_jobs(8),
            "trainer.batch_size=choice(16)",
            "hydra.sweeper.diverged_as=pruned",
        ),
        tmp_path,
    )
    assert retried.returncode == 0, retried.stdout
    (trial,) = load(tmp_path, "oom_retry").trials
    assert trial.state == TrialState.COMPLETE
    (_, (child,)) = study_runs(store, "oom_retry")
    # The batch the trial sampled is the batch it trained with, in micro-batches that fit.
    assert child.data.tags["sweeplab.micro_batch"] == "8" and child.data.params["trainer.batch_size"] == "16"


def test_nan_loss_can_be_recorded_as_pruned(tmp_path, tiny_overrides):
    done = run(
        command(
            tiny_overrides,
            "hydra.sweeper.n_trials=1",
            "hydra.sweeper.diverged_as=pruned",
            "optimizer=sgd",
            "optimizer.lr=choice(1e30)",
        ),
        tmp_path,
    )
    assert done.returncode == 0, done.stdout
    (trial,) = load(tmp_path).trials
    assert trial.state == TrialState.PRUNED and "training loss became" in trial.user_attrs["sweeplab.reason"]


def test_multi_objective_study_of_jobs(tmp_path, tiny_overrides):
    done = run(
        command(
            tiny_overrides,
            "hydra.sweeper.n_trials=2",
            "hydra/sweeper/sampler=nsgaii",
            "hydra.sweeper.direction=[maximize,minimize]",
            "objective.metric=[val/acc,val/loss]",
            "objective.mode=[max,min]",
            "optimizer.lr=choice(0.01,0.001)",
        ),
        tmp_path,
    )
    assert done.returncode == 0, done.stdout
    trials = load(tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2 and all(len(t.values) == 2 for t in trials)


def test_direction_count_must_match_the_objectives(tmp_path, tiny_overrides):
    done = run(command(tiny_overrides, "hydra.sweeper.direction=[maximize,minimize]"), tmp_path)
    assert done.returncode != 0
    assert "hydra.sweeper.direction has 2 entries but objective.metric names 1" in done.stdout
    assert "Launching" not in done.stdout


def test_joblib_launcher_runs_parallel_trials_that_report_and_prune(tmp_path, tiny_overrides, store):
    done = run(
        command(
            tiny_overrides,
            *PRUNING,
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            "hydra.sweeper.n_jobs=2",
        ),
        tmp_path,
    )
    assert done.returncode == 0, done.stdout
    study = load(tmp_path)
    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(finished) == 6 and all(t.intermediate_values for t in finished)
    assert study.get_trials(states=(TrialState.PRUNED,))  # the pruner's decisions reached the workers
    (parent,), children = study_runs(store)
    assert len(children) == 6 and {c.info.status for c in children} == {"FINISHED"}
    # Two worker processes ran the trials (each job records its pid through the launcher's output folder).
    assert "Joblib (loky) pool of 2 workers" in done.stdout  # trials as a pool, not batches
