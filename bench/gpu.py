"""GPU benchmark (needs CUDA): throughput fp32 vs AMP + channels_last, input share, peak memory.

For seed_cnn at 444 px and resnet18 at 224 px (random weights, 2 classes), on sweeplab's own path:
uint8 batches sliced from a memory-mapped cache file, pinned and copied non_blocking, converted and
flipped on the device (engine.batches, BatchAugment), then Trainer.train_step. It prints

1. images/s in fp32 and in bf16 AMP + channels_last, side by side in one run;
2. the input pipeline's share of step time (host time spent producing the next batch / wall time);
3. peak GPU memory (torch.cuda.max_memory_allocated) per batch size, or OOM;
4. small trials sharing one GPU: 8 head-only trials (a frozen ResNet-18's cached features, the head
   trains) of a `train.py -m` study on hydra/launcher=pool, 4 slots on the one GPU
   (hydra.sweeper.trials_per_device=4) against 1, as trials per second between the first trial's start
   and the last one's end (goal: >= 2.5x).

    python bench/gpu.py [--steps 30] [--batch-sizes 32,64,128,256,512] [--only shared]

Sized to finish in well under 5 minutes on one data-centre GPU.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from sweeplab.config import AugmentationConfig, BackboneConfig, SeedCNNConfig, TrainerConfig
from sweeplab.data.augment import BatchAugment
from sweeplab.data.batches import batches
from sweeplab.models.builders import build_model
from sweeplab.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
SHARED_TRIALS = 8

MODELS = {  # name -> (model config, image size, batch size for the throughput rows)
    "seed_cnn": (SeedCNNConfig(), 444, 100),  # the lab's network and batch
    # random weights: nothing to download
    "resnet18": (BackboneConfig(name="torchvision", arch="resnet18"), 224, 256),
}


def cache_file(folder: Path, count: int, size: int) -> np.ndarray:
    """A memory-mapped uint8 array like sweeplab's image cache."""
    path = folder / f"cache-{size}.npy"
    images = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(count, 3, size, size))
    images[:] = np.random.default_rng(0).integers(0, 256, images.shape, dtype=np.uint8)
    images.flush()
    return np.load(path, mmap_mode="r")


def trainer_for(model_cfg, size: int, batch: int, amp: bool) -> tuple[Trainer, torch.optim.Optimizer]:
    device = torch.device("cuda")
    model = build_model(OmegaConf.structured(model_cfg), num_classes=2, img_size=size)
    cfg = OmegaConf.structured(TrainerConfig(batch_size=batch, amp=amp, channels_last=amp, progress=False))
    augment = BatchAugment(OmegaConf.structured(AugmentationConfig(hflip=0.5)), None, device)
    trainer = Trainer(cfg, model, augment, device)
    return trainer, torch.optim.Adam(model.parameters(), lr=1e-4)


def endless(images, labels, batch: int, device: torch.device, generator: torch.Generator):
    """Batches epoch after epoch: resnet18's batch of 256 has only 4 per pass over the 1024 images."""
    index = np.arange(len(images))
    while True:
        yield from batches(images, labels, index, batch, device, generator)


def throughput(images, labels, model_cfg, size, batch, amp, steps) -> tuple[float, float]:
    """(images/s, share of wall time spent producing batches) over `steps` steps after a warm-up."""
    trainer, optimizer = trainer_for(model_cfg, size, batch, amp)
    stream = endless(images, labels, batch, trainer.device, torch.Generator().manual_seed(0))
    for _ in range(5):  # warm-up: cuDNN autotuning, allocator
        trainer.train_step(*next(stream), optimizer)
    torch.cuda.synchronize()
    loading = 0.0
    start = time.perf_counter()
    for _ in range(steps):
        tick = time.perf_counter()
        x, y = next(stream)
        loading += time.perf_counter() - tick
        trainer.train_step(x, y, optimizer)
    torch.cuda.synchronize()
    wall = time.perf_counter() - start
    return steps * batch / wall, loading / wall


def peak_memory(images, labels, model_cfg, size, batch, amp) -> str:
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    try:
        trainer, optimizer = trainer_for(model_cfg, size, batch, amp)
        stream = batches(images, labels, np.arange(len(images)), batch, trainer.device)
        for _ in range(2):
            trainer.train_step(*next(stream), optimizer)
        torch.cuda.synchronize()
        return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
    except torch.cuda.OutOfMemoryError:
        return "OOM"
    finally:
        del trainer, optimizer
        torch.cuda.empty_cache()


def shared_gpu(folder: Path) -> None:
    """Trials per second of a head-only study with 4 slots on one GPU against 1 slot."""
    from mlflow.tracking import MlflowClient
    from torchvision import models as tv_models

    weights = folder / "resnet18.pth"  # random weights as a local file: the machine may be offline
    torch.save(tv_models.resnet18().state_dict(), weights)
    common = [
        "model=resnet18",
        "model.weights=IMAGENET1K_V1",
        f"model.weights_path={weights}",
        "model.freeze_backbone=true",
        "augmentation=none",
        "data.img_size=64",
        "trainer.epochs=20",
        "trainer.progress=false",
        "hydra/sweeper=optuna",
        "hydra/launcher=pool",
        f"data.cache_dir={folder / 'cache'}",
        f"tracking.uri=sqlite:///{folder / 'mlflow.db'}",
        f"hydra.sweeper.storage=sqlite:///{folder / 'optuna.db'}",
        "optimizer.lr=tag(log,interval(1e-4,1e-2))",
    ]
    runs = {}
    for name, slots in (("warm-up", 1), ("one-after-another", 1), ("shared", 4)):
        trials = 1 if name == "warm-up" else SHARED_TRIALS  # the warm-up builds the feature cache
        args = [
            *common,
            f"hydra.sweeper.study_name={name}",
            f"hydra.sweeper.n_trials={trials}",
            f"hydra.sweeper.n_jobs={slots}",
            f"hydra.sweeper.trials_per_device={slots}",
            f"hydra.sweep.dir={folder / 'multirun' / name}",
        ]
        done = subprocess.run(
            [sys.executable, str(ROOT / "train.py"), "-m", *args], cwd=folder, capture_output=True, text=True
        )
        if done.returncode:
            sys.exit(done.stdout[-3000:] + done.stderr[-3000:])
        client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
        found = client.search_runs(
            [e.experiment_id for e in client.search_experiments()],
            f"tags.`sweeplab.study` = '{name}' and tags.`sweeplab.role` = 'trial'",
        )
        runs[name] = found
    print(f"\n{SHARED_TRIALS} head-only trials (frozen resnet18, 20 epochs of the head), hydra/launcher=pool")
    print(f"{'slots on one GPU':<20}{'trials/s':>10}{'devices seen':>16}")
    speed = {}
    for name in ("one-after-another", "shared"):
        found = runs[name]
        start = min(r.info.start_time for r in found) / 1000
        end = max(r.info.end_time for r in found) / 1000
        speed[name] = len(found) / (end - start)
        seen = sorted({r.data.tags.get("sweeplab.visible_devices", "?") for r in found})
        print(f"{1 if name != 'shared' else 4:<20}{speed[name]:>10.2f}{','.join(seen):>16}")
    print(f"4 slots sharing the GPU / 1 slot: x{speed['shared'] / speed['one-after-another']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-sizes", default="32,64,128,256,512")
    parser.add_argument("--only", choices=["throughput", "shared"], help="one part of the benchmark")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench/gpu.py needs a CUDA device")
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.only != "throughput":
            shared_gpu(Path(tmp))
        if args.only == "shared":
            return
        for name, (model_cfg, size, batch) in MODELS.items():
            images = cache_file(Path(tmp), max(sizes) * 2, size)
            labels = np.random.default_rng(1).integers(0, 2, len(images)).astype(np.int64)
            print(f"\n{name} at {size} px, batch {batch}, {args.steps} steps")
            print(f"{'precision':<28}{'images/s':>10}{'input share':>13}")
            base = None
            for label, amp in (("fp32", False), ("bf16 AMP + channels_last", True)):
                speed, share = throughput(images, labels, model_cfg, size, batch, amp, args.steps)
                base = base or speed
                print(f"{label:<28}{speed:>10.0f}{share:>12.1%}   x{speed / base:.2f}")
            print(f"{'batch size':<12}{'peak fp32':>12}{'peak AMP':>12}")
            for b in sizes:
                fp32 = peak_memory(images, labels, model_cfg, size, b, False)
                amp = peak_memory(images, labels, model_cfg, size, b, True)
                print(f"{b:<12}{fp32:>12}{amp:>12}")


if __name__ == "__main__":
    main()
