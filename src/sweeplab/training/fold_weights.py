"""Every fold model's weights at every epoch, until the submission's epoch is known.

With folds the submission averages the fold models' test predictions at the best epoch of the mean
curve, which is known only after the last fold: so each fold's weights are kept at every epoch, and the
ones at that epoch make the run's model. Copies stay in memory up to MEMORY_BYTES in all, the rest go
to files in a temporary folder, removed once the run's model is taken.
"""

import shutil
import tempfile
from pathlib import Path

import torch

from sweeplab.training.result import state_copy
from sweeplab.training.trainer import Hook

# 5 folds x 20 epochs of the lab's seed CNN at 444 px (12 MB a copy) fit in memory; a 5-fold ResNet-50
# (100 MB a copy) spills to disk after 10 copies instead of holding 10 GB of RAM.
MEMORY_BYTES = 2**30


class FoldWeights(Hook):
    """A hook that copies the model it watches after every epoch of every fold."""

    def __init__(self, spill_dir: Path):
        self.spill_dir, self.model = spill_dir, None
        self.kept: dict[tuple[int, int], dict[str, torch.Tensor] | Path] = {}
        self.bytes = 0
        self.folder: Path | None = None

    def watching(self, model: torch.nn.Module) -> "FoldWeights":
        """The module the next fold trains (the head alone over cached features)."""
        self.model = model
        return self

    def on_epoch(self, epoch: int, metrics: dict[str, float], fold: int | None) -> None:
        state = state_copy(self.model)
        self._forget(fold, epoch)  # the fold trained again at half the batch after an out-of-memory
        size = _bytes(state)
        if self.bytes + size <= MEMORY_BYTES:
            self.kept[fold, epoch], self.bytes = state, self.bytes + size
            return
        if self.folder is None:
            self.spill_dir.mkdir(parents=True, exist_ok=True)
            self.folder = Path(tempfile.mkdtemp(prefix="fold-weights-", dir=self.spill_dir))
        path = self.folder / f"fold{fold}-epoch{epoch}.pt"
        torch.save(state, path)
        self.kept[fold, epoch] = path

    def at(self, epoch: int) -> list[dict[str, torch.Tensor]]:
        """Every fold's weights at `epoch`, fold by fold; everything kept is let go."""
        folds = sorted({fold for fold, _ in self.kept})
        chosen = [self.kept[fold, epoch] for fold in folds]
        states = [torch.load(s, weights_only=True) if isinstance(s, Path) else s for s in chosen]
        self.close()
        return states

    def _forget(self, fold: int, epoch: int) -> None:
        old = self.kept.pop((fold, epoch), None)
        if isinstance(old, dict):
            self.bytes -= _bytes(old)

    def close(self) -> None:
        self.kept, self.bytes = {}, 0
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def _bytes(state: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in state.values())
