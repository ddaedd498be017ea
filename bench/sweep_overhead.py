"""Twelve demo trials three ways: one sweeplab Optuna sweep, Hydra's basic sweep, separate processes.

The same 12 jobs (the embedded demo, 12 learning rates, `--epochs` epochs each) run, side by side in
one run and in one fresh folder with a warm image cache:

- `python train.py -m hydra/sweeper=optuna` with the grid sampler over the 12 learning rates,
- `python train.py -m optimizer.lr=a,b,...` (Hydra's basic sweeper, no Optuna),
- `python train.py optimizer.lr=a` 12 times, one plain process each (what a shell loop does).

Overhead per trial = (wall time - the sum of the runs' training time `time/fit_s`) / 12: process
start-up, imports, Hydra, data from the cache, model build, MLflow run and artifacts, Optuna.

    python bench/sweep_overhead.py [--trials 12] [--epochs 1]
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[1]


def timed(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(done.stdout + done.stderr)
    return time.perf_counter() - start


def fit_seconds(cwd: Path, experiment: str) -> tuple[int, float]:
    client = MlflowClient(f"sqlite:///{cwd / 'mlruns' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    fits = [r.data.metrics["time/fit_s"] for r in runs if "time/fit_s" in r.data.metrics]
    return len(fits), sum(fits)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    rates = [f"{1e-4 * 100 ** (i / max(args.trials - 1, 1)):.3g}" for i in range(args.trials)]
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        common = [
            f"trainer.epochs={args.epochs}",
            "trainer.progress=false",
            f"data.cache_dir={cwd / 'cache'}",
        ]
        timed([*common, "name=warm-up"], cwd)  # decodes the demo into the cache once
        walls = {
            "sweeplab Optuna sweep": timed(
                [
                    "-m",
                    *common,
                    "name=optuna",
                    "hydra/sweeper=optuna",
                    "hydra/sweeper/sampler=grid",
                    "hydra.sweeper.direction=maximize",
                    f"hydra.sweeper.n_trials={args.trials}",
                    f"optimizer.lr=choice({','.join(rates)})",
                ],
                cwd,
            ),
            "Hydra basic sweep": timed(["-m", *common, "name=basic", f"optimizer.lr={','.join(rates)}"], cwd),
        }
        start = time.perf_counter()
        for rate in rates:
            timed([*common, "name=processes", f"optimizer.lr={rate}"], cwd)
        walls["separate processes"] = time.perf_counter() - start
        experiments = {
            "sweeplab Optuna sweep": "optuna",
            "Hydra basic sweep": "basic",
            "separate processes": "processes",
        }
        rows = []
        for name, wall in walls.items():
            count, fit = fit_seconds(cwd, experiments[name])
            assert count == args.trials, f"{name}: {count} runs"
            rows.append((name, wall, fit, (wall - fit) / args.trials))
    print(f"demo, {args.trials} trials x {args.epochs} epoch(s), same learning rates, warm cache, CPU")
    print(f"{'how':<24}{'wall s':>8}{'training s':>12}{'overhead s/trial':>18}")
    for name, wall, fit, overhead in rows:
        print(f"{name:<24}{wall:>8.1f}{fit:>12.1f}{overhead:>18.2f}")


if __name__ == "__main__":
    main()
