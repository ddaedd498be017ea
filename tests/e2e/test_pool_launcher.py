"""hydra/launcher=pool's warm workers and the joblib adapter: real worker processes, real Hydra composition
of a tiny app (tests/helpers/pool_app.py), signals sent for real.

Starting a pool worker imports torch (~3 s on two busy cores), so the tests that leave the pool as they
found it share one pool of two workers; those that kill its parent or run Hydra's own sweeper start theirs.
"""

import itertools
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import wait
from pathlib import Path

import pytest
from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra.core.utils import JobStatus

from helpers import ROOT
from helpers.pool_app import pool_launcher, read_record
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
from hydra_plugins.sweeplab_pool._joblib_pool import JoblibPool
from hydra_plugins.sweeplab_pool.pool_launcher import PoolLauncher
from hydra_plugins.sweeplab_pool.pools import pooled
from sweeplab.compat import job_error
from sweeplab.study.slots import Slot

# Worker processes: the end-to-end tier's, out of the inner loop (the study loop's pool logic is tested in
# process by tests/integration/test_study_pool.py).
pytestmark = pytest.mark.slow

APP = ROOT / "tests" / "helpers" / "pool_app.py"
# Device ids no test machine has: the job only reads its environment, it never touches CUDA.
SLOTS = [Slot(index=0, visible_devices="3", threads=1), Slot(index=1, visible_devices="5", threads=1)]
START_S = 60  # a worker's start (torch imported) on a machine shared by several test runs
JOB_NUMBERS = itertools.count()  # the shared pool's jobs each get their own number, so their own folder


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """Two warm workers: ~3 s once for the module (each imports torch), then ~0.1 s a job."""
    with pool_launcher(tmp_path_factory.mktemp("pool")) as launcher:
        launcher.start(SLOTS)
        warm_up = [launcher.submit(["x=0"], next(JOB_NUMBERS), slot) for slot in SLOTS]
        wait(warm_up, timeout=START_S)
        yield launcher
        launcher.shutdown()


def sweep_dir(launcher) -> Path:
    return Path(str(launcher.config.hydra.sweep.dir))


def run(launcher, slot: Slot, *overrides: str) -> tuple[int, object]:
    """(job number, future) of one job of the app on the slot."""
    number = next(JOB_NUMBERS)
    return number, launcher.submit(list(overrides), number, slot)


def test_pooled_knows_the_pool_and_joblib_launchers():
    pool_launcher_ = PoolLauncher()
    assert pooled(pool_launcher_) is pool_launcher_
    assert isinstance(pooled(JoblibLauncher(n_jobs=2)), JoblibPool)
    assert pooled(BasicLauncher()) is None


def test_jobs_run_in_their_own_folders_on_reused_workers(pool):
    jobs = [run(pool, SLOTS[i % 2], f"x={i}") for i in range(4)]
    results = [future.result(timeout=START_S) for _, future in jobs]
    assert [r.status for r in results] == [JobStatus.COMPLETED] * 4
    assert [r.return_value for r in results] == [0, 1, 4, 9]
    records = [read_record(sweep_dir(pool), number) for number, _ in jobs]
    assert [r["job_num"] for r in records] == [number for number, _ in jobs]
    for number, _ in jobs:  # Hydra's own files of each job, in the job's folder
        assert "x:" in (sweep_dir(pool) / str(number) / ".hydra" / "config.yaml").read_text()
    pids = [r["pid"] for r in records]
    assert pids[0] == pids[2] and pids[1] == pids[3] and pids[0] != pids[1]  # one warm worker per slot


def test_each_slot_sees_its_devices_and_threads_the_sweep_keeps_its_own(pool):
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    jobs = [run(pool, slot, "x=1") for slot in SLOTS]
    wait([future for _, future in jobs], timeout=START_S)
    records = [read_record(sweep_dir(pool), number) for number, _ in jobs]
    assert [(r["visible_devices"], r["threads"]) for r in records] == [("3", 1), ("5", 1)]
    assert os.environ.get("CUDA_VISIBLE_DEVICES") == before


def test_a_failing_job_fails_alone_with_its_traceback(pool):
    _, failing = run(pool, SLOTS[0], "x=7", "fail=true")
    result = failing.result(timeout=START_S)
    assert result.status == JobStatus.FAILED
    error = job_error(result)
    assert isinstance(error, ValueError) and str(error) == "x=7 fails on purpose"
    # By name: Hydra's plugin discovery re-executes hydra_plugins modules, so the class object varies
    assert type(error.__cause__).__name__ == "RemoteTraceback" and "pool_app.py" in str(error.__cause__)
    _, after = run(pool, SLOTS[0], "x=2")
    assert after.result(timeout=START_S).return_value == 4


def test_ctrl_c_fails_the_running_jobs_and_keeps_the_workers(pool):
    jobs = [run(pool, slot, "x=1", "sleep=30") for slot in SLOTS]
    pids = [read_record(sweep_dir(pool), number, timeout=START_S)["pid"] for number, _ in jobs]
    pool.interrupt()
    results = [future.result(timeout=1) for _, future in jobs]
    # Stopped by SIGINT, not by the terminate after interrupt_grace_s: the message says so, and the
    # workers (their pids below) are the same.
    for (number, _), result in zip(jobs, results, strict=True):
        assert str(job_error(result)) == f"interrupted (Ctrl-C) while running job {number}"
    after = [run(pool, slot, "x=2") for slot in SLOTS]
    wait([future for _, future in after], timeout=START_S)
    assert [read_record(sweep_dir(pool), number)["pid"] for number, _ in after] == pids


# ~4 s: the terminated worker's replacement imports torch
def test_ctrl_c_terminates_a_job_that_ignores_it(pool, monkeypatch):
    monkeypatch.setattr(pool, "interrupt_grace_s", 0.5)
    number, future = run(pool, SLOTS[0], "sleep=30", "ignore_ctrl_c=true")
    pid = read_record(sweep_dir(pool), number, timeout=START_S)["pid"]
    pool.interrupt()
    assert str(job_error(future.result(timeout=1))) == (
        "interrupted (Ctrl-C): the worker of slot 0 did not stop within 0.5 s and was terminated"
    )
    number, future = run(pool, SLOTS[0], "x=2")  # a new worker for the slot
    assert future.result(timeout=START_S).return_value == 4
    assert read_record(sweep_dir(pool), number)["pid"] != pid


# ~5 s: the killed worker's replacement imports torch
def test_a_killed_worker_fails_its_own_job_and_is_replaced(pool):
    doomed, killed = run(pool, SLOTS[0], "x=1", "sleep=30")
    other, survives = run(pool, SLOTS[1], "sleep=2")
    pid = read_record(sweep_dir(pool), doomed, timeout=START_S)["pid"]
    os.kill(pid, signal.SIGKILL)
    result = killed.result(timeout=10)
    assert result.status == JobStatus.FAILED
    assert str(job_error(result)) == (
        f"worker process of slot 0 died (signal 9 SIGKILL) while running job {doomed}; "
        "its trial is failed and the worker replaced"
    )
    assert survives.result(timeout=START_S).status == JobStatus.COMPLETED
    number, future = run(pool, SLOTS[0], "x=3")
    assert future.result(timeout=START_S).return_value == 9
    replaced_by = read_record(sweep_dir(pool), number)["pid"]
    assert replaced_by not in (pid, read_record(sweep_dir(pool), other)["pid"])


# ~6 s: Hydra's BasicSweeper in a subprocess, two workers importing torch
def test_hydra_basic_sweeper_runs_on_the_pool(tmp_path):
    cmd = [sys.executable, str(APP), "-m", "hydra/launcher=pool", "x=1,2,3", f"hydra.sweep.dir={tmp_path}"]
    done = subprocess.run(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert done.returncode == 0, done.stdout
    assert f"Launching jobs, sweep output dir : {tmp_path}" in done.stdout
    assert "#2 : x=3" in done.stdout
    records = [read_record(tmp_path, n) for n in range(3)]
    assert [r["x"] for r in records] == [1, 2, 3]
    assert len({r["pid"] for r in records}) == 2  # hydra.launcher.n_jobs unset: two workers
    assert all((tmp_path / str(n) / "ended").exists() for n in range(3))


# ~8 s: a sweep subprocess, its workers, and their 3 s jobs
def test_a_worker_finishes_its_job_and_exits_when_the_sweep_dies(tmp_path):
    cmd = [sys.executable, str(APP), "-m", "hydra/launcher=pool", "x=1,2,3,4", "sleep=3"]
    sweep = subprocess.Popen([*cmd, f"hydra.sweep.dir={tmp_path}"], cwd=tmp_path, stderr=subprocess.DEVNULL)
    try:
        pids = [read_record(tmp_path, n, timeout=START_S)["pid"] for n in range(2)]
    finally:
        sweep.kill()  # SIGKILL: the sweep tells its workers nothing
    sweep.wait()
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in pids)
    assert all((tmp_path / str(n) / "ended").exists() for n in range(2))  # the running jobs finished
    assert not (tmp_path / "2").exists() and not (tmp_path / "3").exists()  # and no other started


# ~6 s: two loky executors started, one broken on purpose
def test_joblib_pool_gives_futures_and_survives_a_killed_worker(tmp_path):
    with pool_launcher(tmp_path, "joblib", ("hydra.launcher.n_jobs=2",)) as launcher:
        pool = pooled(launcher)
        pool.start(SLOTS)
        futures = [pool.submit(["x=1", "sleep=30"], n, SLOTS[n]) for n in range(2)]
        os.kill(read_record(tmp_path, 0, timeout=START_S)["pid"], signal.SIGKILL)
        results = [future.result(timeout=20) for future in futures]  # both: loky's executor broke
        assert [r.status for r in results] == [JobStatus.FAILED] * 2
        assert all(str(job_error(r)).startswith("worker process died: ") for r in results)
        after = pool.submit(["x=3"], 2, SLOTS[0])  # on a fresh executor
        assert after.result(timeout=START_S).return_value == 9
        pool.shutdown()


def _alive(pid: int) -> bool:
    """Running, not a zombie (a container's pid 1 may not reap the orphans it inherits)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False
