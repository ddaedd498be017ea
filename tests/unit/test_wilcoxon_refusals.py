"""Where the Wilcoxon pruner can prune across folds, and the one-line refusals where it cannot."""

import pytest
import scipy.stats

from sweeplab.errors import ConfigError
from sweeplab.study.fold_pruning import check_fold_pruning, first_prunable_fold

WILCOXON = {"_target_": "optuna.pruners.WilcoxonPruner", "p_threshold": 0.1, "n_startup_steps": 2}


def test_the_smallest_p_values_are_what_the_refusal_says():
    # n folds all worse than the best trial's: the one-sided signed-rank test's smallest p-value, 2**-n.
    smallest = [
        scipy.stats.wilcoxon([-1.0] * n, alternative="less", zero_method="zsplit").pvalue for n in (2, 3, 4)
    ]
    assert smallest == pytest.approx([0.25, 0.125, 0.0625])
    assert (
        first_prunable_fold(0.1, 2) == 4
        and first_prunable_fold(0.3, 2) == 2
        and first_prunable_fold(0.1, 5) == 5
    )


@pytest.mark.parametrize(
    ("folds", "fold", "message"),
    [
        ([1], None, "needs k-fold validation, not a holdout: set data.folds=5"),
        (
            [3],
            None,
            "cannot prune with data.folds=3: with p_threshold=0.1 the smallest p-value after 2, 3, 4 "
            "folds is 0.25, 0.125, 0.0625, so it can prune from fold 4 on and needs data.folds >= 5",
        ),
        ([5, 2], None, "cannot prune with data.folds=2"),  # searched: every value must do
        ([5], 2, "data.fold=2 trains one fold per job"),
    ],
)
def test_wilcoxon_is_refused_where_it_cannot_prune_in_one_line(folds, fold, message):
    with pytest.raises(ConfigError, match="hydra/sweeper/pruner=wilcoxon") as refused:
        check_fold_pruning(WILCOXON, folds, fold)
    assert message in str(refused.value) and "\n" not in str(refused.value)
    check_fold_pruning({"_target_": "optuna.pruners.MedianPruner"}, folds, fold)  # epoch pruners: any
