"""How far two submissions for the same test images agree, read back as written and joined by id: a
refit's check against its trial, which needs no labels.

Two scales, each with its own floor. Labels, tags and top-k labels: a share of rows (for tags, the mean
share of a row's tags the two files share). One probability column or class columns: Spearman's rank
correlation, which a refit's changed calibration (more data, sharper probabilities, same order) leaves
alone.
"""

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from sweeplab.errors import SweeplabError

RANKED = ("probability", "probabilities")  # the formats compared by rank; the others by shares of rows
# Under these a refit does not move `champion`: the lowest an honest refit or a second seed of the same
# config reached, with a margin, on real photographs (docs/studies.md, "A refit checked before it counts",
# bench/refit_agreement.py, 2026-12-08).
FLOOR_SHARE = 0.60
FLOOR_SPEARMAN = 0.80
MEASURES = {
    "label": "share of rows with the same label",
    "tags": "mean share of tags in common per row (Jaccard)",
    "top_k": "share of rows with the same first label",
}


@dataclass(frozen=True)
class Agreement:
    value: float
    measure: str  # what the value is, in words
    rows: int
    default_floor: float  # of the measure's scale: FLOOR_SHARE or FLOOR_SPEARMAN


def submission_agreement(trial: Path, refit: Path, kind: str) -> Agreement:
    """The agreement of two submission files of one competition; `kind`: the submission format."""
    header, first = read_submission(trial)
    other_header, second = read_submission(refit)
    if header != other_header:
        raise SweeplabError(
            f"the submissions {trial.name} and {refit.name} have other columns ({','.join(header)} vs "
            f"{','.join(other_header)}): not one competition's; refit the trial on its own competition"
        )
    missing = first.keys() ^ second.keys()
    if missing:
        raise SweeplabError(
            f"{len(missing)} ids are in one submission and not the other (e.g. {sorted(missing)[0]!r}): "
            "the test images changed since the trial ran; rerun the trial on today's folder"
        )
    ids = sorted(first)
    if not ids:
        raise SweeplabError(f"the submission {trial.name} holds no rows: nothing to compare; write it again")
    if kind in RANKED:
        value = flat_spearman([first[i] for i in ids], [second[i] for i in ids])
        return Agreement(value, "Spearman rank correlation", len(ids), FLOOR_SPEARMAN)
    shares = [row_share(first[i], second[i], kind) for i in ids]
    return Agreement(
        float(np.mean(shares)),
        MEASURES.get(kind, MEASURES["label"]),
        len(ids),
        FLOOR_SHARE,
    )


def read_submission(path: Path) -> tuple[list[str], dict[str, list[str]]]:
    """The header and the rows by id (the first column), as written."""
    with open(path, newline="") as f:
        rows = [row for row in csv.reader(f) if row]
    if not rows:
        raise SweeplabError(f"submission {path} is empty: no header, no rows; write it again")
    return rows[0], {row[0]: row[1:] for row in rows[1:]}


def row_share(first: list[str], second: list[str], kind: str) -> float:
    """1.0 for the same label; for tags the share of either row's tags that both have (Jaccard), which,
    unlike the same-set test, does not fall with the number of tags a row carries (17 on Planet: two
    honest models' identical sets 0.XX, their Jaccard 0.XX in the Planet shape); top-k by the first label,
    which carries most of MAP@k (1 of the row's 1, 1/2, ... 1/k)."""
    if kind == "tags":
        a, b = set(first[0].split()), set(second[0].split())
        return len(a & b) / len(a | b) if a | b else 1.0
    if kind == "top_k":
        return float(first[0].split()[:1] == second[0].split()[:1])
    return float(first == second)


def flat_spearman(first: list[list[str]], second: list[list[str]]) -> float:
    """Spearman over every value of the two probability matrices at once (one column: that column).
    Flattened, a class column pair counts as much as which class each row ranks high; per column and then
    averaged, the order among a column's many rows of other classes (noise between two honest models)
    dominates: on Dog Breed's shape, honest refits 0.85-0.89 flattened against 0.61-0.79 for one-epoch
    refits, but 0.84-0.92 against 0.66-0.85 (overlapping) per column."""
    try:
        a, b = np.asarray(first, dtype=float).ravel(), np.asarray(second, dtype=float).ravel()
    except ValueError as e:  # a value that is not a number, a row with fewer columns
        raise SweeplabError(
            f"a probability submission holds a row that is not numbers ({e}); write it again"
        ) from e
    if np.ptp(a) == 0 or np.ptp(b) == 0:  # Spearman of a constant is undefined (scipy warns, says NaN)
        raise SweeplabError("one of the submissions holds the same probability everywhere: nothing to rank")
    return float(spearmanr(a, b).statistic)
