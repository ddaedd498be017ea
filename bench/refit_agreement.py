"""Where should a refit's agreement with its trial sit? Trials, their refits and deliberately bad refits on
real photographs, with each one's public score and `refit/agreement` against the trial.

Per competition (cats-dogs-mini as it is: labels; the shapes the tests build from its photographs:
Planet's tags, Aerial Cactus' one probability, Dog Breed's class probabilities, Humpback's top-5
labels), for trainer.seed 0..S-1:
  trial     the config with a cosine schedule over E epochs, validation on 20%
  refit     what `sweeplab refit` trains (sweeplab.runs.refit.refit_overrides)
  short     the refit with its cosine squeezed into the refit's own epochs (T_max = the best epoch):
            the replay rule broken
  one       the refit stopped after 1 epoch: a refit that went wrong
  seed      the trial's refit with the next seed: what honest noise looks like
each one's public score and agreement with the trial, with the measure not chosen beside (`_alt`:
per-column Spearman, identical tag sets, identical top-k lists). It also checks that the refit's
learning rate per epoch is the trial's up to its best epoch, and for tags prints the trial's and the
refit's mean F2 at the trial's thresholds beside the refit's at 0.5 and at the best possible (what a
lost score owes to the thresholds). Goal: the floor sits under every honest refit's agreement (refit,
seed) and above the broken ones' where they lost score.

    python bench/refit_agreement.py [--seeds 3] [--epochs 10] [--shapes planet ...] [--set data.folds=5]
"""

import argparse
import csv
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]  # the shapes are the tests' builders

from helpers import CATS_DOGS, compose_config  # noqa: E402
from helpers.kaggle_shapes import PLANET_TAGS, SHAPES  # noqa: E402
from sweeplab.runs.recorded import apply_overrides, load_recorded  # noqa: E402
from sweeplab.runs.refit import refit_overrides  # noqa: E402
from sweeplab.runs.submission_agreement import read_submission, submission_agreement  # noqa: E402
from sweeplab.training.job import run  # noqa: E402

FAST = [  # tests/helpers/shape_runs.py's seed CNN at 32 px, with a cosine schedule
    "model=seed_cnn_mini",
    "model.channels=[8,16]",
    "model.fc=[32]",
    "data.img_size=32",
    "trainer.batch_size=8",
    "optimizer.lr=2e-3",
    "scheduler=cosine",
    "trainer.progress=false",
]


def competition(name: str, folder: Path) -> tuple[Path, list[str]]:
    if name == "cats_dogs":
        return CATS_DOGS, ["data.metric=accuracy"]
    shape = SHAPES[name]
    return shape.build(folder / name, 32), [f"data.metric={shape.metric}", *shape.overrides]


def public(client: MlflowClient, run_id: str, epoch: int) -> float:
    history = {m.step: m.value for m in client.get_metric_history(run_id, "kaggle/public")}
    return history.get(epoch, float("nan"))


def lr_history(client: MlflowClient, run_id: str) -> list[float]:
    return [m.value for m in sorted(client.get_metric_history(run_id, "lr"), key=lambda m: m.step)]


def refit(client, trial_id: str, extra: list[str], out: Path) -> str:
    recorded = load_recorded(client, trial_id)
    given = [*refit_overrides(recorded), *extra]
    run(apply_overrides(recorded.config, given), output_dir=out, overrides=given)
    return newest(client)


def newest(client: MlflowClient) -> str:
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids, order_by=["attributes.start_time DESC"], max_results=1)[0].info.run_id


def alternative(a: Path, b: Path, kind: str) -> float:
    """What the agreement would be measured by otherwise: class columns' Spearman averaged per column,
    tags' and top-k's identical written values."""
    from scipy.stats import spearmanr

    (_, x), (_, y) = read_submission(a), read_submission(b)
    ids = sorted(x)
    if kind != "probabilities":
        same = [set(x[i][0].split()) == set(y[i][0].split()) if kind == "tags" else x[i] == y[i] for i in ids]
        return float(np.mean(same))
    p, q = np.asarray([x[i] for i in ids], float), np.asarray([y[i] for i in ids], float)
    return float(np.nanmean([spearmanr(p[:, j], q[:, j]).statistic for j in range(p.shape[1])]))


def thresholds_check(root: Path, out: Path, tags: dict) -> str:
    """Multi-label: mean F2 on every test image of the trial and of its refit at the trial's thresholds,
    and of the refit at 0.5 everywhere and at the best thresholds for the test set (tuned on its truth)."""
    from sweeplab.runs.predictions import read_test_probs
    from sweeplab.scoring.measures import metric_score
    from sweeplab.scoring.thresholds import tune_thresholds

    with (root / "solution.csv").open(newline="") as f:
        truth_of = {row[0]: set(row[1].split()) for row in list(csv.reader(f))[1:]}
    trial_thresholds = np.asarray(json.loads(tags["sweeplab.thresholds"]))
    scores = {}
    for name in ("trial", "refit"):
        probs, ids = read_test_probs(out / name / "predictions" / "test_probs_best.npz")
        truth = np.array([[c in truth_of[str(i)] for c in PLANET_TAGS] for i in ids], dtype=float)
        scores[name] = metric_score("mean_f2", truth, probs, trial_thresholds)
    at_half = metric_score("mean_f2", truth, probs, np.full(len(PLANET_TAGS), 0.5))
    best = metric_score("mean_f2", truth, probs, tune_thresholds(truth, probs, "mean_f2"))
    return (
        f"F2 trial {scores['trial']:.3f} refit {scores['refit']:.3f} (at 0.5: {at_half:.3f}, best "
        f"possible {best:.3f}; trial's thresholds {trial_thresholds.tolist()})"
    )


def one_seed(name: str, root: Path, base: list[str], seed: int, epochs: int, tmp: Path) -> dict:
    store = f"sqlite:///{tmp / f'{name}-{seed}.db'}"
    client = MlflowClient(store)
    common = [
        "data=kaggle",
        f"data.root={root}",
        f"data.cache_dir={tmp / 'cache'}",
        *base,
        *FAST,
        f"trainer.epochs={epochs}",
        f"tracking.uri={store}",
    ]
    out = tmp / f"{name}-{seed}"
    run(compose_config([*common, f"trainer.seed={seed}"]), output_dir=out / "trial")
    trial = newest(client)
    best = int(client.get_run(trial).data.tags["sweeplab.best_epoch"])
    kind = client.get_run(trial).data.tags["sweeplab.submission_format"]
    variants = {
        "refit": [],
        "short": [f"scheduler.T_max={best}"],
        "one": ["trainer.epochs=1"],
        "seed": [f"trainer.seed={seed + 1}"],
    }
    found = {"best": best, "trial": public(client, trial, best)}
    for variant, extra in variants.items():
        made = refit(client, trial, extra, out / variant)
        epochs_run = 1 if variant == "one" else best
        agreement = submission_agreement(
            out / "trial" / "submission_best.csv", out / variant / "submission_best.csv", kind
        )
        found[variant] = (public(client, made, epochs_run), agreement.value)
        if variant == "refit":
            same_lr = np.allclose(lr_history(client, made), lr_history(client, trial)[:best])
            found["lr_replayed"] = same_lr
            if kind == "tags":
                found["thresholds"] = thresholds_check(root, out, client.get_run(trial).data.tags)
        if kind in ("probabilities", "tags", "top_k"):
            found[f"{variant}_alt"] = alternative(
                out / "trial" / "submission_best.csv", out / variant / "submission_best.csv", kind
            )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="for every trial, e.g. data.folds=5"
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--shapes", nargs="+", default=["cats_dogs", "planet", "aerial_cactus", "dog_breed", "humpback"]
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="refit-agreement-"))
    start = time.perf_counter()
    try:
        for name in args.shapes:
            root, base = competition(name, tmp / "shapes")
            for seed in range(args.seeds):
                r = one_seed(name, root, [*base, *args.set], seed, args.epochs, tmp)
                cells = "  ".join(
                    f"{v}: public {r[v][0]:.3f} agree {r[v][1]:.3f}"
                    for v in ("refit", "short", "one", "seed")
                )
                extra = (
                    r.get("thresholds", "")
                    + "  "
                    + "  ".join(f"{k} {r[k]:.3f}" for k in ("refit_alt", "one_alt", "seed_alt") if k in r)
                )
                print(
                    f"{name:<14} seed {seed}  best epoch {r['best']:>2}  trial public {r['trial']:.3f}  "
                    f"{cells}  lr replayed {r['lr_replayed']}  {extra}",
                    flush=True,
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
