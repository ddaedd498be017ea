"""The sweeper plugin on the official plugin's documented configs, run as real `-m` subprocesses."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from helpers import SWEEPER_APPS as APPS
from sweeplab.study.results import four_digits
from sweeplab.study.storage import Heartbeat, open_storage

# Each test runs real `-m` sweeps in subprocesses (~20 s each on two cores): not the inner loop.
pytestmark = pytest.mark.slow


def sweep(app: str, *args: str, cwd: Path, config_name: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, str(APPS / f"{app}.py"), "-m", *args]
    if config_name:
        command.append(f"--config-name={config_name}")
    # custom_search_space is imported by its dotpath; the caller's PYTHONPATH (a worktree's src) stays first.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(APPS)])),
    }
    # One stream: Hydra logs to stdout, errors go to stderr.
    return subprocess.run(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, env=env
    )


def study_in(cwd: Path, name: str) -> optuna.Study:
    """The default storage: an SQLite file in ./mlruns/ of the directory the sweep ran in."""
    return optuna.load_study(study_name=name, storage=f"sqlite:///{cwd / 'mlruns' / 'optuna.db'}")


def test_sphere_example_runs_unchanged(tmp_path):
    done = sweep("sphere", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    study = study_in(tmp_path, "sphere")
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 20
    assert {t.params["y"] for t in trials} <= {-5, 0, 5}
    assert all(-5.5 <= t.params["x"] <= 5.0 and (t.params["x"] * 2).is_integer() for t in trials)
    assert all(t.value == t.params["x"] ** 2 + t.params["y"] ** 2 for t in trials)
    assert "Trials of study sphere" in done.stdout


def test_a_sweep_of_an_app_without_tracking_never_imports_mlflow(tmp_path, monkeypatch):
    """MLflow takes ~1 s to import: the sphere (no `tracking` in its config) sweeps without it."""
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")  # python -X importtime: one line per import
    done = sweep("sphere", "hydra.sweeper.n_trials=2", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    lines = [line for line in done.stdout.splitlines() if line.startswith("import time:")]
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in lines}
    assert "optuna" in imported and "mlflow" not in imported


def test_multi_objective_example(tmp_path):
    done = sweep("multi_objective", "hydra.sweeper.n_trials=10", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    study = study_in(tmp_path, "multi-objective")
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 10 and all(len(t.values) == 2 for t in complete)
    assert study.best_trials  # a Pareto front exists


def test_custom_search_space_example(tmp_path):
    done = sweep("custom_search_space", "hydra.sweeper.n_trials=6", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    trials = study_in(tmp_path, "custom-search-space").get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 6
    for t in trials:
        assert abs(t.params["z"] - t.params["x"]) <= 0.5 and 0 <= t.params["+w"] <= 1
        assert t.value == pytest.approx(
            t.params["+w"] ** 2 + t.params["x"] ** 2 + t.params["y"] ** 2 + t.params["z"] ** 2
        )


def test_legacy_search_space_mapping(tmp_path):
    done = sweep("sphere", cwd=tmp_path, config_name="legacy_search_space")
    assert done.returncode == 0, done.stdout
    trials = study_in(tmp_path, "legacy").get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 8 and {t.params["y"] for t in trials} <= {-5, 0, 5}


def test_range_excludes_its_end_for_tpe(tmp_path):
    done = sweep(
        "sphere", "hydra.sweeper.n_trials=15", "hydra.sweeper.params={x: 'range(0,2)', y: '0'}", cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout
    values = {t.params["x"] for t in study_in(tmp_path, "sphere").trials}
    assert values == {0, 1}  # the official plugin also samples 2 here


def test_resumed_study_runs_only_what_is_missing_and_does_not_repeat_itself(tmp_path):
    args = ["hydra/sweeper/sampler=random", "hydra.sweeper.params.x='interval(-5, 5)'", "y=0"]
    assert sweep("sphere", *args, "hydra.sweeper.n_trials=5", cwd=tmp_path).returncode == 0
    first = [t.params["x"] for t in study_in(tmp_path, "sphere").trials]
    again = sweep("sphere", *args, "hydra.sweeper.n_trials=5", cwd=tmp_path)
    assert again.returncode == 0 and "5 of 5 trials finished" in again.stdout
    assert len(study_in(tmp_path, "sphere").trials) == 5  # nothing ran
    assert sweep("sphere", *args, "hydra.sweeper.n_trials=10", cwd=tmp_path).returncode == 0
    trials = study_in(tmp_path, "sphere").trials
    assert len(trials) == 10 and [t.params["x"] for t in trials[:5]] == first
    assert not set(t.params["x"] for t in trials[5:]) & set(first)  # the seed continued, not restarted


@pytest.mark.parametrize(("result", "reason"), [("nan", "is not finite"), ("pair", "objective has 2 values")])
def test_bad_objective_is_a_failed_trial_not_a_crash(tmp_path, result, reason):
    done = sweep(
        "sphere",
        f"result={result}",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.max_failure_rate=1.0",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout  # 1.0: every trial may fail, n_trials attempts in all
    trials = study_in(tmp_path, "sphere").trials
    assert len(trials) == 3 and all(t.state == TrialState.FAIL for t in trials)
    assert reason in trials[0].user_attrs["sweeplab.reason"]
    assert "3 trials of this sweep failed (hydra.sweeper.max_failure_rate=1.0)" in done.stdout


def test_failures_within_the_rate_let_the_sweep_finish(tmp_path):
    done = sweep(
        "sphere",
        "fail_above=2",
        "hydra.sweeper.n_trials=10",
        "hydra.sweeper.max_failure_rate=0.9",
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=1",
        cwd=tmp_path,
    )
    trials = study_in(tmp_path, "sphere").trials
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert done.returncode == 0, done.stdout
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == 10
    assert failed and all(t.params["x"] > 2 for t in failed)
    assert "ValueError: x=" in failed[0].user_attrs["sweeplab.reason"]


def test_max_failure_rate_stops_the_sweep_with_a_summary(tmp_path):
    done = sweep(
        "sphere",
        "error=true",
        "hydra.sweeper.n_trials=10",
        "hydra.sweeper.max_failure_rate=0.2",
        cwd=tmp_path,
    )
    assert done.returncode != 0
    assert "3 trials failed, more than hydra.sweeper.max_failure_rate=0.2 of n_trials=10" in done.stdout
    assert "RuntimeError: cfg.error is True" in done.stdout
    assert "Trials of study sphere" in done.stdout  # the summary table is printed anyway
    assert len(study_in(tmp_path, "sphere").trials) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["hydra/sweeper/sampler=annealing"], "Could not find 'hydra/sweeper/sampler/annealing'"),
        (["hydra/sweeper/pruner=early"], "Could not find 'hydra/sweeper/pruner/early'"),
        (["hydra.sweeper.params.x='interval(1)'"], "hydra.sweeper.params cannot be parsed"),
        (["hydra.sweeper.direction=up"], "hydra.sweeper.direction=up is invalid"),
        (["hydra.sweeper.storage=sqlite:////nonexistent/dir/optuna.db"], "cannot be opened"),
        (["hydra.sweeper.storage=nosuchdb://x"], "hydra.sweeper.storage='nosuchdb://x' cannot be opened"),
        (
            ["hydra.sweeper.storage=postgresql+pg8000://u@127.0.0.1/db"],
            "needs the database driver pg8000: pip install 'sweeplab[postgres]'",
        ),
    ],
)
def test_bad_sweeper_config_fails_before_any_trial(tmp_path, args, message):
    done = sweep("sphere", *args, cwd=tmp_path)
    assert done.returncode != 0
    assert message in done.stdout
    assert "Launching" not in done.stdout


def test_a_study_is_never_resumed_with_another_search_space_or_direction(tmp_path):
    assert sweep("sphere", "hydra.sweeper.n_trials=2", cwd=tmp_path).returncode == 0
    other_space = sweep(
        "sphere", "hydra.sweeper.n_trials=4", "hydra.sweeper.params.y='choice(1,2)'", cwd=tmp_path
    )
    assert other_space.returncode != 0 and "was created with another search space" in other_space.stdout
    other_direction = sweep(
        "sphere", "hydra.sweeper.n_trials=4", "hydra.sweeper.direction=maximize", cwd=tmp_path
    )
    assert (
        other_direction.returncode != 0
        and "was created with direction ['minimize']" in other_direction.stdout
    )
    assert len(study_in(tmp_path, "sphere").trials) == 2


def test_a_worker_counts_trials_running_elsewhere_and_waits_for_them(tmp_path):
    """Another worker's running trial takes one of n_trials: this worker runs the rest, then waits."""
    (tmp_path / "mlruns").mkdir()
    storage = open_storage(
        f"sqlite:///{tmp_path / 'mlruns' / 'optuna.db'}", heartbeat_interval=1, grace_period=60
    )
    study = optuna.create_study(study_name="sphere", storage=storage, direction="minimize")
    other = study.ask({"x": optuna.distributions.FloatDistribution(-5.5, 5.0, step=0.5)})
    log = tmp_path / "worker.log"
    with Heartbeat(storage, [other._trial_id]):  # the other worker is alive
        with log.open("w") as out:
            worker = subprocess.Popen(
                [sys.executable, str(APPS / "sphere.py"), "-m", "hydra.sweeper.n_trials=3"],
                cwd=tmp_path,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while "1 trials running in other workers; waiting" not in log.read_text():
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 2  # its own two, no third
        study.tell(other, 1.0)
    assert worker.wait(60) == 0, log.read_text()
    trials = optuna.load_study(study_name="sphere", storage=storage).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert {t.user_attrs.get("sweeplab.worker") for t in trials[1:]} == {
        f"{socket.gethostname()}:{worker.pid}"
    }


# hydra-optuna-sweeper's results, as its users' scripts read them (issue 14).


def results_in(folder: Path):
    return OmegaConf.load(folder / "optimization_results.yaml")


def test_results_file_and_log_lines_with_failed_trials_and_after_resume(tmp_path):
    args = [
        "fail_above=2",
        "hydra.sweeper.max_failure_rate=0.9",
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=1",
    ]
    done = sweep(
        "sphere", *args, "hydra.sweeper.n_trials=6", f"hydra.sweep.dir={tmp_path / 'a'}", cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout
    study = study_in(tmp_path, "sphere")
    assert any(t.state == TrialState.FAIL for t in study.trials)  # x > 2 fails: failures do not count
    results = results_in(tmp_path / "a")
    assert results.name == "optuna"
    assert results.best_params == study.best_trial.params and results.best_value == study.best_value
    assert f"Best parameters: {study.best_trial.params}\n" in done.stdout
    assert f"Best value: {four_digits(study.best_value)}\n" in done.stdout  # exact in the results file
    assert "Trials of study sphere" in done.stdout  # sweeplab's table as well

    resumed = sweep(
        "sphere", *args, "hydra.sweeper.n_trials=8", f"hydra.sweep.dir={tmp_path / 'b'}", cwd=tmp_path
    )
    assert resumed.returncode == 0, resumed.stdout
    study = study_in(tmp_path, "sphere")
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 8
    assert results_in(tmp_path / "b").best_value == study.best_value  # over the whole study


def test_multi_objective_results_file_and_log_lines(tmp_path):
    done = sweep("multi_objective", "hydra.sweeper.n_trials=8", f"hydra.sweep.dir={tmp_path}", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    front = study_in(tmp_path, "multi-objective").best_trials
    solutions = results_in(tmp_path).solutions
    assert results_in(tmp_path).name == "optuna" and len(solutions) == len(front)
    assert [dict(s.params) for s in solutions] == [t.params for t in front]
    assert [list(s["values"]) for s in solutions] == [t.values for t in front]
    assert f"Number of Pareto solutions: {len(front)}\n" in done.stdout
    assert (
        f"    Values: {[four_digits(v) for v in front[0].values]}, Params: {front[0].params}\n" in done.stdout
    )


def test_custom_search_space_sees_fixed_parameters_as_user_attrs(tmp_path):
    done = sweep(
        "custom_search_space",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.custom_search_space=custom_search_space.configure_unless_fixed",
        "z=0.25",
        f"hydra.sweep.dir={tmp_path}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout
    trials = study_in(tmp_path, "custom-search-space").trials
    assert len(trials) == 3 and all(t.user_attrs["z"] == "0.25" and "z" not in t.params for t in trials)
    assert all(
        t.value == pytest.approx(t.params["+w"] ** 2 + t.params["x"] ** 2 + 0.0625 + t.params["y"] ** 2)
        for t in trials
    )
    assert "z" not in results_in(tmp_path).best_params


def test_max_failure_rate_1_lets_every_trial_fail_and_ends_normally(tmp_path):
    """The official plugin's test_failure_rate[1.0]: the job's error is not re-raised."""
    done = subprocess.run(
        [
            sys.executable,
            str(APPS / "sphere.py"),
            "-m",
            "error=true",
            "hydra.sweeper.n_trials=6",
            "hydra.sweeper.n_jobs=2",
            "hydra/sweeper/sampler=random",
            "hydra.sweeper.max_failure_rate=1.0",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "RuntimeError: cfg.error is True" not in done.stderr
    assert "6 trials of this sweep failed (hydra.sweeper.max_failure_rate=1.0)" in done.stdout
    assert [t.state for t in study_in(tmp_path, "sphere").trials] == [TrialState.FAIL] * 6


def test_unnamed_study_follows_the_search_space_and_the_old_one_resumes(tmp_path):
    """The official docs in order in one folder: the sphere example, then its interval variant."""
    unnamed = "hydra.sweeper.study_name=null"
    first = sweep("sphere", unnamed, "hydra.sweeper.n_trials=2", cwd=tmp_path)
    assert first.returncode == 0, first.stdout
    interval = sweep(
        "sphere",
        unnamed,
        "hydra.sweeper.n_trials=2",
        "x=interval(-5.0, 5.0)",
        "y=interval(0, 10)",
        cwd=tmp_path,
    )
    assert interval.returncode == 0, interval.stdout
    assert "hydra.sweeper.study_name is unset, so each search space" in interval.stdout
    storage = f"sqlite:///{tmp_path / 'mlruns' / 'optuna.db'}"
    names = sorted(optuna.get_all_study_names(storage))
    assert len(names) == 2 and all(n.startswith("sphere-") for n in names)
    back = sweep("sphere", unnamed, "hydra.sweeper.n_trials=3", cwd=tmp_path)
    assert back.returncode == 0 and "New study" not in back.stdout
    assert sorted(optuna.get_all_study_names(storage)) == names
    (name,) = [n for n in names if f"Study name: {n}\n" in first.stdout]
    assert f"Study name: {name}\n" in back.stdout and len(study_in(tmp_path, name).trials) == 3


def test_motpe_is_refused_in_one_line_naming_its_replacements(tmp_path):
    done = sweep(
        "multi_objective",
        "hydra/sweeper/sampler=motpe",
        "hydra.sweeper.sampler.n_ehvi_candidates=8",
        cwd=tmp_path,
    )
    assert done.returncode != 0
    (line,) = [line for line in done.stdout.splitlines() if "sampler was removed in Optuna 4.0" in line]
    assert (
        "hydra/sweeper/sampler=nsgaii" in line
        and "hydra/sweeper/sampler=tpe" in line
        and "multivariate" in line
    )
    assert "Could not find" not in done.stdout and "Launching" not in done.stdout


def test_official_plugin_installed_beside_is_refused_before_any_trial(tmp_path):
    """A fake installed distribution (its dist-info folder on the path), not a real install, whose plugin
    registers hydra/sweeper=optuna after sweeplab's (it comes later on the path): sweeplab's still wins."""
    site = tmp_path / "site"
    (site / "hydra_optuna_sweeper-1.3.0.dist-info").mkdir(parents=True)
    (site / "hydra_optuna_sweeper-1.3.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: hydra-optuna-sweeper\nVersion: 1.3.0\n"
    )
    (site / "hydra_plugins" / "hydra_optuna_sweeper").mkdir(parents=True)
    (site / "hydra_plugins" / "hydra_optuna_sweeper" / "__init__.py").write_text("")
    (site / "hydra_plugins" / "hydra_optuna_sweeper" / "config.py").write_text(
        "from hydra.core.config_store import ConfigStore\n"
        "ConfigStore.instance().store(group='hydra/sweeper', name='optuna', provider='optuna_sweeper',\n"
        "    node={'_target_': 'hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper'})\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(site)])),
    }
    done = subprocess.run(
        [sys.executable, str(APPS / "sphere.py"), "-m"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0 and "Launching" not in done.stdout
    (line,) = [line for line in done.stdout.splitlines() if "is installed beside sweeplab" in line]
    assert "hydra-optuna-sweeper 1.3.0" in line and "pip uninstall -y hydra-optuna-sweeper" in line
    assert not (tmp_path / "mlruns" / "optuna.db").exists()
