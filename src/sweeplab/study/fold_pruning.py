"""Pruning across folds (hydra/sweeper/pruner=wilcoxon): which configs it can work with, refused in one line.

Optuna's WilcoxonPruner compares a trial's per-fold scores with the best trial's, pair by pair, and prunes
once the one-sided signed-rank test says "worse" with p < p_threshold. With n folds all worse, the
smallest p-value the test can give is 0.5**n (0.25, 0.125, 0.0625 after 2, 3, 4 folds), so with the
default p_threshold=0.1 a trial can be pruned from its 4th fold on, and only K >= 5 folds save training.
The sweep checks this before its first trial (opening.py); a trial's job checks it again (a guard for
jobs started by hand or by another sweeper).
"""

import logging
import math
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

from sweeplab.errors import ConfigError

log = logging.getLogger(__name__)

WILCOXON = "WilcoxonPruner"
OTHER_PRUNER = "use another pruner (hydra/sweeper/pruner=median prunes on epochs)"


def prunes_per_fold(pruner_cfg: Any) -> bool:
    """Whether the pruner compares per-fold scores (Wilcoxon), not per-epoch ones."""
    target = (pruner_cfg or {}).get("_target_")
    return str(target).rsplit(".", 1)[-1] == WILCOXON


def first_prunable_fold(p_threshold: float, n_startup_steps: int) -> int:
    """The first fold after which the pruner can stop a trial: 2**-n < p_threshold, and at least the
    pruner's own minimum of max(2, n_startup_steps) folds compared."""
    by_p = math.floor(math.log2(1 / p_threshold)) + 1 if p_threshold < 1 else 1
    return max(2, n_startup_steps, by_p)


def check_fold_pruning(pruner_cfg: Any, folds: list[int], fold: int | None) -> None:
    """Refuse the Wilcoxon pruner where it cannot prune: without k-fold, on one fold per job, or with
    fewer folds than it needs; `folds` are the data.folds values the sweep can run (several if searched)."""
    if not prunes_per_fold(pruner_cfg):
        return
    if min(folds) <= 1:
        raise ConfigError(
            "hydra/sweeper/pruner=wilcoxon prunes a trial on its per-fold scores and needs k-fold "
            f"validation, not a holdout: set data.folds=5, or {OTHER_PRUNER}"
        )
    if fold is not None:
        raise ConfigError(
            f"hydra/sweeper/pruner=wilcoxon compares a trial's folds, but data.fold={fold} trains one fold "
            f"per job: unset data.fold, or {OTHER_PRUNER}"
        )
    p_threshold = float(pruner_cfg.get("p_threshold", 0.1))
    if p_threshold <= 0:
        raise ConfigError(
            f"hydra.sweeper.pruner.p_threshold={p_threshold:g} never prunes: use 0.1 (the default)"
        )
    first = first_prunable_fold(p_threshold, int(pruner_cfg.get("n_startup_steps", 2)))
    arithmetic = (
        f"with p_threshold={p_threshold:g} the smallest p-value after "
        f"{', '.join(str(n) for n in range(2, first + 1))} folds is "
        f"{', '.join(f'{0.5**n:g}' for n in range(2, first + 1))}, so it can prune from fold {first} on"
    )
    if min(folds) < first:
        raise ConfigError(
            f"hydra/sweeper/pruner=wilcoxon cannot prune with data.folds={min(folds)}: {arithmetic} and "
            f"needs data.folds >= {first + 1} to save any training; set data.folds={first + 1}, or "
            f"{OTHER_PRUNER}"
        )
    if min(folds) == first:
        log.warning(
            "hydra/sweeper/pruner=wilcoxon with data.folds=%d: %s, after the last fold: it saves no training "
            "(data.folds=%d would)",
            first,
            arithmetic,
            first + 1,
        )


def sweep_folds(
    job_cfg: Any, fixed: dict[str, str], distributions: dict[str, BaseDistribution]
) -> tuple[list[int], int | None]:
    """(the data.folds values the sweep's trials can run with, data.fold): searched, fixed by the sweep's
    overrides, or the job's config."""
    folds: list[int] = [int((job_cfg.get("data") or {}).get("folds", 1) or 1)]
    if "data.folds" in fixed:
        folds = [int(fixed["data.folds"])]
    searched = distributions.get("data.folds")
    if isinstance(searched, CategoricalDistribution):
        folds = [int(c) for c in searched.choices]
    elif isinstance(searched, IntDistribution):
        folds = [searched.low]
    fold = (job_cfg.get("data") or {}).get("fold")
    if fixed.get("data.fold") not in (None, "null"):
        fold = int(fixed["data.fold"])
    return folds, fold
