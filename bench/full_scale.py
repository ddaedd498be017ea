"""A full-size competition on one machine: cache build and one training job at N and 10x N photos.

For each N it generates N labelled + N/2 test photo-sized JPEGs (500x375-ish, the Dogs vs. Cats
shape and the lab's 2:1 train:test ratio), then in a fresh process per step:
  build: load_data on a cold cache at 444 px (decode, streamed to disk)
  job:   one epoch of a small seed CNN through sweeplab.training.job.run on the warm cache (normalize=dataset,
         validation and test predictions, submissions, plot, MLflow run and artifacts)
and prints build time, images/s and peak anonymous memory (RssAnon, sampled every 10 ms) of each,
the ratio larger/smaller (goal <= 1.2x) and the projection for the lab's 37,500 photos.
Everything is written under a temp folder, removed at the end.

    python bench/full_scale.py [--images 1000 10000] [--img-size 444]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
LAB_PHOTOS = 37_500  # Dogs vs. Cats: 25,000 labelled + 12,500 test

STEP = """
import json, sys, time
from pathlib import Path
from hydra import compose, initialize_config_dir
from sweeplab.data.memory import PeakAnon

root, step, overrides = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
with initialize_config_dir(str(root / "conf"), version_base="1.3"):
    cfg = compose("config", overrides=overrides)
with PeakAnon() as memory:
    started = time.perf_counter()
    if step == "build":
        from sweeplab.data import load_data
        load_data(cfg.data, show_progress=False)
    else:
        from sweeplab.training.job import run
        run(cfg, output_dir=Path(cfg.data.cache_dir) / "job")
    seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "peak": memory.peak, "baseline": memory.baseline}))
"""


def _photos(args: tuple[Path, int, int, int]) -> None:
    folder, start, stop, seed = args
    rng = np.random.default_rng(seed + start)
    noise = rng.normal(0, 20, (600, 700, 3)).astype(np.float32)  # shared field, cropped per photo
    for i in range(start, stop):
        h, w = int(rng.integers(330, 420)), int(rng.integers(450, 500))
        y, x = rng.integers(0, 600 - h), rng.integers(0, 700 - w)
        base = np.linspace(0, 255, w, dtype=np.float32)[None, :, None] * rng.random(3, dtype=np.float32)
        pixels = np.clip(base + noise[y : y + h, x : x + w], 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=90)


def make_competition(root: Path, n_train: int, workers: int) -> None:
    """train/cat, train/dog and test/ of generated JPEGs, in parallel processes."""
    jobs = []
    counts = {"train/cat": n_train // 2, "train/dog": n_train - n_train // 2, "test": n_train // 2}
    for name, count in counts.items():
        folder = root / name
        folder.mkdir(parents=True)
        step = -(-count // workers)
        jobs += [(folder, s, min(s + step, count), len(jobs)) for s in range(0, count, step)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_photos, jobs))


def step(name: str, overrides: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", STEP, str(ROOT), name, *overrides], capture_output=True, text=True
    )
    if proc.returncode:
        sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--images", type=int, nargs="+", default=[1000, 10000], help="labelled photos per run"
    )
    parser.add_argument("--img-size", type=int, default=444)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(f"{cores} cores, img_size {args.img_size}, train:test 2:1, RssAnon peaks of fresh processes")
    rows = []
    with tempfile.TemporaryDirectory(prefix="sweeplab-full-scale-", dir="/tmp") as tmp:
        for n in args.images:
            folder = Path(tmp) / str(n)
            started = time.perf_counter()
            make_competition(folder / "competition", n, cores)
            print(f"N={n}: generated {n + n // 2} JPEGs in {time.perf_counter() - started:.0f} s", flush=True)
            overrides = [
                "data=kaggle",
                f"data.root={folder / 'competition'}",
                f"data.cache_dir={folder / 'cache'}",
                f"data.img_size={args.img_size}",
                "model=seed_cnn",  # one small conv block: the epoch measures the data path, not the model
                "model.channels=[4]",
                "model.fc=[8]",
                "augmentation=flip",
                "augmentation.normalize=dataset",
                "trainer.epochs=1",
                f"trainer.batch_size={args.batch_size}",
                "trainer.progress=false",
                f"tracking.uri=sqlite:///{folder / 'mlflow.db'}",
            ]
            build = step("build", overrides)
            cache_bytes = sum(p.stat().st_size for p in (folder / "cache" / "images").glob("*.npy"))
            job = step("job", overrides)
            decoded = n + n // 2
            rows.append((n, decoded, build, job, cache_bytes))
            print(
                f"N={n}: build {build['seconds']:.1f} s ({decoded / build['seconds']:.0f} images/s), "
                f"cache {cache_bytes / 1e9:.2f} GB, peak anon build {build['peak'] / 2**20:.0f} MiB; "
                f"one-epoch job {job['seconds']:.1f} s, peak anon {job['peak'] / 2**20:.0f} MiB",
                flush=True,
            )
            subprocess.run(["rm", "-rf", str(folder)], check=True)  # the next N needs the disk
    (n0, _, b0, j0, _), (n1, d1, b1, j1, c1) = rows[0], rows[-1]
    print(
        f"peak anon at N={n1} / N={n0}: build {b1['peak'] / b0['peak']:.2f}x, "
        f"job {j1['peak'] / j0['peak']:.2f}x (goal <= 1.2x)"
    )
    per_image, rate = c1 / d1, d1 / b1["seconds"]
    print(
        f"projection for the lab's {LAB_PHOTOS:,} photos at {args.img_size} px: cache "
        f"{LAB_PHOTOS * per_image / 1e9:.1f} GB on disk, cold build ~{LAB_PHOTOS / rate / 60:.0f} min "
        f"at {rate:.0f} images/s on {cores} cores"
    )


if __name__ == "__main__":
    main()
