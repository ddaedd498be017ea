"""The learning-curves image: loss, accuracy, and the competition's metric with the leaderboard's scores."""

import matplotlib.pyplot as plt

from sweeplab.training.plots import learning_curves, plot_learning_curves

EPOCH = {"train/loss": 0.7, "val/loss": 0.8, "train/acc": 0.6, "val/acc": 0.55, "val/score": 0.5}


def labels(ax) -> list[str]:
    return [line.get_label() for line in ax.get_lines()]


def test_the_competitions_metric_is_plotted_with_public_and_private_where_a_solution_exists(tmp_path):
    scored = [{**EPOCH, "kaggle/public": 0.45 + e / 10, "kaggle/private": 0.4 + e / 10} for e in range(3)]
    loss, acc, metric = learning_curves(scored, "f2").axes
    assert labels(loss) == labels(acc) == ["train", "val"]
    assert labels(metric) == ["val", "public", "private"] and metric.get_ylabel() == "f2"
    plt.close("all")
    refit = [{"train/loss": 0.7, "train/acc": 0.6}] * 2  # no validation, no solution
    loss, _, metric = learning_curves(refit, "f2").axes
    assert labels(loss) == ["train"] and labels(metric) == []
    assert plot_learning_curves(refit, tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    plt.close("all")
