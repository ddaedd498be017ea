"""Score test predictions against a Kaggle-style solution.csv (Public / Private / Ignored rows)."""

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

from sweeplab.errors import ConfigError, DataError
from sweeplab.kaggle.orientation import METRICS


def check_metric(metric: str, num_classes: int) -> None:
    """Refuse an unknown metric, or ROC-AUC on more than two classes, before anything is trained."""
    if metric not in METRICS:
        raise ConfigError(f"data.metric={metric!r} is unknown; valid: {', '.join(METRICS)}")
    if metric == "roc_auc" and num_classes != 2:
        raise ConfigError(
            f"data.metric=roc_auc needs a binary competition, this one has {num_classes} classes"
        )


def metric_score(metric: str, labels: np.ndarray, probs: np.ndarray) -> float:
    """The competition metric of class probabilities against true class indices."""
    check_metric(metric, probs.shape[1])
    if metric == "accuracy":
        return float(accuracy_score(labels, probs.argmax(1)))
    if metric == "macro_f1":
        return float(
            f1_score(labels, probs.argmax(1), average="macro", labels=range(probs.shape[1]), zero_division=0)
        )
    if metric == "roc_auc":
        if len(set(labels.tolist())) < 2:
            return float("nan")  # undefined with one class present
        return float(roc_auc_score(labels, probs[:, 1]))
    return float(log_loss(labels, np.clip(probs, 1e-15, 1.0), labels=range(probs.shape[1])))


@dataclass(frozen=True)
class Solution:
    """The solution's rows aligned to the submission's test ids."""

    labels: np.ndarray  # class index per test id
    public: np.ndarray  # boolean mask over test ids
    private: np.ndarray

    def scores(self, metric: str, probs: np.ndarray) -> dict[str, float]:
        """kaggle/public and kaggle/private of one submission's probabilities (test-id order)."""
        found = {}
        for name, mask in (("public", self.public), ("private", self.private)):
            if mask.any():
                found[f"kaggle/{name}"] = metric_score(metric, self.labels[mask], probs[mask])
        return found


def read_solution(
    path: Path, test_ids: list[str], classes: list[str], label_column: str = "label"
) -> Solution:
    """Align solution.csv to the test ids; refuse mismatched ids or unknown labels, naming the first ones."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "Usage" not in rows[0]:
        raise DataError(f"{path} needs the columns id, {label_column} and Usage (Public/Private/Ignored)")
    id_column = next(iter(rows[0]))
    label_key = label_column if label_column in rows[0] else list(rows[0])[1]
    by_id = {row[id_column]: row for row in rows}
    missing = [i for i in test_ids if i not in by_id]
    extra = [i for i in by_id if i not in set(test_ids)]
    if missing or extra:
        raise DataError(
            f"{path} does not match the test images: ids without a solution row: {missing[:5]}; "
            f"solution rows without a test image: {extra[:5]}"
        )
    unknown = sorted({by_id[i][label_key] for i in test_ids} - set(classes))
    if unknown:
        raise DataError(
            f"{path} has labels that are not training classes: {unknown[:5]} (classes: {classes[:10]})"
        )
    usage = [by_id[i]["Usage"].strip().lower() for i in test_ids]
    return Solution(
        labels=np.array([classes.index(by_id[i][label_key]) for i in test_ids]),
        public=np.array([u == "public" for u in usage]),
        private=np.array([u == "private" for u in usage]),
    )
