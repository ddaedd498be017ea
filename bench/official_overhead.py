"""The sweeper's own overhead: hydra-optuna-sweeper (v1.3.2's, Optuna 2.10) vs sweeplab's, side by side.

The same app (tests/sweeper_apps/sphere.py: the official sphere example), 20 TPE trials, one job at a
time with Hydra's basic launcher, both on an SQLite file, in fresh folders, alternating, in one run.
The objective takes microseconds: the wall time is Hydra, Optuna and the sweeper. Goal: sweeplab
<= 1.5x the official plugin's wall time.

The official plugin needs Optuna 2.10 and SQLAlchemy < 2, so it runs in a venv of its own, made on
first use (the registry's hydra-optuna-sweeper 1.3.0 is the release of Hydra 1.3.2's branch):

    python3.11 -m venv /tmp/official
    /tmp/official/bin/pip install hydra-optuna-sweeper==1.3.0 hydra-core==1.3.2 'omegaconf<2.4' 'sqlalchemy<2'

    python bench/official_overhead.py [--trials 20] [--repeats 2] [--official-python /tmp/official/bin/python]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "tests" / "sweeper_apps" / "sphere.py"
OFFICIAL_PACKAGES = ["hydra-optuna-sweeper==1.3.0", "hydra-core==1.3.2", "omegaconf<2.4", "sqlalchemy<2"]
GOAL = 1.5


def official_python(path: Path) -> Path:
    if not path.exists():
        venv = path.parents[1]
        print(f"making {venv} for the official plugin ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(path), "-m", "pip", "install", "-q", *OFFICIAL_PACKAGES], check=True)
    return path


def timed_sweep(python: Path, env: dict[str, str], folder: Path, trials: int) -> float:
    folder.mkdir()
    args = [
        str(python),
        str(APP),
        "-m",
        f"hydra.sweeper.n_trials={trials}",
        f"hydra.sweeper.storage=sqlite:///{folder / 'optuna.db'}",
        f"hydra.sweep.dir={folder / 'sweep'}",
    ]
    start = time.perf_counter()
    done = subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode or not (folder / "sweep" / "optimization_results.yaml").exists():
        sys.exit(f"{python} failed:\n{done.stdout}\n{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--official-python", type=Path, default=Path("/tmp/official/bin/python"))
    args = parser.parse_args()
    official = official_python(args.official_python)
    # Neither may see the other's plugin: the official venv gets no PYTHONPATH, sweeplab its src first.
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    envs = {
        "official": (official, base),
        "sweeplab": (Path(sys.executable), {**base, "PYTHONPATH": str(ROOT / "src")}),
    }
    times: dict[str, list[float]] = {name: [] for name in envs}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for name, (python, env) in envs.items():  # alternating: both see the same machine load
                seconds = timed_sweep(python, env, Path(tmp) / f"{name}{repeat}", args.trials)
                times[name].append(seconds)
                print(f"{name:9s} run {repeat + 1}: {seconds:6.2f} s", flush=True)
    load_after = os.getloadavg()
    print(
        f"\n{args.trials} sphere trials, SQLite, basic launcher; {os.cpu_count()} CPUs, load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    for name, values in times.items():
        print(
            f"{name:9s} median {statistics.median(values):6.2f} s  ({', '.join(f'{v:.2f}' for v in values)})"
        )
    ratio = statistics.median(times["sweeplab"]) / statistics.median(times["official"])
    verdict = "met" if ratio <= GOAL else "NOT met"
    print(f"sweeplab / official = {ratio:.2f}x (goal <= {GOAL}x: {verdict})")


if __name__ == "__main__":
    main()
