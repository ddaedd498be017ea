"""Label values turned into classes and a label array: class names or integers, delimited tags, or
one-hot columns (one 1 a row: multi-class; several: multi-label).

Arrays: multi-class int64 (N,) indices into classes; multi-label uint8 (N, C) 0/1 rows.
"""

import logging
from dataclasses import dataclass

import numpy as np

from sweeplab.errors import ConfigError, DataError
from sweeplab.offline import is_integer_name

log = logging.getLogger(__name__)

ONE_HOT_VALUES = frozenset({"0", "1", "0.0", "1.0"})  # what a one-hot column may hold
SHOWN = 5  # ids named in a message
COMBINATIONS_PER_TAG = 1.5  # distinct tag sets per tag from which a label column reads as tags


@dataclass(frozen=True)
class Labels:
    classes: list[str]
    values: np.ndarray
    task: str  # multiclass | multilabel
    form: str  # names | tags | one-hot (for the description)


def sort_classes(names) -> list[str]:
    """Integer names as numbers ("10" after "9", as an ordinal grade needs), other names as strings."""
    names = set(names)
    if names and all(map(is_integer_name, names)):
        return sorted(names, key=lambda n: (int(n), n))
    return sorted(names)


def _first(ids: list[str], rows) -> str:
    return ", ".join(ids[i] for i in list(rows)[:SHOWN])


def from_names(
    values: list[str], ids: list[str], task: str, delim: str, where: str, sample_values=()
) -> Labels:
    """One class name (or integer) a row; task=multilabel reads each value as delimited tags, and so does
    task=auto where tags_evidence finds them."""
    if task == "auto" and delim:
        evidence = tags_evidence(values, delim, sample_values)
        if evidence is not None:
            log.info(
                "labels of %s read as tags split on %r: %s (data.task=auto; data.task=multiclass reads "
                "each value as one class)",
                where,
                delim,
                evidence,
            )
            task = "multilabel"
        elif any(delim in v for v in values):
            # Most values holding the delimiter is the old hint of tags: said as a warning then.
            most = sum(delim in v for v in values) > len(values) / 2
            log.log(
                logging.WARNING if most else logging.INFO,
                "labels of %s read as one class each, %r included (data.task=auto: few values against their "
                "words; if they are tags, set data.task=multilabel)",
                where,
                next(v for v in values if delim in v),
            )
    if task == "multilabel":
        return from_tags(values, ids, delim, where)
    empty = [i for i, v in enumerate(values) if not v]
    if empty:
        raise DataError(f"{len(empty)} rows of {where} have no label (first ids: {_first(ids, empty)})")
    return indexed(values)


def tags_evidence(values: list[str], delim: str, sample_values=()) -> str | None:
    """Why a label column holds tags, or None: the sample submission writes tags the labels use, or the
    labels are many sets of few tags.

    Tags combine, class names do not. Measured: ImageNet's 1,000 class names (416 with spaces, e.g.
    "golden retriever") make 0.88 distinct word sets per word, its 118 dog breeds 0.80; the tests' Planet
    shape makes 5.3 tag sets per tag (32 of 6 tags), the smallest tagged fixture 2.0 (6 of 3). From
    COMBINATIONS_PER_TAG = 1.5 up it reads as tags: 1.7 times the names' ratio, 1.3 times below the
    fewest tags'.
    """
    sets = {frozenset(t for t in v.split(delim) if t) for v in values}
    tags = set().union(*sets) if sets else set()
    several = [s for s in sets if len(s) > 1]
    if not several:
        return None
    labels = set(values)  # a sample value that is itself a label is a class name, not tags
    sampled = [v for v in sample_values if delim in v.strip() and v not in labels]
    if sampled and set(sampled[0].split(delim)) - {""} <= tags:
        return f"the sample submission writes tags ({sampled[0]!r})"
    if len(sets) >= COMBINATIONS_PER_TAG * len(tags):
        return f"{len(sets)} different sets of {len(tags)} tags"
    return None


def indexed(names: list[str]) -> Labels:
    """One class name a row: indices into the sorted classes."""
    classes = sort_classes(names)
    index = {name: i for i, name in enumerate(classes)}
    values = np.fromiter((index[n] for n in names), np.int64, len(names))
    return Labels(classes, values, "multiclass", "names")


def from_tags(values: list[str], ids: list[str], delim: str, where: str) -> Labels:
    """Delimited tags ("clear primary road"): one 0/1 column per tag."""
    if not delim:
        raise ConfigError("data.label_delim is empty: set it to the text between tags, e.g. ' ' or ','")
    tags = [[t.strip() for t in v.split(delim) if t.strip()] for v in values]
    empty = [i for i, row in enumerate(tags) if not row]
    if empty:
        raise DataError(f"{len(empty)} rows of {where} have no tag (first ids: {_first(ids, empty)})")
    classes = sort_classes(t for row in tags for t in row)
    index = {name: i for i, name in enumerate(classes)}
    out = np.zeros((len(tags), len(classes)), dtype=np.uint8)
    for row, names in enumerate(tags):
        out[row, [index[n] for n in names]] = 1
    return Labels(classes, out, "multilabel", "tags")


def _one_hot_array(columns: list[list[str]], names: list[str], ids: list[str], where: str) -> np.ndarray:
    matrix = np.array(columns, dtype=object).T if columns else np.zeros((0, 0), dtype=object)
    for j, name in enumerate(names):
        bad = [i for i, v in enumerate(matrix[:, j]) if v not in ONE_HOT_VALUES]
        if bad:
            raise DataError(
                f"one-hot column {name} of {where} holds {matrix[bad[0], j]!r} (id {ids[bad[0]]}); one-hot "
                "columns hold 0 or 1: set data.label_column= to the label column(s)"
            )
    return (matrix == "1") | (matrix == "1.0")


def from_one_hot(columns: list[list[str]], names: list[str], ids: list[str], task: str, where: str) -> Labels:
    """One 0/1 column per class, in the CSV's order: one 1 a row is multi-class, several multi-label."""
    ones = _one_hot_array(columns, names, ids, where)
    count = ones.sum(axis=1)
    none = np.flatnonzero(count == 0)
    if none.size:
        raise DataError(
            f"{none.size} rows of {where} have no 1 in the one-hot columns {', '.join(names)} "
            f"(first ids: {_first(ids, none)}); every image needs a class"
        )
    several = np.flatnonzero(count > 1)
    if several.size and task == "multiclass":
        raise DataError(
            f"{several.size} rows of {where} have several 1s in {', '.join(names)} (first ids: "
            f"{_first(ids, several)}) but data.task=multiclass; set data.task=multilabel (or auto)"
        )
    if several.size or task == "multilabel":
        return Labels(list(names), ones.astype(np.uint8), "multilabel", "one-hot")
    return Labels(list(names), ones.argmax(axis=1).astype(np.int64), "multiclass", "one-hot")


def one_hot(labels: Labels) -> Labels:
    """Multi-class labels as multi-label rows with one 1 each (data.task=multilabel on folders)."""
    rows = np.zeros((len(labels.values), len(labels.classes)), dtype=np.uint8)
    rows[np.arange(len(labels.values)), labels.values] = 1
    return Labels(labels.classes, rows, "multilabel", labels.form)
