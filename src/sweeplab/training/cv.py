"""k-fold cross-validation: the K fold models' results combined into the job's one result.

Every fold trains the same number of epochs, so the curves line up: epoch e's val/acc, val/score and
val/loss are the mean over the folds at epoch e, the objective is the best epoch of that mean curve, and
the submission averages the fold models' test probabilities at that epoch; the objective's spread over
the folds at that epoch is its noise (Attr.NOISE).
"""

import numpy as np

from sweeplab.protocol import Metric
from sweeplab.scoring.metrics import leaderboard_metrics
from sweeplab.training.result import FitResult, Scoring, improves


def combine_folds(
    results: list[FitResult], labels: np.ndarray, scoring: Scoring
) -> tuple[FitResult, dict[str, float]]:
    """(the mean curve with its best epoch and averaged predictions, the once-logged oof/score).

    Multi-label thresholds are tuned on each epoch's out-of-fold predictions: every row is predicted by
    the one model that did not train on it, as the averaged test predictions are by models that did not.
    """
    metric, solution = scoring.metric, scoring.solution
    combined = FitResult(val_index=np.concatenate([r.val_index for r in results]))
    truth = labels[combined.val_index]
    thresholds = None
    for epoch in range(len(results[0].history)):
        metrics = _mean_metrics([r.history[epoch] for r in results])
        test = np.mean([r.epoch_probs[epoch][1] for r in results], axis=0)
        oof = _out_of_fold([r.epoch_probs[epoch][0] for r in results])
        if labels.ndim == 2:
            thresholds = scoring.thresholds_for(truth, oof)
        if solution is not None:  # the averaged submission, scored as Kaggle would
            submission = scoring.submission
            metrics.update(leaderboard_metrics(solution, metric, submission, test, metrics, thresholds))
        if len(results) > 1 and all(Metric.VAL_SCORE in r.history[epoch] for r in results):
            metrics[Metric.CV_STD] = float(
                np.std([r.history[epoch][Metric.VAL_SCORE] for r in results], ddof=1)
            )
        if improves(combined, metrics, scoring.objective, scoring.mode):
            combined.best_epoch = epoch + 1
            combined.best_test_probs, combined.best_val_probs = test, oof
            combined.best_thresholds = thresholds
        combined.history.append(metrics)
    combined.last_test_probs, combined.last_thresholds = test, thresholds
    chosen = [r.history[combined.best_epoch - 1].get(scoring.objective) for r in results]
    if len(results) > 1 and combined.best_epoch and None not in chosen:  # val/score: cv/std at that epoch
        combined.fold_spread = float(np.std(chosen, ddof=1))
    # The Kaggle-style out-of-fold score: each fold's model at its own best epoch, on its own rows.
    oof = _out_of_fold([r.best_val_probs for r in results])
    if oof is None:
        return combined, {}
    at = scoring.thresholds_for(truth, oof) if labels.ndim == 2 else None
    once = {Metric.OOF_SCORE: scoring.submission.score(metric, truth, oof, at)}
    return combined, {k: v for k, v in once.items() if np.isfinite(v)}


def _mean_metrics(per_fold: list[dict[str, float]]) -> dict[str, float]:
    """The mean over the folds of every per-epoch metric all folds logged (test scores are re-scored)."""
    keys = [k for k in per_fold[0] if k not in Metric.TEST and all(k in m for m in per_fold)]
    return {k: float(np.mean([m[k] for m in per_fold])) for k in keys}


def _out_of_fold(probs: list[np.ndarray | None]) -> np.ndarray | None:
    return None if any(p is None for p in probs) else np.concatenate(probs)
