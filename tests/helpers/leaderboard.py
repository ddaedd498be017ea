"""An independent scorer of Kaggle submissions, written from Kaggle's metric definitions only.

It imports nothing from sweeplab: the end-to-end tests check the scores sweeplab logs against it. It reads
a submission CSV and solution.csv in Kaggle's shape (the submission's columns holding the truth, plus
`Usage`), keeps the rows of one Usage, lines the submission up with them by id, and scores:

- accuracy: labels equal (tags: the same set); on probability columns, the argmax is the true column
- macro_f1: the F1 of each label (each tag, for tag sets), averaged
- roc_auc: one probability column against 0/1
- log_loss: probability columns against one-hot truth, each p clipped to [1e-15, 1 - 1e-15] and each row
  divided by its sum (Dog Breed's rules); one column, or tags: binary log loss, averaged over the columns
- mean_columnwise_roc_auc: ROC AUC per column, averaged over the columns where both 0 and 1 occur
- mean_f2: per image F-beta (beta 2) of the predicted and the true tag sets, 0 with no tag right, averaged
- quadratic_weighted_kappa: Cohen's kappa with weights (i - j)^2 over the ratings min..max
- map_at_k: 1/position of the one true label among the first 5 predictions (first occurrence), averaged
"""

from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, roc_auc_score

EPS = 1e-15  # Kaggle's clipping of log loss probabilities
K = 5  # MAP@5: Humpback Whale Identification's
F2 = 2.0  # beta of Planet's F-beta
EXHAUSTIVE_TAGS = 12  # the best constant tag set is searched over every subset up to this many tags
LOWER_IS_BETTER = frozenset({"log_loss"})


def score(submission_csv: Path, solution_csv: Path, metric: str, usage: str | None = "Public") -> float:
    """The submission's score on the solution's rows of `usage` (None: every row)."""
    solution = _solution_rows(solution_csv, usage)
    submission = pd.read_csv(submission_csv, dtype=str, keep_default_na=False)
    return _score(_aligned(submission, solution), solution, metric)


def constant_score(solution_csv: Path, metric: str, usage: str | None = "Public") -> float:
    """The score of the best trivial submission on those rows: the largest class, the prior
    probabilities, 0.5 for a ROC AUC, the best fixed tag set, the most frequent labels in order."""
    solution = _solution_rows(solution_csv, usage)
    return _score(_constant(solution, metric), solution, metric)


def beats(value: float, other: float, metric: str) -> bool:
    return value < other if metric in LOWER_IS_BETTER else value > other


def _solution_rows(solution_csv: Path, usage: str | None) -> pd.DataFrame:
    solution = pd.read_csv(solution_csv, dtype=str, keep_default_na=False)
    if usage is not None:
        solution = solution[solution["Usage"] == usage]
    if solution.empty:
        raise ValueError(f"{solution_csv} has no rows of Usage {usage}")
    return solution.drop(columns="Usage").reset_index(drop=True)


def _aligned(submission: pd.DataFrame, solution: pd.DataFrame) -> pd.DataFrame:
    """The submission's rows in the solution's order and its columns in the solution's."""
    if set(submission.columns) != set(solution.columns) or submission.columns[0] != solution.columns[0]:
        raise ValueError(f"submission columns {list(submission.columns)} != {list(solution.columns)}")
    by_id = submission.set_index(submission.columns[0])
    if by_id.index.duplicated().any():
        raise ValueError("the submission repeats ids")
    missing = set(solution.iloc[:, 0]) - set(by_id.index)
    if missing:
        raise ValueError(f"the submission lacks {len(missing)} ids, e.g. {sorted(missing)[:3]}")
    return by_id.loc[solution.iloc[:, 0]].reset_index()[list(solution.columns)]


def _score(submission: pd.DataFrame, solution: pd.DataFrame, metric: str) -> float:
    predicted, truth = submission.iloc[:, 1:], solution.iloc[:, 1:]
    if metric not in _METRICS:
        raise ValueError(f"unknown metric {metric}; known: {', '.join(_METRICS)}")
    return float(_METRICS[metric](predicted, truth))


def _number(value: str) -> str:
    """A label as written: "1.0" and "1" are the same label."""
    try:
        number = float(value)
    except ValueError:
        return value.strip()
    return str(int(number)) if number.is_integer() else str(number)


def _labels(column: pd.Series) -> list[str]:
    return [_number(v) for v in column]


def _tag_sets(column: pd.Series) -> list[frozenset]:
    return [frozenset(_number(t) for t in v.split()) for v in column]


def _floats(frame: pd.DataFrame) -> np.ndarray:
    return frame.to_numpy(dtype=np.float64)


def _accuracy(predicted: pd.DataFrame, truth: pd.DataFrame) -> float:
    if predicted.shape[1] > 1:  # probability columns: the most probable is the true one
        return np.mean(_floats(predicted).argmax(axis=1) == _floats(truth).argmax(axis=1))
    pairs = zip(_tag_sets(predicted.iloc[:, 0]), _tag_sets(truth.iloc[:, 0]), strict=True)
    return np.mean([p == t for p, t in pairs])


def _macro_f1(predicted: pd.DataFrame, truth: pd.DataFrame) -> float:
    true, guessed = _tag_sets(truth.iloc[:, 0]), _tag_sets(predicted.iloc[:, 0])
    if all(len(t) == 1 for t in true):
        return f1_score(_labels(truth.iloc[:, 0]), _labels(predicted.iloc[:, 0]), average="macro")
    # Tags: each tag's F1 over the images, averaged (0 for a tag neither true nor predicted).
    tags = sorted(set().union(*true, *guessed))
    binary = [[[tag in row for tag in tags] for row in rows] for rows in (true, guessed)]
    return f1_score(*np.array(binary), average="macro", zero_division=0)


def _roc_auc(predicted: pd.DataFrame, truth: pd.DataFrame) -> float:
    if predicted.shape[1] != 1:
        raise ValueError("roc_auc scores one probability column")
    return roc_auc_score(_floats(truth)[:, 0].astype(int), _floats(predicted)[:, 0])


def _log_loss(predicted: pd.DataFrame, truth: pd.DataFrame) -> float:
    probs = np.clip(_floats(predicted), EPS, 1 - EPS)
    truth = _floats(truth)
    if probs.shape[1] == 1 or (truth.sum(axis=1) != 1).any():  # binary, or tags: each column's, averaged
        return -np.mean(truth * np.log(probs) + (1 - truth) * np.log(1 - probs))
    probs = probs / probs.sum(axis=1, keepdims=True)
    return -np.mean(np.log((probs * truth).sum(axis=1)))


def _mean_columnwise_roc_auc(predicted: pd.DataFrame, truth: pd.DataFrame) -> float:
    probs, truth = _floats(predicted), _floats(truth).astype(int)
    scorable = [c for c in range(truth.shape[1]) if len(set(truth[:, c])) == 2]
    return np.mean([roc_auc_score(truth[:, c], probs[:, c]) for c in scorable]) if scorable else np.nan


def _mean_f2(predicted: pd.DataFrame, truth: pd.DataFrame) -> float:
    scores = []
    for p, t in zip(_tag_sets(predicted.iloc[:, 0]), _tag_sets(truth.iloc[:, 0]), strict=True):
        right = len(p & t)
        if right == 0:  # also an empty prediction
            scores.append(0.0)
            continue
        precision, recall = right / len(p), right / len(t)
        scores.append((1 + F2**2) * precision * recall / (F2**2 * precision + recall))
    return np.mean(scores)


def _quadratic_weighted_kappa(predicted: pd.DataFrame, truth: pd.DataFrame) -> float:
    a = np.array([int(float(v)) for v in truth.iloc[:, 0]])
    b = np.array([int(float(v)) for v in predicted.iloc[:, 0]])
    low, n = min(a.min(), b.min()), max(a.max(), b.max()) - min(a.min(), b.min()) + 1
    if n == 1:
        return 1.0
    observed = np.zeros((n, n))
    np.add.at(observed, (a - low, b - low), 1)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / len(a)
    i, j = np.indices((n, n))
    weights = (i - j) ** 2 / (n - 1) ** 2
    return 1 - (weights * observed).sum() / (weights * expected).sum()


def _map_at_k(predicted: pd.DataFrame, truth: pd.DataFrame) -> float:
    scores = []
    for guesses, true in zip(predicted.iloc[:, 0], truth.iloc[:, 0], strict=True):
        first = guesses.split()[:K]
        scores.append(1 / (first.index(true) + 1) if true in first else 0.0)
    return np.mean(scores)


_METRICS = {
    "accuracy": _accuracy,
    "macro_f1": _macro_f1,
    "roc_auc": _roc_auc,
    "log_loss": _log_loss,
    "mean_columnwise_roc_auc": _mean_columnwise_roc_auc,
    "mean_f2": _mean_f2,
    "quadratic_weighted_kappa": _quadratic_weighted_kappa,
    "map_at_k": _map_at_k,
}


def _constant(solution: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The best trivial submission for `metric`, in the solution's columns."""
    constant = solution.copy()
    truth = solution.iloc[:, 1:]
    if metric in ("roc_auc", "mean_columnwise_roc_auc"):
        constant.iloc[:, 1:] = "0.5"  # any constant ranks every image alike: AUC 0.5
    elif metric == "mean_f2":
        constant.iloc[:, 1] = " ".join(sorted(_best_tag_set(truth.iloc[:, 0])))
    elif metric == "map_at_k":
        counts = pd.Series(truth.iloc[:, 0]).value_counts()
        ranked = sorted(counts.index, key=lambda label: (-counts[label], label))
        constant.iloc[:, 1] = " ".join(ranked[:K])
    elif truth.shape[1] > 1 or metric == "log_loss":  # probability columns: the priors
        for column, prior in zip(truth.columns, _floats(truth).mean(axis=0), strict=True):
            constant[column] = repr(float(prior))
    else:  # one label column: the largest class (kappa 0, the best F1 of any one label), or tag set
        counts = pd.Series(_tag_sets(truth.iloc[:, 0])).value_counts()
        largest = sorted(counts.index, key=lambda labels: (-counts[labels], sorted(labels)))[0]
        constant.iloc[:, 1] = " ".join(sorted(largest))
    return constant


def _best_tag_set(column: pd.Series) -> tuple[str, ...]:
    """The fixed tag set with the best mean F2 over these rows: every subset of the tags when there are
    few, else the best run of the most frequent ones."""
    sets = _tag_sets(column)
    tags = sorted(set().union(*sets), key=lambda t: (-sum(t in s for s in sets), t))
    truth = np.array([[t in s for t in tags] for s in sets], dtype=np.float64)
    if len(tags) <= EXHAUSTIVE_TAGS:
        candidates = [c for r in range(1, len(tags) + 1) for c in combinations(range(len(tags)), r)]
    else:
        candidates = [tuple(range(r)) for r in range(1, len(tags) + 1)]
    chosen = np.zeros((len(candidates), len(tags)))
    for row, candidate in enumerate(candidates):
        chosen[row, list(candidate)] = 1
    # F-beta = (1 + b^2) TP / (b^2 |truth| + |predicted|): 0 exactly when no tag is right.
    right = truth @ chosen.T
    f2 = (1 + F2**2) * right / (F2**2 * truth.sum(axis=1, keepdims=True) + chosen.sum(axis=1))
    best = candidates[int(f2.mean(axis=0).argmax())]
    return tuple(tags[i] for i in best)
