"""Score test predictions against a Kaggle-style solution.csv (Public / Private / Ignored rows).

Kaggle's solution has the submission's columns, holding the truth, plus Usage: a one-hot row under
class-named probability columns, the label, the tags, or 0/1 under a single probability column; today's
id,label,Usage is the label case.
"""

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sweeplab.data.competition import Competition
from sweeplab.errors import ConfigError, DataError
from sweeplab.offline import is_integer_name, positive_class
from sweeplab.protocol import Metric
from sweeplab.scoring.measures import metric_score
from sweeplab.scoring.submission import Submission, Thresholds


@dataclass(frozen=True)
class Solution:
    """The solution's rows aligned to the submission's test ids."""

    truth: np.ndarray  # class index per test id (N,), or 0/1 tag rows (N, C) for a multi-label competition
    public: np.ndarray  # boolean mask over test ids
    private: np.ndarray

    def scores(
        self, metric: str, submission: Submission, probs: np.ndarray, thresholds: Thresholds = None
    ) -> dict[str, float]:
        """kaggle/public and kaggle/private of the file these probabilities (test-id order) would write."""
        written = submission.written(probs, thresholds)  # once for both halves
        found = {}
        for name, mask in (("public", self.public), ("private", self.private)):
            if mask.any():
                found[f"kaggle/{name}"] = metric_score(
                    metric, self.truth[mask], written[mask], top_k=submission.fmt.top_k
                )
        return found


def read_solution(path: Path, competition: Competition) -> Solution:
    """Align solution.csv to the test ids; refuse mismatched ids or unknown labels, naming the first ones."""
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0] if rows else []
    if "Usage" not in header or len(header) < 3:
        raise DataError(
            f"{path} needs an id column, the submission's columns holding the truth, and Usage "
            f"(Public/Private/Ignored), e.g. {competition.id_column},{competition.label_column},Usage; "
            f"it has {header}"
        )
    usage_at = header.index("Usage")
    value_at = [i for i in range(1, len(header)) if i != usage_at]
    by_id = {row[0]: row for row in rows[1:] if row}
    test_ids, known = competition.test_ids, set(competition.test_ids)
    missing = [i for i in test_ids if i not in by_id]
    extra = [i for i in by_id if i not in known]
    if missing or extra:
        raise DataError(
            f"{path} does not match the test images: ids without a solution row: {missing[:5]}; "
            f"solution rows without a test image: {extra[:5]}"
        )
    ordered = [by_id[i] for i in test_ids]
    if len(value_at) > 1:
        truth = _one_hot_truth(path, competition, [header[i] for i in value_at], ordered, value_at)
    else:
        truth = _column_truth(path, competition, [row[value_at[0]] for row in ordered])
    usage = [row[usage_at].strip().lower() for row in ordered]
    return Solution(
        truth=truth,
        public=np.array([u == "public" for u in usage]),
        private=np.array([u == "private" for u in usage]),
    )


def job_solution(competition: Competition, objectives: list[tuple[str, str]]) -> Solution | None:
    """The competition's solution.csv, scored every epoch as Kaggle would; required by test objectives."""
    solution = None
    if competition.solution_path is not None:
        solution = read_solution(competition.solution_path, competition)
    missing = [m for m, _ in objectives if m in Metric.TEST and solution is None]
    if missing:
        raise ConfigError(
            f"objective.metric={missing[0]} needs a solution.csv in {competition.root}; "
            "use val/acc or record Kaggle scores with `sweeplab kaggle record`"
        )
    return solution


def _one_hot_truth(
    path: Path, competition: Competition, columns: list[str], rows: list[list[str]], value_at: list[int]
) -> np.ndarray:
    """Class-named columns of 0/1 (a probability submission's truth): the row, or the 1's index."""
    classes = competition.classes
    if sorted(columns) != sorted(classes):
        raise DataError(
            f"{path}'s columns are not the training classes: columns the classes lack: "
            f"{[c for c in columns if c not in classes][:10]}; classes the columns lack: "
            f"{[c for c in classes if c not in columns][:10]}"
        )
    order = [value_at[columns.index(c)] for c in classes]  # the columns in the classes' order
    try:
        hot = np.array([[float(row[i]) for i in order] for row in rows])
    except ValueError as error:
        raise DataError(f"{path} holds a value that is not 0 or 1 under a class column ({error})") from None
    if not np.isin(hot, (0.0, 1.0)).all():
        raise DataError(f"{path} holds values other than 0 and 1 under its class columns")
    if competition.multilabel:
        return hot.astype(np.uint8)
    not_one = np.flatnonzero(hot.sum(1) != 1)
    if not_one.size:
        raise DataError(
            f"{path}: the row of id {competition.test_ids[not_one[0]]} has {int(hot[not_one[0]].sum())} "
            f"ones under the class columns; a multi-class solution has exactly one (for several tags "
            "set data.task=multilabel)"
        )
    return hot.argmax(1)


def _column_truth(path: Path, competition: Competition, values: list[str]) -> np.ndarray:
    """One column: tags (multi-label), class names, class indices, or 0/1 of a probability column."""
    classes = competition.classes
    index = {c: i for i, c in enumerate(classes)}
    if competition.multilabel:
        tags = [value.split() for value in values]
        unknown = {t for row in tags for t in row} - set(index)
        if unknown:
            raise _unknown_labels(path, unknown, classes)
        truth = np.zeros((len(values), len(classes)), dtype=np.uint8)
        for row, names in enumerate(tags):
            truth[row, [index[t] for t in names]] = 1
        return truth
    if all(v in index for v in values):
        return np.array([index[v] for v in values], dtype=np.int64)
    numbers = _numbers(values)
    if numbers is not None and not all(is_integer_name(c) for c in classes):
        # Class indices: the sample held integers, the classes are names (for two classes, 0/1 of a
        # probability column mean the same: the positive class is the second).
        beyond = ~np.isin(numbers, np.arange(len(classes)))
        if beyond.any():
            raise _unknown_labels(path, {values[i] for i in np.flatnonzero(beyond)}, classes)
        return numbers.astype(np.int64)
    if numbers is not None and len(classes) == 2 and np.isin(numbers, (0.0, 1.0)).all():
        # A single probability column's truth: 1 is the positive class, 0 the other.
        positive = positive_class(classes)
        return np.where(numbers == 1.0, positive, 1 - positive).astype(np.int64)
    raise _unknown_labels(path, set(values) - set(index), classes)


def _numbers(values: list[str]) -> np.ndarray | None:
    try:
        return np.array([float(v) for v in values])
    except ValueError:
        return None


def _unknown_labels(path: Path, unknown: set[str], classes: list[str]) -> DataError:
    return DataError(
        f"{path} has labels that are not training classes: {sorted(unknown)[:5]} (classes: {classes[:10]})"
    )
