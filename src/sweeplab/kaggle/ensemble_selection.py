"""Which runs an ensemble averages: greedy forward selection on validation predictions (Caruana et al.,
"Ensemble selection from libraries of models", ICML 2004), and the members that drag an average down.

Scores are the competition metric on the rows every candidate predicted (out of fold with k-fold), the
metric's own way up. A member "at chance" scores no better than the best constant prediction (the
validation rows' class frequencies) and is never selected.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sweeplab.errors import SweeplabError
from sweeplab.scoring.measures import metric_score
from sweeplab.scoring.orientation import metric_mode
from sweeplab.scoring.thresholds import tune_thresholds

# Additions after the first member, with replacement. Caruana et al. report most of the gain within the
# first ~20 additions; each round scores every candidate once, so this also bounds the work.
MAX_ROUNDS = 25


def better(a: float, b: float, metric: str) -> bool:
    """Whether score a beats score b for this metric (NaN never beats anything)."""
    return bool(a > b) if metric_mode(metric) == "max" else bool(a < b)


def chance_score(metric: str, labels: np.ndarray, num_classes: int) -> float:
    """The score of the best constant prediction: every row gets the classes' frequencies (each tag's
    frequency for multi-label 0/1 rows)."""
    multilabel = labels.ndim == 2
    prior = labels.mean(0) if multilabel else np.bincount(labels, minlength=num_classes) / len(labels)
    return metric_score(metric, labels, np.tile(prior, (len(labels), 1)))


@dataclass
class Candidates:
    """The candidates' validation probabilities on the same rows, and how the ensemble mixes them."""

    probs: list[np.ndarray]
    labels: np.ndarray
    metric: str
    mix: Callable[[list[np.ndarray], list[float]], np.ndarray]  # (probabilities, weights) -> probabilities

    def alone(self, i: int) -> float:
        return self._scored(self.probs[i])

    def score(self, weights: np.ndarray) -> float:
        """The validation score of the candidates with non-zero weight, mixed with those weights."""
        used = np.flatnonzero(weights)
        return self._scored(self.mix([self.probs[i] for i in used], [float(w) for w in weights[used]]))

    def _scored(self, probs: np.ndarray) -> float:
        """The metric as the ensemble's val/score will be: multi-label tags at thresholds tuned on these
        very probabilities (each mix gets its own, as the ensemble it would become does)."""
        thresholds = tune_thresholds(self.labels, probs, self.metric) if self.labels.ndim == 2 else None
        return metric_score(self.metric, self.labels, probs, thresholds)

    def at_chance(self, i: int) -> bool:
        chance = chance_score(self.metric, self.labels, self.probs[i].shape[1])
        return not better(self.alone(i), chance, self.metric)


def greedy_counts(candidates: Candidates) -> np.ndarray:
    """How often each candidate is selected: the best single run first, then (with replacement) whichever
    run improves the mix most, until none does; never worse than the best candidate alone."""
    metric, n = candidates.metric, len(candidates.probs)
    usable = [i for i in range(n) if not candidates.at_chance(i)]
    if not usable:
        raise SweeplabError(
            f"every run scores at chance on validation ({metric} no better than a constant prediction of "
            "the class frequencies): there is nothing to ensemble"
        )
    counts = np.zeros(n, dtype=np.int64)
    first, current = best_of(usable, candidates.alone, metric)
    counts[first] = 1
    for _ in range(MAX_ROUNDS):
        pick, score = best_of(
            usable, lambda i: candidates.score(counts + np.eye(n, dtype=np.int64)[i]), metric
        )
        if not better(score, current, metric):
            break
        counts[pick], current = counts[pick] + 1, score
    return counts


def best_of(items: list[int], score: Callable[[int], float], metric: str) -> tuple[int, float]:
    """(the item with the best score, that score), each scored once; the first of ties (candidates come
    best-ranked first)."""
    best, best_score = items[0], score(items[0])
    for i in items[1:]:
        s = score(i)
        if better(s, best_score, metric):
            best, best_score = i, s
    return best, best_score


def draggers(candidates: Candidates, weights: np.ndarray) -> list[int]:
    """The members whose removal alone improves the mix's validation score."""
    whole = candidates.score(weights)
    found = []
    for i in np.flatnonzero(weights):
        without = weights.copy()
        without[i] = 0
        if without.any() and better(candidates.score(without), whole, candidates.metric):
            found.append(int(i))
    return found
