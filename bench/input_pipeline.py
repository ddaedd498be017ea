"""Lab-style input pipeline (ImageFolder + PIL resize every epoch) vs sweeplab's decoded-once cache.

Both read the same generated folder of JPEGs, side by side in one run, and deliver the same
uint8-derived float batches to the training loop; no model runs, so only input cost is timed.

    python bench/input_pipeline.py [--images 600] [--img-size 224] [--epochs 3] [--workers 2]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from sweeplab.data.batches import batches
from sweeplab.data.images import load_images


def make_jpegs(root: Path, count: int, seed: int = 0) -> list[Path]:
    """Photo-sized JPEGs (Kaggle's Dogs vs. Cats are ~500x375) in class folders."""
    rng = np.random.default_rng(seed)
    files = []
    for i in range(count):
        folder = root / ("cat" if i % 2 else "dog")
        folder.mkdir(parents=True, exist_ok=True)
        h, w = rng.integers(300, 500), rng.integers(350, 500)
        # Smooth gradients plus noise: compresses like a photo, unlike pure noise.
        base = np.linspace(0, 255, w)[None, :, None] * rng.random(3)[None, None, :]
        pixels = np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)
        path = folder / f"{i}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        files.append(path)
    return sorted(files)


def lab_style(root: Path, img_size: int, epochs: int, batch_size: int, workers: int) -> float:
    dataset = datasets.ImageFolder(
        root, transforms.Compose([transforms.Resize((img_size, img_size)), transforms.ToTensor()])
    )
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers)
    start = time.perf_counter()
    for _ in range(epochs):
        for x, _ in loader:
            x.sum()  # touch the batch as a model would
    return time.perf_counter() - start


def cached(
    files: list[Path], img_size: int, epochs: int, batch_size: int, workers: int, cache: Path
) -> tuple:
    start = time.perf_counter()
    images = load_images(files, img_size, cache, workers).pixels  # decodes once on a cold cache
    build = time.perf_counter() - start
    labels, index = np.zeros(len(files), dtype=np.int64), np.arange(len(files))
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for x, _ in batches(images, labels, index, batch_size, torch.device("cpu"), generator):
            (x.float() / 255).sum()
    return time.perf_counter() - start, build


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = make_jpegs(Path(tmp) / "train", args.images)
        shape = (args.img_size, args.epochs, args.batch_size, args.workers)
        lab = lab_style(Path(tmp) / "train", *shape)
        cold, build = cached(files, *shape, Path(tmp) / "cache")
        warm, _ = cached(files, *shape, Path(tmp) / "cache")
    seen = args.images * args.epochs
    print(
        f"{args.images} JPEGs, {args.img_size} px, {args.epochs} epochs, batch {args.batch_size}, "
        f"{args.workers} workers, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"{'pipeline':<34}{'seconds':>9}{'images/s':>10}{'speed-up':>10}")
    for name, seconds in (
        ("lab-style ImageFolder + PIL resize", lab),
        (f"cache, cold (decode {build:.1f}s incl.)", cold),
        ("cache, warm (later runs/trials)", warm),
    ):
        print(f"{name:<34}{seconds:>9.2f}{seen / seconds:>10.0f}{lab / seconds:>9.1f}x")


if __name__ == "__main__":
    main()
