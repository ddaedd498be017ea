"""Kaggle submission files: one row per test id, in the sample submission's order and columns, holding
labels, one probability, per-class probabilities, tags or the top-k labels: which format a competition
wants, and the file.

The values are sweeplab.offline's (`submission_values`, the bundle's predict.py writes them too), the same
transformations as the metric's (sweeplab.scoring.measures): argmax, the thresholds, the top k, or the
probabilities themselves; so rescoring the file reproduces val/score's way of scoring.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sweeplab.data.competition import Competition
from sweeplab.errors import ConfigError, DataError
from sweeplab.offline import submission_values, value_columns, write_csv
from sweeplab.scoring.measures import PROBABILITY_METRICS

log = logging.getLogger(__name__)

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
    classes = competition.classes
    columns = value_columns(fmt.kind, classes, competition.label_column, competition.submission_columns)
    rows = submission_values(
        probs,
        fmt.kind,
        classes,
        competition.multilabel,
        columns,
        thresholds,
        fmt.top_k,
        competition.sample_values,
    )
    return write_csv(path, [competition.id_column, *columns], competition.test_ids, rows)
