"""Kaggle's metrics written again, small and plain (Python lists, no sklearn, no sweeplab code), to check
sweeplab's scores and the files it writes against something that shares none of its code; and a bare
Competition for the submission and the solution."""

import math
from pathlib import Path

import numpy as np

from sweeplab.data.competition import Competition

CLIP = 1e-15


def accuracy(truth: list, predicted: list) -> float:
    return sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth)


def macro_f1(truth: list, predicted: list, classes: list) -> float:
    scores = []
    for c in classes:
        tp = sum(t == c and p == c for t, p in zip(truth, predicted, strict=True))
        both = truth.count(c) + predicted.count(c)
        scores.append(2 * tp / both if both else 0.0)
    return sum(scores) / len(scores)


def log_loss(truth_rows: list[list[int]], prob_rows: list[list[float]]) -> float:
    """Kaggle's multi-class log loss: clip to [1e-15, 1 - 1e-15], normalise each row, mean -sum y log p."""
    total = 0.0
    for y, p in zip(truth_rows, prob_rows, strict=True):
        clipped = [min(max(v, CLIP), 1 - CLIP) for v in p]
        s = sum(clipped)
        total -= sum(yi * math.log(pi / s) for yi, pi in zip(y, clipped, strict=True))
    return total / len(truth_rows)


def binary_log_loss(truth: list[int], p: list[float]) -> float:
    """One probability column: the positive class's probability, 1 - it the other's."""
    return log_loss([[1 - t, t] for t in truth], [[1 - v, v] for v in p])


def columnwise_log_loss(truth_rows: list[list[int]], prob_rows: list[list[float]]) -> float:
    columns = range(len(truth_rows[0]))
    per_column = [binary_log_loss([r[j] for r in truth_rows], [r[j] for r in prob_rows]) for j in columns]
    return sum(per_column) / len(per_column)


def auc(truth: list[int], scores: list[float]) -> float:
    """The probability that a positive outscores a negative (ties count half): Mann-Whitney."""
    pos = [s for t, s in zip(truth, scores, strict=True) if t == 1]
    neg = [s for t, s in zip(truth, scores, strict=True) if t == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def mean_columnwise_auc(truth_rows: list[list[int]], prob_rows: list[list[float]]) -> float:
    aucs = []
    for j in range(len(truth_rows[0])):
        column = [r[j] for r in truth_rows]
        if 0 < sum(column) < len(column):
            aucs.append(auc(column, [r[j] for r in prob_rows]))
    return sum(aucs) / len(aucs)


def mean_f2(truth_sets: list[set], predicted_sets: list[set]) -> float:
    total = 0.0
    for t, p in zip(truth_sets, predicted_sets, strict=True):
        tp = len(t & p)
        if tp:
            precision, recall = tp / len(p), tp / len(t)
            total += 5 * precision * recall / (4 * precision + recall)
    return total / len(truth_sets)


def quadratic_weighted_kappa(truth: list[int], predicted: list[int], num_classes: int) -> float:
    """1 - sum(w O) / sum(w E), w = (i - j)^2 / (C - 1)^2, E the outer product of the histograms / N."""
    n, c = len(truth), num_classes
    observed = [[0] * c for _ in range(c)]
    for t, p in zip(truth, predicted, strict=True):
        observed[t][p] += 1
    hist_t = [truth.count(i) for i in range(c)]
    hist_p = [predicted.count(i) for i in range(c)]
    num = den = 0.0
    for i in range(c):
        for j in range(c):
            w = (i - j) ** 2 / (c - 1) ** 2
            num += w * observed[i][j]
            den += w * hist_t[i] * hist_p[j] / n
    return 1 - num / den


def map_at_k(truth: list, predicted_lists: list[list], k: int) -> float:
    total = 0.0
    for t, predicted in zip(truth, predicted_lists, strict=True):
        for position, label in enumerate(predicted[:k]):
            if label == t:
                total += 1 / (1 + position)
                break
    return total / len(truth)


def bare_competition(
    classes: list[str],
    test_ids: list[str],
    task: str = "multiclass",
    columns: tuple[str, ...] = (),
    values: tuple[str, ...] = (),
    id_column: str = "id",
    label_column: str = "label",
) -> Competition:
    """A Competition with classes, test ids and a sample's header and values, and no images: what the
    submission and the solution need."""
    return Competition(
        root=Path("."),
        classes=list(classes),
        train_files=[],
        train_labels=np.zeros(0, dtype=np.int64),
        test_files=[],
        test_ids=list(test_ids),
        id_column=id_column,
        label_column=label_column,
        task=task,
        submission_columns=tuple(columns),
        sample_values=tuple(values),
    )
