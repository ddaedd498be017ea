"""sweeplab's training loop vs a bare PyTorch loop: same model, same in-memory images, images/s.

The bare loop is the minimum: pre-made float batches, forward, loss, backward, step. sweeplab's
loop (engine.Trainer.fit) adds what a tracked job needs: uint8 batches sliced from the cache array,
conversion and augmentation on the device, NaN checks, running metrics, the progress bar off, and a
per-epoch evaluation on a validation and test set kept tiny here (16 images each) so the two loops
train the same work. Goal: ratio >= 0.95.

    python bench/train_step.py [--images 2048] [--img-size 64] [--epochs 3] [--batch-size 128] [--repeats 3]
"""

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from sweeplab.config import AugmentationConfig, SeedCNNConfig, TrainerConfig
from sweeplab.data import ImageData
from sweeplab.data.augment import BatchAugment
from sweeplab.data.competition import Competition
from sweeplab.device import seed_everything
from sweeplab.models.builders import build_seed_cnn
from sweeplab.training.result import Scoring
from sweeplab.training.trainer import Trainer


def model_for(img_size: int) -> torch.nn.Module:
    cfg = OmegaConf.structured(SeedCNNConfig(channels=[16, 32, 64], fc=[128, 64]))
    return build_seed_cnn(cfg, num_classes=2, img_size=img_size)


def bare(images: np.ndarray, labels: np.ndarray, epochs: int, batch_size: int, img_size: int) -> float:
    seed_everything(0, deterministic=True)
    model = model_for(img_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x_all = torch.from_numpy(images).float().div_(255)  # decoded and converted once, up front
    y_all = torch.from_numpy(labels)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x_all))
        for i in range(0, len(order), batch_size):
            rows = order[i : i + batch_size]
            loss = F.cross_entropy(model(x_all[rows]), y_all[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return time.perf_counter() - start


def sweeplab_loop(
    images: np.ndarray, labels: np.ndarray, epochs: int, batch_size: int, img_size: int
) -> float:
    seed_everything(0, deterministic=True)
    model = model_for(img_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    extra = np.zeros((16, 3, img_size, img_size), dtype=np.uint8)  # tiny val and test sets
    all_images = np.concatenate([images, extra])
    all_labels = np.concatenate([labels, np.zeros(16, dtype=np.int64)])
    competition = Competition(Path("."), ["a", "b"], [], [], [], [str(i) for i in range(16)])
    data = ImageData(
        competition,
        all_images,
        all_labels,
        np.arange(len(images)),
        np.arange(len(images), len(all_images)),
        extra,
        "",
        ("", ""),
        [],
    )
    cfg = OmegaConf.structured(TrainerConfig(epochs=epochs, batch_size=batch_size, progress=False))
    augment = BatchAugment(OmegaConf.structured(AugmentationConfig()), None, torch.device("cpu"))
    trainer = Trainer(cfg, model, augment, torch.device("cpu"))
    start = time.perf_counter()
    trainer.fit(data, optimizer, None, Scoring())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, 3, args.img_size, args.img_size), dtype=np.uint8)
    labels = rng.integers(0, 2, args.images).astype(np.int64)
    shape = (args.epochs, args.batch_size, args.img_size)
    bare(images[:256], labels[:256], 1, args.batch_size, args.img_size)  # warm-up: allocator, kernels
    loops = {"bare PyTorch loop": bare, "sweeplab Trainer.fit": sweeplab_loop}
    times = {name: [] for name in loops}
    for repeat in range(args.repeats):  # interleaved, alternating order: drift hits both loops alike
        for name in list(loops)[:: 1 if repeat % 2 == 0 else -1]:
            times[name].append(loops[name](images, labels, *shape))
    seen = args.images * args.epochs
    print(
        f"seed_cnn_mini at {args.img_size} px, {args.images} images x {args.epochs} epochs, batch "
        f"{args.batch_size}, CPU, {torch.get_num_threads()} threads, median of {args.repeats} interleaved"
    )
    base = statistics.median(times["bare PyTorch loop"])
    for name, runs in times.items():
        seconds = statistics.median(runs)
        spread = ", ".join(f"{seen / t:.0f}" for t in runs)
        print(
            f"{name:<24}{seconds:>8.2f} s{seen / seconds:>10.0f} images/s   ratio {base / seconds:.2f}"
            f"   (runs: {spread})"
        )


if __name__ == "__main__":
    main()
