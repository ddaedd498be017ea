"""Which rows train and which validate: the stratified holdout, the k folds and the training subset."""

from dataclasses import dataclass

import numpy as np

from sweeplab.errors import ConfigError


@dataclass(frozen=True)
class Split:
    """One model's training and validation rows: the holdout (fold None) or fold `fold` of K."""

    fold: int | None
    train_index: np.ndarray
    val_index: np.ndarray


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hold out val_fraction of every class (at least one image of classes with two or more); 0: none."""
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(
            f"data.val_fraction={val_fraction} must be in [0, 1), e.g. 0.2 (0: no validation, a refit)"
        )
    if val_fraction == 0.0:
        return np.arange(len(labels)), np.array([], dtype=np.int64)
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


def check_folds(labels: np.ndarray, folds: int, fold: int | None) -> None:
    """data.folds and data.fold the labels allow; refused before anything is recorded."""
    if folds < 1:
        raise ConfigError(f"data.folds={folds} must be at least 1 (1: one holdout of data.val_fraction)")
    if fold is not None and folds == 1:
        raise ConfigError(f"data.fold={fold} needs k-fold validation: set data.folds=K (K >= 2) too")
    if fold is not None and not 0 <= fold < folds:
        raise ConfigError(f"data.fold={fold} must be in 0..{folds - 1} for data.folds={folds}")
    if folds > 1:
        counts = np.bincount(labels)
        smallest = int(counts[counts > 0].min())
        if folds > smallest:
            raise ConfigError(
                f"data.folds={folds} is more than the {smallest} images of the smallest class: every fold "
                f"needs one of each; use data.folds={smallest} or fewer"
            )


def check_validation(cfg, in_study: bool) -> None:
    """No validation (data.val_fraction=0) means no objective: refused for a study's trial."""
    if in_study and cfg.val_fraction == 0 and cfg.folds == 1:
        raise ConfigError(
            "data.val_fraction=0 trains without validation, so a trial has no objective to report; "
            "sweep with a holdout or data.folds=K, then `sweeplab refit --best STUDY`"
        )


def stratified_folds(labels: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """The validation rows of each of `folds` folds: disjoint, covering every row once, stratified.

    Each class is permuted once (seeded) and dealt round-robin, so fold sizes per class differ by at
    most one, and every trial and rerun with the same seed gets the same folds.
    """
    check_folds(labels, folds, None)
    rng = np.random.default_rng([seed, 2])  # its own stream: the holdout's and the subset's draws stay
    members = [[] for _ in range(folds)]
    start = 0
    for label in np.unique(labels):
        for j, row in enumerate(rng.permutation(np.flatnonzero(labels == label))):
            # Dealing continues where the last class stopped: folds also differ by at most one in size.
            members[(start + j) % folds].append(row)
        start += int((labels == label).sum())
    return [np.sort(np.array(m, dtype=np.int64)) for m in members]


def strata(labels: np.ndarray, min_count: int) -> np.ndarray:
    """What the splits stratify on: the class, or for multi-label rows (N, C) the combination of tags.

    Combinations seen fewer than min_count times (a fold or the holdout could not get one of each) are
    pooled into one stratum; a pool still smaller than that joins the most common combination. This
    keeps every frequent combination's share in every fold, which for the few tags per image of a Kaggle
    multi-label competition (Planet: 17 tags, 449 combinations, most of its 40k images in a few dozen)
    is close to iterative stratification, with no extra dependency.
    """
    if labels.ndim == 1:
        return labels
    _, key, counts = np.unique(labels, axis=0, return_inverse=True, return_counts=True)
    key = key.reshape(-1)
    rare = counts[key] < min_count
    if rare.any():
        pooled = len(counts)  # a new stratum id after every combination's
        key = np.where(rare, pooled, key)
        if rare.sum() < min_count:
            key = np.where(rare, int(np.argmax(counts)), key)
    return np.unique(key, return_inverse=True)[1].reshape(-1)


def make_splits(labels: np.ndarray, cfg) -> list[Split]:
    """The holdout (data.folds=1) or the folds this job trains (all, or data.fold's), in row numbers
    of `labels` (class indices, or multi-label rows: stratified by their tag combination); data.
    train_subset is drawn from each training part."""
    labels = strata(labels, max(2, cfg.folds))
    check_folds(labels, cfg.folds, cfg.get("fold"))
    if cfg.folds == 1:
        train, val = stratified_split(labels, cfg.val_fraction, cfg.split_seed)
        return [Split(None, train_subset(train, labels, cfg.train_subset, cfg.split_seed), val)]
    every = np.arange(len(labels))
    splits = []
    for i, val in enumerate(stratified_folds(labels, cfg.folds, cfg.split_seed)):
        if cfg.get("fold") is None or cfg.fold == i:
            train = np.setdiff1d(every, val)
            splits.append(Split(i, train_subset(train, labels, cfg.train_subset, cfg.split_seed), val))
    return splits


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
