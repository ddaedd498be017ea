"""Learning curves as a PNG, drawn without a display."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402


def plot_learning_curves(history: list[dict[str, float]], path: Path) -> Path:
    epochs = range(1, len(history) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, quantity in zip(axes, ("loss", "acc"), strict=True):
        for split in ("train", "val"):
            key = f"{split}/{quantity}"
            if all(key in h for h in history):  # no val curve without validation (a refit)
                ax.plot(epochs, [h[key] for h in history], marker="o", label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(quantity)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
