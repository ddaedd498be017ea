"""The `data` config group: a competition folder turned into cached uint8 tensors and a split."""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sweeplab.data.competition import Competition, read_competition
from sweeplab.data.demo import materialise_demo
from sweeplab.data.images import decode_threads, file_stamps, fingerprint, hash_stamps, load_images
from sweeplab.errors import ConfigError, DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageData:
    competition: Competition
    images: np.ndarray  # (N, 3, S, S) uint8 train images, memory-mapped
    labels: np.ndarray  # (N,) int64
    train_index: np.ndarray  # rows of `images` used for training
    val_index: np.ndarray  # rows held out for validation (stratified)
    test_images: np.ndarray  # (M, 3, S, S) uint8, in submission order
    fingerprint: str  # of every train and test file (paths, sizes, mtimes)
    cache_keys: tuple[str, str]
    corrupt: list[Path]

    @property
    def classes(self) -> list[str]:
        return self.competition.classes


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


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hold out val_fraction of every class (at least one image of classes with two or more)."""
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"data.val_fraction={val_fraction} must be between 0 and 1 (exclusive), e.g. 0.2")
    rng = np.random.default_rng(seed)
    val = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_val = round(len(members) * val_fraction)
        if len(members) >= 2:
            n_val = min(max(n_val, 1), len(members) - 1)
        val.append(members[:n_val])
    val_index = np.sort(np.concatenate(val))
    train_index = np.setdiff1d(np.arange(len(labels)), val_index)
    return train_index, val_index


def train_subset(index: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A stratified, seeded fraction of the training rows (at least one per class), sorted.

    Drawn as a prefix of one fixed permutation per class, so it is the same for every trial of a
    study and a larger fraction contains a smaller one.
    """
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(
            f"data.train_subset={fraction} must be in (0, 1]: e.g. 0.2 to sweep on a fifth of the "
            "training images, 1.0 to train on all of them"
        )
    if fraction == 1.0:
        return index
    rng = np.random.default_rng([seed, 1])  # its own stream: the split's draws stay as they were
    kept = []
    for label in np.unique(labels[index]):
        members = rng.permutation(index[labels[index] == label])
        kept.append(members[: max(1, round(len(members) * fraction))])
    return np.sort(np.concatenate(kept))


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
    competition = read_competition(competition_root(cfg))
    if cfg.img_size < 1:
        raise ConfigError(f"data.img_size={cfg.img_size} must be a positive number of pixels")
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

    labels = np.asarray(competition.train_labels, dtype=np.int64)
    corrupt_set = set(train.corrupt)
    usable = np.array([p not in corrupt_set for p in competition.train_files])
    train_index, val_index = stratified_split(labels[usable], cfg.val_fraction, cfg.split_seed)
    usable_rows = np.flatnonzero(usable)  # map split positions back to rows of the image array
    train_rows = train_subset(usable_rows[train_index], labels, cfg.train_subset, cfg.split_seed)
    return ImageData(
        competition=competition,
        images=train.pixels,
        labels=labels,
        train_index=train_rows,
        val_index=usable_rows[val_index],
        test_images=test.pixels,
        fingerprint=hash_stamps(train_stamps + test_stamps),  # = dataset_fingerprint(competition)
        cache_keys=(train.cache_key, test.cache_key),
        corrupt=train.corrupt + test.corrupt,
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
