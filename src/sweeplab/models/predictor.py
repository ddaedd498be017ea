"""One prediction path: uint8 images in, class probabilities out, as a run's submission was made.

`Predictor` is the whole of it in one module (scale, normalise, every member model, softmax or sigmoid,
the TTA views, the mean over members), so the same object serves `sweeplab predict`, the MLflow model
and the exported bundle. The trainer predicts through `probabilities` and `view_mean` too, so the
run's own test predictions and these cannot drift apart.
"""

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

Stats = tuple[list[float], list[float]]  # per-channel mean and std on the 0..1 scale


def probabilities(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Class probabilities (softmax), or each tag's own (sigmoid) for multi-label."""
    return torch.sigmoid(logits) if multilabel else F.softmax(logits, 1)


def flipped(x: torch.Tensor, view: str) -> torch.Tensor:
    """A TTA view of an (N, C, H, W) batch: hflip mirrors left-right, vflip top-bottom."""
    return x.flip(-1 if view == "hflip" else -2)


def view_mean(
    probs: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tta: Sequence[str]
) -> torch.Tensor:
    """probs(x) averaged over x and its flipped views (trainer.tta)."""
    total = probs(x)
    for view in tta:
        total = total + probs(flipped(x, view))
    return total / (1 + len(tta))


class Predictor(nn.Module):
    """uint8 images (N, 3, S, S) -> probabilities (N, C): /255, the run's normalisation, each member's
    softmax (sigmoid for multi-label) averaged over the TTA views, then over the members (K fold models)."""

    def __init__(
        self, members: Sequence[nn.Module], stats: Stats | None, multilabel: bool, tta: Sequence[str]
    ):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.multilabel, self.tta = multilabel, tuple(tta)
        self.normalise = stats is not None
        if stats is not None:  # buffers: they follow .to(device) and travel inside an exported program
            self.register_buffer("mean", torch.tensor(stats[0]).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(stats[1]).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # The trainer's eval path (BatchAugment): /255, then (x - mean) / std; flips commute with both.
        x = images.float() / 255.0
        if self.normalise:
            x = (x - self.mean) / self.std
        total = None
        for member in self.members:
            probs = view_mean(lambda v, m=member: probabilities(m(v).float(), self.multilabel), x, self.tta)
            total = probs if total is None else total + probs
        return total / len(self.members)
