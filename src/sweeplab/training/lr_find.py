"""`python train.py lr_find=true`: the learning-rate range test on the composed config instead of
training, as fastai's lr_find: the rate rises exponentially from 1e-7 to 10 over 100 optimizer steps,
stopping when the smoothed loss passes 4 x its lowest; the plot goes onto an MLflow run tagged
sweeplab.role=lr-find in the competition's experiment, and the suggestion is printed as the override."""

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from sweeplab.data.batches import batches
from sweeplab.protocol import Role, Tag
from sweeplab.runs.tracking import Tracker, experiment_name
from sweeplab.training.job import _trainer, prepare

log = logging.getLogger(__name__)

START_LR, END_LR, STEPS = 1e-7, 10.0, 100  # fastai's defaults
SMOOTHING = 0.98  # the loss's exponential moving average, debiased (fastai's AvgSmoothLoss)
DIVERGED = 4.0  # stop once the smoothed loss is 4 x its lowest (fastai's stop_div)
# The first tenth and the last 5 points are left out of the suggestion, as fastai does: the start is the
# average's warm-up, the end the divergence.
SKIP_END = 5


@dataclass(frozen=True)
class RangeTest:
    lrs: list[float]
    losses: list[float]  # smoothed

    def window(self) -> tuple[np.ndarray, np.ndarray]:
        start, end = len(self.lrs) // 10, max(len(self.lrs) - SKIP_END, len(self.lrs) // 10 + 2)
        return np.array(self.lrs[start:end]), np.array(self.losses[start:end])

    def valley(self) -> float:
        """fastai's suggestion: two thirds of the way down the longest run of falling losses."""
        lrs, losses = self.window()
        return float(lrs[valley_index(losses)])

    def steepest(self) -> float:
        """The rate where the loss falls fastest against log lr."""
        lrs, losses = self.window()
        return float(lrs[int(np.argmin(np.diff(losses) / np.diff(np.log(lrs))))])


def valley_index(losses: np.ndarray) -> int:
    """fastai's valley: the longest decreasing subsequence's span, and the point a third and a sixth into
    it (O(n^2) over at most 100 points)."""
    n = len(losses)
    longest, max_start, max_end = [1] * n, 0, 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and longest[i] < longest[j] + 1:
                longest[i] = longest[j] + 1
            if longest[max_end] < longest[i]:
                max_end, max_start = i, i - longest[i]
    sections = (max_end - max_start) / 3
    return min(max_start + int(sections) + int(sections / 2), n - 1)


def range_test(trainer, data, optimizer: torch.optim.Optimizer, seed: int, steps: int = STEPS) -> RangeTest:
    """Train at rates rising from START_LR to END_LR, each parameter group at its configured share."""
    base = optimizer.param_groups[0]["lr"]
    shares = [group["lr"] / base for group in optimizer.param_groups]  # a backbone's scale survives
    growth = (END_LR / START_LR) ** (1 / (steps - 1))
    generator = torch.Generator().manual_seed(seed)
    trainer.model.train()
    trainer.multilabel, trainer.mixing = data.multilabel, trainer.mix is not None and trainer.mix.active(1)
    lrs, losses, average, lowest = [], [], 0.0, math.inf
    while len(lrs) < steps:
        size = trainer.cfg.batch_size
        for x, y in batches(data.images, data.labels, data.train_index, size, trainer.device, generator):
            lr = START_LR * growth ** len(lrs)
            for group, share in zip(optimizer.param_groups, shares, strict=True):
                group["lr"] = lr * share
            loss, _ = trainer.train_step(x, y, optimizer)
            average = SMOOTHING * average + (1 - SMOOTHING) * loss.item()  # one sync a step: 100 in all
            smoothed = average / (1 - SMOOTHING ** (len(lrs) + 1))
            lrs.append(lr)
            losses.append(smoothed)
            if not math.isfinite(smoothed) or smoothed > DIVERGED * lowest:
                return RangeTest(lrs, losses)
            lowest = min(lowest, smoothed)
            if len(lrs) == steps:
                break
    return RangeTest(lrs, losses)


def find_lr(cfg: DictConfig, output_dir: Path | None = None) -> float:
    """Run the range test as cfg says, record it, say the suggestion; the suggested optimizer.lr returned."""
    job = prepare(cfg, output_dir, None)
    trainer, data = _trainer(job)
    test = range_test(trainer, data.with_split(job.data.splits[0]), job.parts.optimizer, cfg.trainer.seed)
    suggestion, steepest = test.valley(), test.steepest()
    plot = plot_range_test(test, suggestion, job.output_dir / "lr_find.png")
    points = job.output_dir / "lr_find.json"
    points.write_text(json.dumps({"lr": test.lrs, "smoothed_loss": test.losses}))
    tracker = Tracker(cfg.tracking.uri, experiment_name(cfg))
    with tracker.run("lr finder", {Tag.ROLE: Role.LR_FIND}):
        tracker.log_config(cfg)
        tracker.log_metrics({"lr_find/valley": suggestion, "lr_find/steepest": steepest}, step=0)
        tracker.log_artifact(plot)
        tracker.log_artifact(points)
    log.info(
        "lr finder: optimizer.lr=%.2g (fastai's valley; the steepest fall is at %.2g), from %d steps of "
        "batch %d; the plot: %s (run %s)",
        suggestion,
        steepest,
        len(test.lrs),
        cfg.trainer.batch_size,
        plot,
        tracker.run_id,
    )
    return suggestion


def plot_range_test(test: RangeTest, suggestion: float, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(test.lrs, test.losses)
    ax.axvline(suggestion, color="C1", linestyle="--", label=f"optimizer.lr={suggestion:.2g}")
    ax.set(xscale="log", xlabel="learning rate", ylabel="training loss (smoothed)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
