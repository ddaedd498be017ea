"""A frozen-backbone sweep with and without the feature cache, side by side in one run.

The lab's frozen-ResNet setup, small enough for a CPU: ResNet-18 at 224 px (`--arch resnet101` for
the lab's own) with its weights read through the real pretrained path (`model.weights_path`: a
locally written, randomly initialised state_dict, so nothing is downloaded), on a generated
competition of photo-sized JPEGs. An 8-trial grid over the head's lr and batch size runs twice,
trial by trial alternating: `model.feature_cache=true` (the first trial computes the backbone's
features, every later one trains the head on them) and `false` (the frozen backbone runs on every
batch of every epoch). Trials run in this process through `sweeplab.training.job.run` with composed configs,
as a sweep's jobs do, so process start-up (~8 s of imports) is not in the figures. A trial's time is
the whole job: data from the (warm) image cache, model and weights, features, training, MLflow run
and artifacts.

    python bench/frozen_sweep.py [--arch resnet18] [--images 160] [--epochs 3]

Goal: a later trial with the cache >= 20x faster than the first trial without it.
"""

import argparse
import itertools
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from PIL import Image
from torchvision import models as tv_models

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sweeplab.data import load_data  # noqa: E402
from sweeplab.training.job import run  # noqa: E402

LRS = ["1e-3", "3e-3", "1e-2", "3e-2"]
BATCH_SIZES = [32, 64]


def make_photos(root: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """Two classes of 320x240 JPEGs (a warm and a cool noisy gradient), Kaggle's flat layout."""
    rng = np.random.default_rng(seed)
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    ramp = np.linspace(0, 1, 320)[None, :, None]
    for i in range(n_train + n_test):
        label = i % 2
        base = np.array([200, 90, 40] if label == 0 else [40, 90, 200], dtype=np.float32) * (0.6 + 0.4 * ramp)
        pixels = np.clip(base + rng.normal(0, 40, (240, 320, 3)), 0, 255).astype(np.uint8)
        name = f"train/{('cat', 'dog')[label]}.{i}.jpg" if i < n_train else f"test/{i}.jpg"
        Image.fromarray(pixels).save(root / name, quality=90)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", default="resnet18", choices=["resnet18", "resnet50", "resnet101"])
    parser.add_argument("--images", type=int, default=160, help="training images (a fifth more as test)")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(torch.get_num_threads())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        competition = make_photos(work / "competition", args.images, args.images // 5)
        weights = work / f"{args.arch}.pth"
        torch.save(tv_models.get_model(args.arch).state_dict(), weights)
        common = [
            "experiment=lab4_resnet101_frozen",
            f"model={args.arch}",
            f"model.weights_path={weights}",
            f"data.root={competition}",
            f"data.cache_dir={work / 'cache'}",
            f"trainer.epochs={args.epochs}",
            "trainer.progress=false",
            f"tracking.uri=sqlite:///{work / 'mlflow.db'}",
        ]
        with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
            load_data(compose("config", overrides=common).data)  # the image cache, decoded once
            times: dict[str, list[float]] = {"true": [], "false": []}
            for lr, batch in itertools.product(LRS, BATCH_SIZES):
                for cache in times:
                    cfg = compose(
                        "config",
                        overrides=[
                            *common,
                            f"model.feature_cache={cache}",
                            f"optimizer.lr={lr}",
                            f"trainer.batch_size={batch}",
                        ],
                    )
                    started = time.perf_counter()
                    run(cfg, output_dir=work / "out")
                    times[cache].append(time.perf_counter() - started)
                    print(
                        f"feature_cache={cache:<5} lr={lr:<5} batch={batch:<3} {times[cache][-1]:7.2f} s",
                        flush=True,
                    )
    report(args, times)


def report(args, times: dict[str, list[float]]) -> None:
    on, off = times["true"], times["false"]
    print(f"\n{args.arch} at 224 px, {args.images} training images, {args.epochs} epochs, 8 trials each:")
    print("| feature cache | total s | first trial s | later trials, median s |")
    print("|---|---|---|---|")
    for label, values in (("on", on), ("off", off)):
        print(f"| {label} | {sum(values):.1f} | {values[0]:.2f} | {statistics.median(values[1:]):.2f} |")
    speedup = off[0] / statistics.median(on[1:])
    print(
        f"\nlater trial with the cache vs first trial without: {speedup:.0f}x (goal >= 20x); "
        f"total {sum(off) / sum(on):.1f}x"
    )


if __name__ == "__main__":
    main()
