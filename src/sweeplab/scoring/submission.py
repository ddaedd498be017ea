"""Kaggle submission files: one row per test id, in the sample submission's order and columns, holding
labels, one probability, per-class probabilities, tags or the top-k labels.

The values go through the same transformation as the metric (sweeplab.scoring.measures): argmax, the
thresholds, the top k, or the probabilities themselves; so rescoring the file reproduces val/score's way of
scoring.
"""

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sweeplab.data.competition import Competition
from sweeplab.data.label_forms import is_integer_name
from sweeplab.errors import ConfigError, DataError
from sweeplab.scoring.measures import PROBABILITY_METRICS, predicted_tags, top_classes

log = logging.getLogger(__name__)

FORMATS = ("label", "probability", "probabilities", "tags", "top_k")
PROBABILITY_FORMATS = ("probability", "probabilities")
# Ten significant digits: rescoring the written file reproduces the score of the probabilities to ~1e-9.
FLOAT_FORMAT = "{:.10g}"


@dataclass(frozen=True)
class SubmissionFormat:
    kind: str  # one of FORMATS
    top_k: int = 5  # labels per row of a top_k submission


def positive_class(classes: list[str]) -> int:
    """The positive class of a binary competition: class "1" where there is one, else the second."""
    return classes.index("1") if "1" in classes else 1


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
    if metric in PROBABILITY_METRICS and kind not in PROBABILITY_FORMATS:
        log.warning(
            "data.metric=%s scores probabilities but the submission holds %s (%s): Kaggle would score "
            "the file's labels; the local kaggle/ scores are computed from the probabilities",
            metric,
            {"label": "labels", "top_k": "top-k labels"}.get(kind, kind),
            _why(competition, override),
        )
    return SubmissionFormat(kind, top_k)


def _why(competition: Competition, override: str | None) -> str:
    if override is not None:
        return "data.submission_format"
    return "as the sample submission has it" if competition.submission_columns else "no sample submission"


def _inferred(competition: Competition, metric: str) -> str:
    """The issue's table: map_at_k -> top_k; class-named columns -> probabilities; tags; a probability;
    else labels."""
    values = competition.sample_values
    if metric == "map_at_k":
        return "top_k"
    if len(competition.submission_columns) > 1:
        return "probabilities"
    if competition.multilabel:
        return "tags"
    # A binary sample of numbers in [0, 1] (Aerial Cactus writes 0.5, Histopathologic 0) under a metric
    # of probabilities wants the positive class's probability.
    if metric in PROBABILITY_METRICS and len(competition.classes) == 2 and values and _unit_numbers(values):
        return "probability"
    return "label"


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
    """A format whose file the metric would score differently from val/score is refused: the logged
    Kaggle scores would not be the file's. Probability metrics over labels are the one exception (the
    issue's demo case), warned about by the caller."""
    if (kind == "top_k") != (metric == "map_at_k"):
        want = "top_k" if metric == "map_at_k" else "label"
        raise ConfigError(
            f"data.submission_format={kind} cannot be scored by data.metric={metric}: map_at_k scores the "
            f"top-k labels and only it; use data.submission_format={want}"
        )
    if kind in PROBABILITY_FORMATS and metric not in PROBABILITY_METRICS:
        raise ConfigError(
            f"data.submission_format={kind} cannot be scored by data.metric={metric}, which scores "
            "labels; use data.submission_format=label (or tags for multi-label)"
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


def write_submission(
    path: Path,
    competition: Competition,
    probs: np.ndarray,
    fmt: SubmissionFormat | None = None,
    thresholds: np.ndarray | list[float] | None = None,
) -> Path:
    """Write the submission (fmt None: labels, or tags for a multi-label competition); return the path."""
    fmt = fmt or SubmissionFormat("tags" if competition.multilabel else "label")
    columns, values = _values(competition, np.asarray(probs, dtype=np.float64), fmt, thresholds)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([competition.id_column, *columns])
        writer.writerows([i, *row] for i, row in zip(competition.test_ids, values, strict=True))
    return path


def _values(
    competition: Competition, probs: np.ndarray, fmt: SubmissionFormat, thresholds
) -> tuple[list[str], list[list[str]]]:
    """The value columns' header and one row of strings per test id."""
    classes = competition.classes
    if not competition.multilabel:
        probs = probs / probs.sum(1, keepdims=True)  # rows sum to 1, as the metric reads them
    if fmt.kind == "probabilities":
        columns = list(competition.submission_columns) if len(competition.submission_columns) > 1 else []
        columns = columns or list(classes)
        chosen = probs[:, [classes.index(c) for c in columns]]
        return columns, [[FLOAT_FORMAT.format(p) for p in row] for row in chosen.tolist()]
    if fmt.kind == "probability":
        chosen = probs[:, positive_class(classes)].tolist()
        return [competition.label_column], [[FLOAT_FORMAT.format(p)] for p in chosen]
    if fmt.kind == "top_k":
        cells = [" ".join(classes[j] for j in row) for row in top_classes(probs, fmt.top_k)]
    elif fmt.kind == "tags" and competition.multilabel:
        tags = predicted_tags(probs, thresholds)
        cells = [" ".join(classes[j] for j in np.flatnonzero(row)) for row in tags]
    else:  # label, or one tag: the most likely class
        names = _label_names(competition)
        cells = [names[i] for i in probs.argmax(1)]
    return [competition.label_column], [[cell] for cell in cells]


def _label_names(competition: Competition) -> list[str]:
    """Labels as the sample writes them: the class index where the sample holds integers and the classes
    are names (a sample of 0s for cat/dog), else the class names."""
    classes, values = competition.classes, competition.sample_values
    if values and all(map(is_integer_name, values)) and not all(map(is_integer_name, classes)):
        return [str(i) for i in range(len(classes))]
    return list(classes)
