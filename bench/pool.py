"""Every slot busy: the demo study run as batches and as a pool, with joblib and with hydra/launcher=pool.

Side by side in one run, in a fresh folder: `python train.py -m experiment=demo_optuna` with the median
pruner, `trainer.epochs` searched in 1-8, 16 trials, 2 slots, for each launcher (joblib, pool) with
`hydra.sweeper.batched=true` (today's batches of n_jobs) and without (the pool). It prints the wall
time, the idle share of the slots (from the trials' MLflow run start and end times:
sweeplab.study.idle) and the seconds from a trial being asked (Optuna's datetime_start) to its MLflow
run being created (the job's preparation done; training starts right after).

    python bench/pool.py [--trials 16] [--launchers joblib,pool]

Goals (issue #22): idle share <= 10% for the pool; wall time >= 1.3x shorter than batches; <= 0.5 s from
asked to run on a warm worker.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from mlflow.tracking import MlflowClient

from sweeplab.protocol import Attr
from sweeplab.study.idle import slot_use

ROOT = Path(__file__).resolve().parents[1]
SLOTS = 2


def sweep(cwd: Path, args: list[str]) -> float:
    start = time.perf_counter()
    command = [sys.executable, str(ROOT / "train.py"), "-m", *args]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(done.stdout[-3000:] + done.stderr[-3000:])
    return time.perf_counter() - start


def measured(cwd: Path, study_name: str, wall: float) -> dict:
    client = MlflowClient(f"sqlite:///{cwd / 'mlruns' / 'mlflow.db'}")
    study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{cwd / 'mlruns' / 'optuna.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = {r.info.run_id: r for r in client.search_runs(experiments, max_results=5000)}
    trials = [t for t in study.trials if t.user_attrs.get(Attr.RUN) in runs]
    use = slot_use([runs[t.user_attrs[Attr.RUN]] for t in trials], SLOTS)
    asked_to_run = [
        runs[t.user_attrs[Attr.RUN]].info.start_time / 1000 - t.datetime_start.timestamp() for t in trials
    ]
    states = [t.state.name for t in study.trials]
    return {
        "wall": wall,
        "idle": use.idle_share,
        "asked_to_run": statistics.median(asked_to_run),
        "asked_to_run_warm": statistics.median(asked_to_run[SLOTS:]) if len(trials) > SLOTS else float("nan"),
        "pruned": states.count("PRUNED"),
        "complete": states.count("COMPLETE"),
        "best": study.best_value,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--launchers", default="joblib,pool")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        common = [
            "experiment=demo_optuna",
            f"hydra.sweeper.n_trials={args.trials}",
            f"hydra.sweeper.n_jobs={SLOTS}",
            "trainer.epochs=range(1,9)",
            f"data.cache_dir={cwd / 'cache'}",
        ]
        # The image cache built once, before anything is timed.
        sweep(
            cwd,
            [
                "experiment=demo_optuna",
                "hydra.sweeper.n_trials=1",
                "hydra.sweeper.study_name=warm-up",
                f"data.cache_dir={cwd / 'cache'}",
            ],
        )
        for launcher in args.launchers.split(","):
            extra = [f"hydra.launcher.n_jobs={SLOTS}"]
            for batched in (True, False):
                name = f"{launcher}-{'batched' if batched else 'pool'}"
                wall = sweep(
                    cwd,
                    [
                        *common,
                        f"hydra/launcher={launcher}",
                        *extra,
                        f"hydra.sweeper.batched={batched}",
                        f"hydra.sweeper.study_name={name}",
                        f"hydra.sweep.dir={cwd / 'multirun' / name}",
                    ],
                )
                rows.append((launcher, batched, measured(cwd, name, wall)))
                print(f"{name}: done in {wall:.1f} s", flush=True)
    print(f"\n{args.trials} trials of the demo study, median pruner, epochs 1-8, {SLOTS} slots")
    print(
        f"{'launcher':<9}{'mode':<9}{'wall s':>8}{'idle':>7}{'asked->run s':>14}{'(warm)':>8}"
        f"{'pruned':>8}{'best':>7}"
    )
    for launcher, batched, m in rows:
        print(
            f"{launcher:<9}{'batches' if batched else 'pool':<9}{m['wall']:>8.1f}{m['idle']:>7.1%}"
            f"{m['asked_to_run']:>14.2f}{m['asked_to_run_warm']:>8.2f}{m['pruned']:>8}{m['best']:>7.3f}"
        )
    for launcher in {r[0] for r in rows}:
        walls = {b: m["wall"] for name, b, m in rows if name == launcher}
        if len(walls) == 2:
            print(f"{launcher}: batches / pool wall time = {walls[True] / walls[False]:.2f}x")


if __name__ == "__main__":
    main()
