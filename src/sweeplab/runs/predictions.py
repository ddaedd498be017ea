"""A run's stored probabilities (`predictions/*.npz`): what `sweeplab ensemble` averages and scores."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sweeplab.protocol import Artifact, Tag


@dataclass
class ValProbs:
    """Validation probabilities (out of fold with folds) and what aligns them across runs."""

    probs: np.ndarray  # (rows, classes)
    rows: np.ndarray  # indices of the train images
    labels: np.ndarray  # their labels


def write_test_probs(path: Path, probs: np.ndarray, ids) -> Path:
    """Test probabilities (float32, test-id order) with the ids they belong to; return the path."""
    np.savez_compressed(path, probs=probs.astype(np.float32), ids=np.asarray(ids))
    return path


def write_val_probs(path: Path, probs: np.ndarray, rows: np.ndarray, labels: np.ndarray) -> Path:
    """Validation probabilities (float32) with their train rows and labels; return the path."""
    np.savez_compressed(path, probs=probs.astype(np.float32), rows=rows, labels=labels)
    return path


def read_test_probs(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(probs, ids) as write_test_probs wrote them."""
    with np.load(path) as stored:
        return stored["probs"], stored["ids"]


def read_val_probs(path: Path) -> ValProbs:
    with np.load(path) as stored:
        return ValProbs(stored["probs"], stored["rows"], stored["labels"])


def rounded(thresholds) -> list[float]:
    """Thresholds as stored (JSON and the sweeplab.thresholds tag): four decimals, the grid's steps exact."""
    return [round(float(t), 4) for t in thresholds]


def log_thresholds(tracker, folder: Path, classes: list[str], metric: str, best, last) -> None:
    """A multi-label run's per-class thresholds, the best epoch's and the last's (what its two submissions
    used), onto the run: `predictions/thresholds.json` and, the best ones, the sweeplab.thresholds tag
    (what a refit of it reads, with no validation to tune on)."""
    shown = {"classes": list(classes), "metric": str(metric), "best": rounded(best), "last": rounded(last)}
    path = folder / Artifact.THRESHOLDS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(shown, indent=2))
    tracker.log_artifact(path, "predictions")
    tracker.set_tags({Tag.THRESHOLDS: json.dumps(shown["best"])})
