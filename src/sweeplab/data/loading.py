"""A competition folder read, decoded into the uint8 cache (or read back from it) and split into rows."""

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sweeplab.data.competition import Competition, read_competition
from sweeplab.data.demo import materialise_demo
from sweeplab.data.images import decode_threads, file_stamps, fingerprint, hash_stamps, load_images
from sweeplab.data.splits import Split, make_splits
from sweeplab.errors import ConfigError, DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageData:
    competition: Competition
    images: np.ndarray  # (N, 3, S, S) uint8 train images, memory-mapped
    labels: np.ndarray  # (N,) int64 class indices, or (N, C) uint8 0/1 tags (multi-label)
    train_index: np.ndarray  # rows of `images` used for training
    val_index: np.ndarray  # rows held out for validation (stratified)
    test_images: np.ndarray  # (M, 3, S, S) uint8, in submission order
    fingerprint: str  # of every train and test file (paths, sizes, mtimes)
    cache_keys: tuple[str, str]
    corrupt: list[Path]
    # The splits the job trains, one model each: the holdout, or the folds (one with data.fold=i).
    # train_index/val_index above are the first one's.
    splits: tuple[Split, ...] = ()
    fold: int | None = None  # the fold train_index/val_index are (k-fold), or None for the holdout

    @property
    def classes(self) -> list[str]:
        return self.competition.classes

    @property
    def multilabel(self) -> bool:
        """Labels are rows of 0/1 tags (N, C), not one class index per image."""
        return self.labels.ndim == 2

    def with_split(self, split: Split) -> "ImageData":
        return dataclasses.replace(
            self, train_index=split.train_index, val_index=split.val_index, fold=split.fold
        )


def competition_root(cfg) -> Path:
    if cfg.name == "demo":
        root = cfg.root or Path(cfg.cache_dir).expanduser() / "competitions" / "digits"
        return materialise_demo(Path(root))
    if not cfg.root:
        raise ConfigError(
            "data.root is not set: pass data.root=/path/to/competition (a folder with train/ and test/)"
        )
    return Path(cfg.root)


def dataset_fingerprint(competition: Competition) -> str:
    """Of every train and test file (paths, sizes, mtimes): recorded with each run, compared on rerun."""
    return fingerprint(competition.train_files + competition.test_files)


def _check_corrupt(kind: str, files: list[Path], corrupt: list[Path], max_fraction: float) -> None:
    if not corrupt:
        return
    share = len(corrupt) / len(files)
    first = ", ".join(str(p) for p in corrupt[:3])
    if share > max_fraction:
        raise DataError(
            f"{len(corrupt)} of {len(files)} {kind} images ({share:.0%}) cannot be decoded "
            f"(first: {first}), more than data.max_corrupt_fraction={max_fraction}; fix or remove them"
        )
    what = "skipped" if kind == "train" else "predicted from a blank image"
    log.warning(
        "%d of %d %s images cannot be decoded and are %s (first: %s)",
        len(corrupt),
        len(files),
        kind,
        what,
        first,
    )


def load_data(cfg, show_progress: bool | None = None) -> ImageData:
    """Read the competition in cfg.data, decode it (or reuse its cache) and split it."""
    competition = read_competition(competition_root(cfg), cfg)
    if cfg.img_size < 1:
        raise ConfigError(f"data.img_size={cfg.img_size} must be a positive number of pixels")
    shown = ", ".join(competition.classes[:5]) + (", ..." if len(competition.classes) > 5 else "")
    log.info("competition %s: %s; classes: %s", competition.root, competition.description, shown)
    cache_dir = Path(cfg.cache_dir).expanduser() if cfg.cache else None
    # Stat every file once: the stamps give both cache keys and the dataset fingerprint.
    train_stamps, test_stamps = file_stamps(competition.train_files), file_stamps(competition.test_files)
    threads = decode_threads(cfg.num_workers)
    train = load_images(
        competition.train_files, cfg.img_size, cache_dir, threads, train_stamps, show_progress
    )
    test = load_images(competition.test_files, cfg.img_size, cache_dir, threads, test_stamps, show_progress)
    _check_corrupt("train", competition.train_files, train.corrupt, cfg.max_corrupt_fraction)
    _check_corrupt("test", competition.test_files, test.corrupt, cfg.max_corrupt_fraction)

    # multiclass: (N,) class indices; multilabel: (N, C) 0/1 rows
    labels = np.asarray(competition.train_labels, dtype=np.uint8 if competition.multilabel else np.int64)
    corrupt_set = set(train.corrupt)
    usable = np.array([p not in corrupt_set for p in competition.train_files])
    usable_rows = np.flatnonzero(usable)  # map split positions back to rows of the image array
    splits = [
        Split(s.fold, usable_rows[s.train_index], usable_rows[s.val_index])
        for s in make_splits(labels[usable], cfg)
    ]
    return ImageData(
        competition=competition,
        images=train.pixels,
        labels=labels,
        train_index=splits[0].train_index,
        val_index=splits[0].val_index,
        test_images=test.pixels,
        fingerprint=hash_stamps(train_stamps + test_stamps),  # = dataset_fingerprint(competition)
        cache_keys=(train.cache_key, test.cache_key),
        corrupt=train.corrupt + test.corrupt,
        splits=tuple(splits),
        fold=splits[0].fold,
    )


def channel_stats(
    data: ImageData, max_images: int = 2048, batch_size: int = 16
) -> tuple[list[float], list[float]]:
    """Per-channel mean and std (0..1 scale) of up to max_images training images."""
    rows = np.sort(data.train_index[:: max(1, len(data.train_index) // max_images)])
    # In batches: a float32 copy of 2,048 images at 444 px would be 4.8 GB; 16 take 38 MB.
    total, squares = np.zeros(3), np.zeros(3)
    for start in range(0, len(rows), batch_size):
        x = data.images[rows[start : start + batch_size]].astype(np.float32)
        total += x.sum(axis=(0, 2, 3), dtype=np.float64)
        x *= x
        squares += x.sum(axis=(0, 2, 3), dtype=np.float64)
    count = len(rows) * data.images.shape[2] * data.images.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    return (mean / 255.0).tolist(), (std / 255.0 + 1e-6).tolist()
