"""Learning curves as a PNG, drawn without a display: loss, accuracy and the competition's metric."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from sweeplab.protocol import Metric  # noqa: E402

# Each panel: its y label and its curves (metric key, legend label); a curve is drawn where every epoch has
# it (no val curve without validation, a refit; no public or private score without a solution.csv).
PANELS = (
    ("loss", ((Metric.TRAIN_LOSS, "train"), (Metric.VAL_LOSS, "val"))),
    ("acc", ((Metric.TRAIN_ACC, "train"), (Metric.VAL_ACC, "val"))),
    (
        "{metric}",
        ((Metric.VAL_SCORE, "val"), (Metric.KAGGLE_PUBLIC, "public"), (Metric.KAGGLE_PRIVATE, "private")),
    ),
)

COLORS = {"train": "C0", "val": "C1", "public": "C2", "private": "C3"}  # one colour per split, every panel


def plot_learning_curves(history: list[dict[str, float]], path: Path, metric: str = "score") -> Path:
    """The curves' PNG at `path`; `metric` names the competition's metric (data.metric) on its panel."""
    fig = learning_curves(history, metric)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def learning_curves(history: list[dict[str, float]], metric: str) -> Figure:
    """One panel per quantity, epochs along x."""
    epochs = range(1, len(history) + 1)
    fig, axes = plt.subplots(1, len(PANELS), figsize=(15, 4))
    for ax, (label, curves) in zip(axes, PANELS, strict=True):
        drawn = [(key, name) for key, name in curves if history and all(key in h for h in history)]
        for key, name in drawn:
            ax.plot(epochs, [h[key] for h in history], marker="o", label=name, color=COLORS[name])
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # whole epochs, even just one
        ax.set_ylabel(label.format(metric=metric))
        if drawn:
            ax.legend()
        ax.grid(alpha=0.3)
    axes[-1].set_title(f"competition metric: {metric}", fontsize=10)
    fig.tight_layout()
    return fig
