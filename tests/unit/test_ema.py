"""trainer.ema_decay (issue #31): the weights' moving average with timm's warm-up of the decay, what
validation and the kept weights use, and the raw model's val/score_raw beside it."""

import pytest
import torch
from torch import nn

from helpers import compose_config
from sweeplab.errors import ConfigError
from sweeplab.training.ema import WeightsEma
from sweeplab.training.trainer import check_trainer


def test_the_first_update_copies_and_the_decay_warms_up_to_its_cap():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = WeightsEma(model, 0.99)
    decays = []
    for _ in range(2000):
        decays.append(ema.current_decay())
        ema.updates += 1
    assert decays[0] == 0.0 and decays[1] == pytest.approx(1 - 2 ** (-2 / 3))
    assert decays[99] == pytest.approx(1 - 100 ** (-2 / 3)) and max(decays) == 0.99


def test_parameters_and_running_statistics_move_by_one_minus_the_decay_and_counts_are_copied():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ema = WeightsEma(model, 0.9)
    ema.update(model)  # the first: a copy
    before = {k: v.clone() for k, v in ema.module.state_dict().items()}
    model.train()
    model(torch.randn(16, 3))  # moves BatchNorm's running statistics and its batch count
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.updates = 10_000  # past the warm-up: the decay is the cap, 0.9
    ema.update(model)
    now, current = ema.module.state_dict(), model.state_dict()
    for key, value in before.items():
        if value.is_floating_point():
            torch.testing.assert_close(now[key], 0.9 * value + 0.1 * current[key])
        else:
            assert torch.equal(now[key], current[key])  # num_batches_tracked
    assert not any(p.requires_grad for p in ema.module.parameters())


@pytest.mark.parametrize("decay", [0.0, 1.0])
def test_a_decay_outside_zero_one_is_refused_in_one_line(decay):
    with pytest.raises(ConfigError) as info:
        check_trainer(compose_config([f"trainer.ema_decay={decay}"]).trainer)
    assert str(info.value) == f"trainer.ema_decay={decay} must be in (0, 1), e.g. 0.999, or null for no EMA"
