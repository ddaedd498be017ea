"""Kaggle submission files: one row per test id, in the sample submission's order and columns, holding
labels, one probability, per-class probabilities, tags or the top-k labels: which format a competition
wants, the file, and the score of what the file holds.

The values are sweeplab.offline's (`submission_values`, the bundle's predict.py writes them too). Every
score sweeplab logs (val/score, kaggle/public and kaggle/private, a refit's, an ensemble's) is the score
of those values read back (`Submission.score`): the file is what Kaggle scores, so a logged score can
never disagree with the file written.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sweeplab.data.competition import Competition
from sweeplab.errors import ConfigError, DataError
from sweeplab.offline import label_names, positive_class, submission_values, value_columns, write_csv
from sweeplab.scoring.measures import PROBABILITY_METRICS, metric_score

log = logging.getLogger(__name__)

Thresholds = np.ndarray | list[float] | tuple[float, ...] | None  # a multi-label run's, per tag

FORMATS = ("label", "probability", "probabilities", "tags", "top_k")
PROBABILITY_FORMATS = ("probability", "probabilities")


@dataclass(frozen=True)
class SubmissionFormat:
    kind: str  # one of FORMATS
    top_k: int = 5  # labels per row of a top_k submission


def submission_format(
    competition: Competition, metric: str, override: str | None = None, top_k: int = 5
) -> SubmissionFormat:
    """What the submission holds: data.submission_format when set, else what the sample and metric say."""
    if override is not None:
        kind = _checked(competition, str(override))
        _check_scorable(kind, metric)
    else:
        kind = _inferred(competition, metric)
    if kind == "probabilities" and len(competition.submission_columns) > 1:
        _check_class_columns(competition)
    return SubmissionFormat(kind, top_k)


def _inferred(competition: Competition, metric: str) -> str:
    """The issue's table: map_at_k -> top_k; class-named columns -> probabilities; a metric of
    probabilities -> probabilities (one column for a binary competition); tags; else labels."""
    if metric == "map_at_k":
        return "top_k"
    if len(competition.submission_columns) > 1:
        return "probabilities"
    if metric in PROBABILITY_METRICS:
        kind = "probabilities" if competition.multilabel or len(competition.classes) != 2 else "probability"
        sampled = competition.sample_values
        if sampled and (kind == "probabilities" or not _unit_numbers(sampled)):
            # Labels or tags would lose what the metric scores; the file Kaggle scores is the file scored.
            log.info(
                "data.metric=%s scores probabilities, so the submission holds %s, not the sample's %s "
                "(data.submission_format=%s writes them)",
                metric,
                "one probability per class" if kind == "probabilities" else _positive_words(competition),
                *(("tags", "tags") if competition.multilabel else ("labels", "label")),
            )
        return kind
    return "tags" if competition.multilabel else "label"


def _positive_words(competition: Competition) -> str:
    return f"the probability of class {competition.classes[positive_class(competition.classes)]!r}"


def _unit_numbers(values: tuple[str, ...]) -> bool:
    try:
        return all(0.0 <= float(v) <= 1.0 for v in values)
    except ValueError:
        return False


def _checked(competition: Competition, kind: str) -> str:
    """data.submission_format as set, refused where the competition cannot have it."""
    shape = f"is multi-label with {len(competition.classes)} tags" if competition.multilabel else None
    shape = shape or f"has {len(competition.classes)} classes"
    if kind not in FORMATS:
        raise ConfigError(f"data.submission_format={kind} is unknown; valid: {', '.join(FORMATS)}")
    if kind == "probability" and (competition.multilabel or len(competition.classes) != 2):
        raise ConfigError(
            f"data.submission_format=probability needs a binary competition (one column: the positive "
            f"class's probability), this one {shape}; use data.submission_format=probabilities"
        )
    if kind == "tags" and not competition.multilabel:
        raise ConfigError(
            f"data.submission_format=tags needs a multi-label competition (data.task=multilabel), this one "
            f"{shape} with one label per image; use data.submission_format=label"
        )
    if kind in ("top_k", "label") and competition.multilabel:
        # A label column would score the most likely tag, not the thresholded tags validation scores.
        raise ConfigError(
            f"data.submission_format={kind} needs one label per image, this competition {shape}; "
            "use data.submission_format=tags or probabilities"
        )
    return kind


def _check_scorable(kind: str, metric: str) -> None:
    """A format the metric cannot score as val/score does is refused: the logged Kaggle scores must be
    the file's."""
    if (kind == "top_k") != (metric == "map_at_k"):
        want = "top_k" if metric == "map_at_k" else "label"
        raise ConfigError(
            f"data.submission_format={kind} cannot be scored by data.metric={metric}: map_at_k scores the "
            f"top-k labels and only it; use data.submission_format={want}"
        )
    if kind == "probabilities" and metric == "roc_auc":
        raise ConfigError(
            "data.submission_format=probabilities cannot be scored by data.metric=roc_auc, which scores "
            "one column (the positive class's probability); use data.submission_format=probability"
        )
    if (kind in PROBABILITY_FORMATS) != (metric in PROBABILITY_METRICS):
        scores, want = (
            ("labels", "label (or tags for multi-label)")
            if kind in PROBABILITY_FORMATS
            else ("probabilities", "probabilities (or probability for a binary competition)")
        )
        raise ConfigError(
            f"data.submission_format={kind} cannot be scored by data.metric={metric}, which scores "
            f"{scores}; use data.submission_format={want}, or leave it unset"
        )


def _check_class_columns(competition: Competition) -> None:
    columns, classes = competition.submission_columns, competition.classes
    sample_only = [c for c in columns if c not in classes]
    training_only = [c for c in classes if c not in columns]
    if sample_only or training_only:
        raise DataError(
            f"the sample submission's columns are not the training classes: columns the training labels "
            f"lack: {sample_only[:10]}; training classes the columns lack: {training_only[:10]}"
        )


@dataclass(frozen=True)
class Submission:
    """A competition's submission: the values its file holds for some probabilities, and their score.

    `score` reads the values back into what the metric scores (a label's index, a tag set, the top k in
    order, the probabilities as written), so every logged score is the file's.
    """

    fmt: SubmissionFormat
    classes: tuple[str, ...]
    multilabel: bool
    columns: tuple[str, ...]  # the value columns after the id
    sample_values: tuple[str, ...]

    @classmethod
    def of(cls, competition: Competition, fmt: SubmissionFormat | None = None) -> "Submission":
        """fmt None: labels, or tags for a multi-label competition."""
        fmt = fmt or SubmissionFormat("tags" if competition.multilabel else "label")
        classes = competition.classes
        columns = value_columns(fmt.kind, classes, competition.label_column, competition.submission_columns)
        return cls(
            fmt, tuple(classes), competition.multilabel, tuple(columns), tuple(competition.sample_values)
        )

    def values(self, probs: np.ndarray, thresholds: Thresholds = None) -> list[list[str]]:
        """One row of cells per image, exactly as the CSV holds them."""
        return submission_values(
            probs,
            self.fmt.kind,
            self.classes,
            self.multilabel,
            self.columns,
            thresholds,
            self.fmt.top_k,
            self.sample_values,
        )

    def read(self, rows: list[list[str]]) -> np.ndarray:
        """The cells as scores metric_score turns back into exactly them: probabilities as written (in
        the classes' order), or for labels, tags and the top k, scores whose argmax, 0.5 cut or top k
        are those cells."""
        kind, classes = self.fmt.kind, list(self.classes)
        if kind == "probabilities":
            order = [self.columns.index(c) for c in classes]
            return np.array([[float(row[j]) for j in order] for row in rows], dtype=np.float64)
        if kind == "probability":
            positive = np.array([float(row[0]) for row in rows], dtype=np.float64)
            read = np.empty((len(rows), 2))
            read[:, positive_class(classes)], read[:, 1 - positive_class(classes)] = positive, 1 - positive
            return read
        index = {name: i for i, name in enumerate(label_names(classes, self.sample_values))}
        read = np.zeros((len(rows), len(classes)))
        if kind == "label":
            read[np.arange(len(rows)), [index[row[0]] for row in rows]] = 1.0
        else:  # tags (each 1.0, above the default 0.5 cut), or the top k ranked k, k - 1, ..., 1
            for r, row in enumerate(rows):
                names = row[0].split()
                read[r, [index[n] for n in names]] = 1.0 if kind == "tags" else np.arange(len(names), 0, -1)
        return read

    def written(self, probs: np.ndarray, thresholds: Thresholds = None) -> np.ndarray:
        """What the metric scores of the file these probabilities (and thresholds) would write."""
        return self.read(self.values(probs, thresholds))

    def score(
        self, metric: str, truth: np.ndarray, probs: np.ndarray, thresholds: Thresholds = None
    ) -> float:
        """The metric of the file these probabilities (and thresholds) would write."""
        return metric_score(metric, truth, self.written(probs, thresholds), top_k=self.fmt.top_k)


def write_submission(
    path: Path,
    competition: Competition,
    probs: np.ndarray,
    fmt: SubmissionFormat | None = None,
    thresholds: np.ndarray | list[float] | None = None,
) -> Path:
    """Write the submission (fmt None: labels, or tags for a multi-label competition); return the path."""
    submission = Submission.of(competition, fmt)
    rows = submission.values(probs, thresholds)
    return write_csv(path, [competition.id_column, *submission.columns], competition.test_ids, rows)
