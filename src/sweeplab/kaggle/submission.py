"""Kaggle submission files: one row per test id, in the sample submission's order and columns."""

import csv
from pathlib import Path

import numpy as np

from sweeplab.data.competition import Competition


def write_submission(path: Path, competition: Competition, probs: np.ndarray) -> Path:
    """Write the predicted class name of every test image; return the path."""
    labels = [competition.classes[i] for i in probs.argmax(1)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([competition.id_column, competition.label_column])
        writer.writerows(zip(competition.test_ids, labels, strict=True))
    return path
