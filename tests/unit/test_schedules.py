"""Learning-rate schedules per optimizer step, with warm-up, and fastai's one-cycle (issue #31): the
curves against torch's own schedulers and fastai's definition, and the refusals."""

import math

import pytest
import torch
from torch import nn

from helpers import compose_config
from sweeplab.errors import ConfigError
from sweeplab.training.optim import build_optimizer, build_scheduler

STEPS = 10  # optimizer steps per epoch


def curve(overrides: list[str], epochs: int = 4, head_lr_scale: float | None = None) -> list[list[float]]:
    """Every group's lr at each step it trains, over `epochs` epochs of STEPS optimizer steps."""
    cfg = compose_config([f"trainer.epochs={epochs}", "optimizer.lr=0.1", *overrides])
    model = nn.Linear(2, 2)
    optimizer = build_optimizer(cfg.optimizer, model)
    if head_lr_scale is not None:  # a second group at its own rate, as a backbone's
        optimizer.add_param_group({"params": [nn.Parameter(torch.zeros(1))], "lr": 0.1 * head_lr_scale})
    schedule = build_scheduler(cfg.scheduler, optimizer, STEPS, epochs)
    lrs = []
    for _ in range(epochs * (STEPS if schedule.per_step else 1)):
        lrs.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        schedule.scheduler.step()
    return lrs


def test_per_epoch_cosine_is_torchs_own_as_before():
    """Schema defaults keep old behaviour: recorded configs rerun exactly."""
    optimizer = torch.optim.Adam(nn.Linear(2, 2).parameters(), lr=0.1)
    torch_cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=4)
    expected = []
    for _ in range(4):
        expected.append([optimizer.param_groups[0]["lr"]])
        optimizer.step()
        torch_cosine.step()
    assert curve(["scheduler=cosine"]) == expected


def test_per_step_cosine_is_the_same_curve_in_epochs_smooth_within_them():
    per_epoch = curve(["scheduler=cosine"])
    per_step = curve(["scheduler=cosine", "scheduler.interval=step"])
    assert len(per_step) == 4 * STEPS
    starts = [g[0] for g in per_step[::STEPS]]
    assert starts == pytest.approx([g[0] for g in per_epoch])  # each epoch starts where the epoch curve is
    assert per_step[5][0] == pytest.approx(0.1 * (1 + math.cos(math.pi * 5 / 40)) / 2)


def test_a_warm_up_rises_linearly_from_one_percent_then_decays_over_the_rest():
    lrs = [
        g[0] for g in curve(["scheduler=cosine", "scheduler.interval=step", "scheduler.warmup_epochs=0.5"])
    ]
    warm = STEPS // 2
    assert lrs[0] == pytest.approx(0.001) and lrs[warm] == pytest.approx(0.1)
    assert lrs[1] - lrs[0] == pytest.approx(lrs[2] - lrs[1])  # linear
    rest = 4 * STEPS - warm
    assert lrs[warm + 7] == pytest.approx(0.1 * (1 + math.cos(math.pi * 7 / rest)) / 2)


def test_a_warm_up_before_a_constant_rate():
    lrs = [g[0] for g in curve(["scheduler.interval=step", "scheduler.warmup_epochs=1"])]
    assert lrs[0] == pytest.approx(0.001) and lrs[STEPS:] == pytest.approx([0.1] * 3 * STEPS)


def test_one_cycle_is_fastais_and_each_group_peaks_at_its_own_rate():
    lrs = curve(["scheduler=onecycle"], head_lr_scale=0.1)
    total = 4 * STEPS
    assert len(lrs) == total
    head, scaled = ([g[i] for g in lrs] for i in (0, 1))
    # fastai's pct_start 0.25: the peak at step 0.25 x 40 - 1 = 9 (torch counts from 0).
    assert head[0] == pytest.approx(0.1 / 25) and max(head) == pytest.approx(0.1) == head[9]
    assert max(scaled) == pytest.approx(0.01) == scaled[9]
    assert head[-1] == pytest.approx(0.1 / 25 / 1e5)  # the last step trains at lr / 2.5e6


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["scheduler=cosine", "scheduler.warmup_epochs=0.5"],
            "scheduler.warmup_epochs=0.5 must be a whole number of epochs >= 0 with "
            "scheduler.interval=epoch; set scheduler.interval=step for fractions",
        ),
        (["scheduler=onecycle", "scheduler.warmup_epochs=1"], "scheduler=onecycle warms up itself"),
        (
            ["scheduler=onecycle", "scheduler.epochs=2"],
            "scheduler.epochs=2 is shorter than trainer.epochs=4: a one-cycle schedule cannot run past",
        ),
    ],
)
def test_schedules_that_cannot_run_are_refused_in_one_line(overrides, message):
    with pytest.raises(ConfigError) as info:
        curve(overrides)
    assert message in str(info.value) and "\n" not in str(info.value)
