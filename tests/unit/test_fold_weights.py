"""Every fold's weights at every epoch, kept until the mean curve's best epoch is known: in memory up to
a budget, in files beyond it, and let go once taken."""

import pytest
import torch

from sweeplab.training import fold_weights
from sweeplab.training.fold_weights import FoldWeights


@pytest.mark.parametrize("budget", [2**30, 40])  # all in memory; one copy (32 bytes), then files
def test_the_chosen_epochs_weights_of_every_fold_come_back(budget, tmp_path, monkeypatch):
    monkeypatch.setattr(fold_weights, "MEMORY_BYTES", budget)
    kept = FoldWeights(tmp_path / "out")
    model = torch.nn.Linear(3, 2)  # 6 + 2 floats: 32 bytes a copy
    for fold in (0, 1):
        kept.watching(model)
        for epoch in (1, 2, 3):
            with torch.no_grad():
                model.weight.fill_(10 * fold + epoch)
            kept.on_epoch(epoch, {}, fold)
    spilled = list((tmp_path / "out").glob("fold-weights-*/*.pt"))
    assert len(spilled) == (0 if budget > 1000 else 5)
    states = kept.at(2)
    assert [float(s["weight"][0, 0]) for s in states] == [2.0, 12.0]
    assert not list((tmp_path / "out").glob("fold-weights-*"))  # the files go once the model is taken
