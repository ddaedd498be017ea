"""The demo sweep with and without the median pruner, and the sweeper's per-trial overhead.

Runs, side by side in one run, `python train.py -m experiment=demo_optuna` twice (same search space,
sampler seed and trial budget; pruner median vs none) in a fresh folder, then reads the studies:
total epochs trained, wall time, best value. Per-trial overhead is measured two ways: a sweep of
a trivial objective (sweeper + Optuna storage alone), and for the demo trials, each trial's
duration minus its training time (`time/fit_s`): Hydra job set-up, data from the cache, model
build, MLflow run and artifacts.

    python bench/sweep_pruning.py [--trials 12]
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[1]


def sweep(script: Path, args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(script), "-m", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(done.stdout + done.stderr)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=12)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        storage = f"sqlite:///{cwd / 'mlruns' / 'optuna.db'}"
        common = [
            "experiment=demo_optuna",
            f"hydra.sweeper.n_trials={args.trials}",
            f"data.cache_dir={cwd / 'cache'}",
        ]
        sweep(
            ROOT / "train.py", [*common, "hydra.sweeper.n_trials=1", "hydra.sweeper.study_name=warm-up"], cwd
        )
        rows = []
        # "none": the experiment's median pruner with a start-up longer than the budget never prunes.
        for pruner, startup in (("median", 3), ("none", 10**6)):
            wall = sweep(
                ROOT / "train.py",
                [
                    *common,
                    f"hydra.sweeper.pruner.n_startup_trials={startup}",
                    f"hydra.sweeper.study_name=demo-{pruner}",
                    f"name=demo-{pruner}",
                ],
                cwd,
            )
            study = optuna.load_study(study_name=f"demo-{pruner}", storage=storage)
            epochs = sum(len(t.intermediate_values) for t in study.trials)
            pruned = sum(t.state.name == "PRUNED" for t in study.trials)
            client = MlflowClient(f"sqlite:///{cwd / 'mlruns' / 'mlflow.db'}")
            experiment = client.get_experiment_by_name(f"demo-{pruner}").experiment_id
            overhead = []
            for run in client.search_runs([experiment], "tags.`sweeplab.role` = 'trial'"):
                trial = study.trials[int(run.data.tags["sweeplab.trial"])]
                if "time/fit_s" in run.data.metrics:
                    duration = (trial.datetime_complete - trial.datetime_start).total_seconds()
                    overhead.append(duration - run.data.metrics["time/fit_s"])
            rows.append(
                (pruner, wall, epochs, pruned, study.best_value, sum(overhead) / max(len(overhead), 1))
            )
        trivial = sweep(
            ROOT / "tests" / "sweeper_apps" / "sphere.py",
            ["hydra.sweeper.n_trials=50", "hydra.sweeper.study_name=trivial"],
            cwd,
        )
        sphere = optuna.load_study(study_name="trivial", storage=storage)
        per_trial = max(t.datetime_complete for t in sphere.trials) - min(
            t.datetime_start for t in sphere.trials
        )
    print(f"demo_optuna: {args.trials} trials, TPE seed 42, batch/lr/epochs search space, 2 CPU threads")
    print(f"{'pruner':<8}{'wall s':>8}{'epochs':>8}{'pruned':>8}{'best val/acc':>14}{'overhead s/trial':>18}")
    for pruner, wall, epochs, pruned, best, overhead in rows:
        print(f"{pruner:<8}{wall:>8.1f}{epochs:>8}{pruned:>8}{best:>14.3f}{overhead:>18.2f}")
    print(
        f"sweeper + Optuna storage alone (trivial objective, 50 trials): "
        f"{per_trial.total_seconds() / 50 * 1000:.0f} ms/trial; whole command {trivial:.1f} s"
    )


if __name__ == "__main__":
    main()
