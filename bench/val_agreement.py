"""Does validation predict the leaderboard? The same 12-trial study with a holdout and with 5 folds.

For each: the rank correlation (Spearman, Kendall, 95% bootstrap CIs over the trials) of the trials'
validation objective with their public and private scores, the private rank of the trial validation
picked, and that trial against a top-3 ensemble (`sweeplab ensemble`) on public and private.

The trials are the same 12 configurations (lr, batch size, epochs; drawn once from a seeded generator)
in both studies, so the comparison is paired. Goal: 5 folds rank the trials at least as well as the
holdout (higher Spearman with private), and the ensemble at least matches the best single trial.

    python bench/val_agreement.py [COMPETITION_FOLDER] [--trials 12] [--folds 5] [--img-size 32]
"""

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sweeplab.kaggle.agreement import describe, rank_agreement  # noqa: E402
from sweeplab.kaggle.ensemble import ensemble  # noqa: E402
from sweeplab.training.job import run  # noqa: E402


def trial_params(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {
            "optimizer.lr": float(10 ** rng.uniform(-3.5, -2)),
            "trainer.batch_size": int(rng.choice([16, 32, 64])),
            "trainer.epochs": int(rng.integers(3, 9)),
        }
        for _ in range(n)
    ]


def study(name: str, base: list[str], params: list[dict], store: str) -> list[dict]:
    """Run every trial; return (run id, objective, public, private) at each run's submission epoch."""
    client = MlflowClient(store)
    found = []
    for i, p in enumerate(params):
        overrides = [*base, *(f"{k}={v}" for k, v in p.items()), f"tracking.experiment={name}"]
        with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
            cfg = compose("config", overrides=overrides)
        value = run(cfg, output_dir=Path(tempfile.mkdtemp()) / f"{name}-{i}", overrides=overrides)
        exp = client.get_experiment_by_name(name)
        latest = client.search_runs(
            [exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=1
        )[0]
        best = int(latest.data.tags["sweeplab.best_epoch"])
        at = {
            k: {m.step: m.value for m in client.get_metric_history(latest.info.run_id, k)}
            for k in ("kaggle/public", "kaggle/private")
        }
        found.append(
            {
                "run": latest.info.run_id,
                "val": value,
                "public": at["kaggle/public"][best],
                "private": at["kaggle/private"][best],
            }
        )
    return found


def report(label: str, trials: list[dict], client: MlflowClient, out: Path) -> None:
    val = [t["val"] for t in trials]
    agreement = rank_agreement(val, [t["public"] for t in trials], [t["private"] for t in trials])
    print(f"\n== {label} ==")
    for line in describe(agreement, [t["run"][:8] for t in trials], len(trials)):
        print(line)
    # Ties (common: accuracy on 40 images) broken as rank_agreement breaks them, first trial first.
    order = sorted(range(len(val)), key=lambda i: -val[i])
    best = trials[order[0]]
    scores = ensemble(client, [trials[i]["run"] for i in order[:3]], out).scores
    public, private = scores["kaggle/public"], scores["kaggle/private"]
    print(f"  best single trial by val: public {best['public']:.3f}  private {best['private']:.3f}")
    print(f"  top-3 ensemble:           public {public:.3f}  private {private:.3f}")
    print(f"  best private of any trial: {max(t['private'] for t in trials):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "competition", nargs="?", default=str(ROOT.parent / "shared" / "datasets" / "cats-dogs-mini")
    )
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--img-size", type=int, default=40)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="val-agreement-"))
    store = f"sqlite:///{work / 'mlflow.db'}"
    base = [
        "data=kaggle",
        f"data.root={Path(args.competition).resolve()}",
        f"data.img_size={args.img_size}",
        "model=seed_cnn_mini",
        "augmentation=flip",
        "trainer.progress=false",
        "trainer.device=cpu",
        f"tracking.uri={store}",
    ]
    params = trial_params(args.trials)
    client = MlflowClient(store)
    for label, extra in (
        ("holdout (data.val_fraction=0.2)", []),
        (f"{args.folds} folds", [f"data.folds={args.folds}"]),
    ):
        started = time.perf_counter()
        trials = study("holdout" if not extra else "folds", [*base, *extra], params, store)
        report(
            f"{label}: {args.trials} trials in {time.perf_counter() - started:.0f} s",
            trials,
            client,
            work / label[:4],
        )


if __name__ == "__main__":
    main()
