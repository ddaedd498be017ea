"""The sweeper's own overhead: hydra-optuna-sweeper (v1.3.2's, Optuna 2.10) vs sweeplab's, side by side.

The same app (tests/sweeper_apps/sphere.py: the official sphere example), 20 TPE trials, one job at a
time with Hydra's basic launcher, both on an SQLite file, in fresh folders, alternating, in one run.
The objective takes microseconds: the wall time is Hydra, Optuna and the sweeper. Goal: sweeplab
<= 1.0x the official plugin's wall time. Each sweep's CPU time (user + system) is printed beside its wall
time: on a machine shared with other work it moves less than the wall time does.

The official plugin needs Optuna 2.10 and SQLAlchemy < 2, so it runs in a venv of its own, made on
first use (the registry's hydra-optuna-sweeper 1.3.0 is the release of Hydra 1.3.2's branch):

    python3.11 -m venv /tmp/official
    /tmp/official/bin/pip install hydra-optuna-sweeper==1.3.0 hydra-core==1.3.2 'omegaconf<2.4' 'sqlalchemy<2'

    python bench/official_overhead.py [--trials 20] [--repeats 3] [--official-python /tmp/official/bin/python]
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "tests" / "sweeper_apps" / "sphere.py"
OFFICIAL_PACKAGES = ["hydra-optuna-sweeper==1.3.0", "hydra-core==1.3.2", "omegaconf<2.4", "sqlalchemy<2"]
GOAL = 1.0


def official_python(path: Path) -> Path:
    if not path.exists():
        venv = path.parents[1]
        print(f"making {venv} for the official plugin ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(path), "-m", "pip", "install", "-q", *OFFICIAL_PACKAGES], check=True)
    return path


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_sweep(python: Path, env: dict[str, str], folder: Path, trials: int) -> tuple[float, float]:
    """The sweep's wall and CPU seconds."""
    folder.mkdir()
    args = [
        str(python),
        str(APP),
        "-m",
        f"hydra.sweeper.n_trials={trials}",
        f"hydra.sweeper.storage=sqlite:///{folder / 'optuna.db'}",
        f"hydra.sweep.dir={folder / 'sweep'}",
    ]
    start, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode or not (folder / "sweep" / "optimization_results.yaml").exists():
        sys.exit(f"{python} failed:\n{done.stdout}\n{done.stderr}")
    return seconds, children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--official-python", type=Path, default=Path("/tmp/official/bin/python"))
    args = parser.parse_args()
    official = official_python(args.official_python)
    # Neither may see the other's plugin: the official venv gets no PYTHONPATH, sweeplab its src first.
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    envs = {
        "official": (official, base),
        "sweeplab": (Path(sys.executable), {**base, "PYTHONPATH": str(ROOT / "src")}),
    }
    wall: dict[str, list[float]] = {name: [] for name in envs}
    cpu: dict[str, list[float]] = {name: [] for name in envs}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for name, (python, env) in envs.items():  # alternating: both see the same machine load
                seconds, cpu_seconds = timed_sweep(python, env, Path(tmp) / f"{name}{repeat}", args.trials)
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
                line = f"{name:9s} run {repeat + 1}: {seconds:6.2f} s wall, {cpu_seconds:6.2f} s CPU"
                print(line, flush=True)
    load_after = os.getloadavg()
    print(
        f"\n{args.trials} sphere trials, SQLite, basic launcher; {os.cpu_count()} CPUs, load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    print(f"{'':9s} {'wall, median':>13s} {'CPU, median':>12s}   wall of each run")
    for name in envs:
        runs = ", ".join(f"{v:.2f}" for v in wall[name])
        median_wall, median_cpu = statistics.median(wall[name]), statistics.median(cpu[name])
        print(f"{name:9s} {median_wall:11.2f} s {median_cpu:10.2f} s   ({runs})")
    ratio = statistics.median(wall["sweeplab"]) / statistics.median(wall["official"])
    cpu_ratio = statistics.median(cpu["sweeplab"]) / statistics.median(cpu["official"])
    verdict = "met" if ratio <= GOAL else "NOT met"
    print(f"sweeplab / official = {ratio:.2f}x wall (goal <= {GOAL}x: {verdict}), {cpu_ratio:.2f}x CPU")


if __name__ == "__main__":
    main()
