"""Every slot busy, through `train.py -m` in subprocesses: the launching process SIGKILLed mid-study
(joblib, pool, submitit_local) resumes with the same command, and what its jobs finished after it died is
kept, not re-run; on the pool each trial records its slot, threads and devices."""

import os
import signal
import subprocess
import time

import pytest
from optuna.trial import TrialState

from helpers.sweeps import command, load, run, study_runs
from sweeplab.study.idle import slot_use
from sweeplab.study.slots import usable_cores

pytestmark = pytest.mark.slow

LAUNCHERS = {
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "pool": ["hydra/launcher=pool"],
    "submitit_local": ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"],
}
RUNNING = (TrialState.RUNNING,)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def settle(condition, seconds: float) -> None:
    """Wait until `condition` holds, or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.5)


def two_running(cwd) -> bool:
    try:
        trials = load(cwd).get_trials(states=RUNNING)
    except KeyError:
        return False
    return len([t for t in trials if t.intermediate_values]) == 2


# ~35-70 s each (submitit_local: each job a new Python)
@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_a_sweep_sigkilled_mid_study_resumes_and_keeps_what_its_jobs_finished(
    launcher, tmp_path, tiny_overrides, store
):
    cmd = command(
        tiny_overrides,
        *LAUNCHERS[launcher],
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=4",
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.heartbeat_interval=1",
        "hydra.sweeper.grace_period=3",
        "trainer.epochs=150",  # ~3 s a trial on a warm worker: long enough to be caught running
        "optimizer.lr=tag(log,interval(0.001,0.01))",
    )
    sweep = subprocess.Popen(
        cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_for(lambda: two_running(tmp_path), 180, "two trials training")
        running = [t.number for t in load(tmp_path).get_trials(states=RUNNING)]
        os.kill(sweep.pid, signal.SIGKILL)  # the launching process alone: its jobs run on, or die with it
        sweep.wait()
        # Each running trial ends: told by its job, or (its job died too) failed by the resume once its
        # heartbeat is stale.
        # (a trial still RUNNING after that: its job died with the sweep, its heartbeat long stale)
        settle(lambda: not load(tmp_path).get_trials(states=RUNNING), 60)
        done = run(cmd, tmp_path)
    finally:
        if _alive(sweep.pid):  # whatever the killed sweep left behind
            os.killpg(sweep.pid, signal.SIGKILL)
    assert done.returncode == 0, done.stdout
    study = load(tmp_path)
    assert study.study_name == "study_test-lr"  # the experiment and the key it sweeps, resumed by both
    assert len(study.get_trials(states=FINISHED)) == 4
    killed = {t.number: t.state for t in study.trials if t.number in running}
    parents, children = study_runs(store)
    assert len(parents) == 1 and not [c for c in children if c.info.status == "RUNNING"]
    runs = {int(c.data.tags["sweeplab.trial"]): c for c in children}
    if launcher in ("joblib", "pool"):
        # Their workers finished the two trials after the sweep died, and the jobs told the study.
        assert set(killed.values()) <= set(FINISHED), killed
        assert len(study.trials) == 4  # nothing thrown away and run again
    if launcher == "pool":  # each trial's slot, its share of the cores, its devices (none pinned here)
        tags = [c.data.tags for c in children]
        assert {t["sweeplab.slot"] for t in tags} == {"0", "1"}
        assert {t["sweeplab.threads"] for t in tags} == {str(max(1, usable_cores() // 2))}
        assert {t["sweeplab.visible_devices"] for t in tags} == {"all"}
        assert slot_use(children, 2).runs == 4  # the outside measure of bench/pool.py reads these runs
    for number, state in killed.items():
        run_ = runs[number]
        if state in FINISHED:
            assert run_.info.status == "FINISHED" and run_.data.tags["sweeplab.trial_state"] == state.name
        else:  # killed with its launcher: FAIL in Optuna, KILLED in MLflow
            assert state == TrialState.FAIL and run_.info.status == "KILLED"


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
        return True
    except ProcessLookupError:
        return False
