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
# Under these a refit does not move `champion` (bench/refit_agreement.py on real photographs, 2026-12-08,
# docs/validation.md#a-refit-checked-before-it-counts). Shares: honest refits and second seeds of models
# that learnt 0.86-0.98 (Planet's shape, tags; Humpback's top-5: 0.93-0.99), one-epoch refits that lost
# 0.12-0.29 of public F2 at 0.50-0.68; only trials near chance (cats-dogs-mini, accuracy 0.48-0.64) fall
# under it honestly (0.64, 0.69), where a refit has nothing to agree with. Spearman: honest 0.79-0.97
# (Aerial Cactus' and Dog Breed's shapes), one-epoch refits 0.61 and 0.71 (a third, 0.79, is no lower
# than a second seed).
FLOOR_SHARE = 0.70
FLOOR_SPEARMAN = 0.75
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
            f"the trial's and the refit's submissions have other columns ({','.join(header)} vs "
            f"{','.join(other_header)}): not one competition's; refit the trial on its own competition"
        )
    missing = first.keys() ^ second.keys()
    if missing:
        raise SweeplabError(
            f"{len(missing)} ids are in one of the trial's and the refit's submissions and not the other "
            f"(e.g. {sorted(missing)[0]!r}): the test images changed since the trial ran; rerun the trial"
        )
    ids = sorted(first)
    if not ids:
        raise SweeplabError(
            "the trial's submission holds no rows: nothing to compare; refit a trial that has one"
        )
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
    """1.0 for the same label; for tags the share of either row's tags that both have (Jaccard): identical
    sets separated Planet's shape (6 tags) as well (honest 0.68-0.95, one-epoch 0.00-0.21), but a set
    is identical only if every tag is, so it falls with each tag a competition adds (Planet has 17), where
    Jaccard counts the tags the rows carry (2-3). Top-k by the first label, which carries most of MAP@k
    (1 of the row's 1, 1/2, ... 1/k)."""
    if kind == "tags":
        a, b = set(first[0].split()), set(second[0].split())
        return len(a & b) / len(a | b) if a | b else 1.0
    if kind == "top_k":
        return float(first[0].split()[:1] == second[0].split()[:1])
    return float(first == second)


def flat_spearman(first: list[list[str]], second: list[list[str]]) -> float:
    """Spearman over every value of the two probability matrices at once (one column: that column's).
    Averaged per column instead, it separated the same two of three one-epoch refits on Dog Breed's shape
    from every honest refit and second seed (flattened: honest 0.79-0.89, one-epoch 0.61, 0.71, 0.79; per
    column: 0.84-0.92 against 0.66, 0.84, 0.85); flattened also weighs which class each row ranks high,
    where a column's order among its many rows of other classes is mostly noise between two models."""
    try:
        a, b = np.asarray(first, dtype=float).ravel(), np.asarray(second, dtype=float).ravel()
    except ValueError as e:  # a value that is not a number, a row with fewer columns
        raise SweeplabError(
            f"a probability submission holds a row that is not numbers ({e}); write it again"
        ) from e
    if np.ptp(a) == 0 or np.ptp(b) == 0:  # Spearman of a constant is undefined (scipy warns, says NaN)
        raise SweeplabError("one of the submissions holds the same probability everywhere: nothing to rank")
    return float(spearmanr(a, b).statistic)
