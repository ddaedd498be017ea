"""The recipe's regularisers as config (issue #31): label smoothing, gradient clipping, no weight decay on
norm weights and biases; each checked on real torch objects against its definition."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import compose_config
from sweeplab.errors import ConfigError
from sweeplab.training.optim import build_optimizer
from sweeplab.training.trainer import Trainer, check_trainer, training_loss

LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_label_smoothing_is_cross_entropy_against_the_smoothed_target(smoothing):
    y = torch.tensor([0, 2])
    target = torch.full((2, 3), smoothing / 3) + (1 - smoothing) * F.one_hot(y, 3)
    expected = -(target * LOGITS.log_softmax(1)).sum(1).mean()
    assert training_loss(LOGITS, y, False, smoothing).item() == pytest.approx(expected.item(), rel=1e-6)


def test_label_smoothing_of_tags_moves_each_yes_and_no_by_half():
    tags = torch.tensor([[1, 0, 1], [0, 0, 1]])
    target = tags * 0.8 + 0.1  # smoothing 0.2: yes 0.9, no 0.1
    p = LOGITS.sigmoid()
    expected = -(target * p.log() + (1 - target) * (1 - p).log()).mean()
    assert training_loss(LOGITS, tags, True, 0.2).item() == pytest.approx(expected.item(), rel=1e-6)


def test_a_clipped_step_moves_the_weights_by_at_most_lr_times_the_norm():
    plain_sgd = ["optimizer=sgd", "optimizer.lr=0.5", "optimizer.momentum=0", "optimizer.nesterov=false"]
    cfg = compose_config([*plain_sgd, "optimizer.weight_decay=0", "trainer.grad_clip=0.01"])
    model = nn.Linear(4, 3)
    before = [p.detach().clone() for p in model.parameters()]
    trainer = Trainer(cfg.trainer, model, lambda x, train: x.float(), torch.device("cpu"))
    optimizer = build_optimizer(cfg.optimizer, model)
    y = model(torch.full((1, 4), 100.0)).argmin(1).repeat(8)  # the least likely class: a large gradient
    trainer.train_step(torch.full((8, 4), 100.0), y, optimizer)
    moved = math.sqrt(
        sum(((p - b) ** 2).sum().item() for p, b in zip(model.parameters(), before, strict=True))
    )
    assert moved == pytest.approx(0.5 * 0.01, rel=1e-4)  # the raw gradient's norm is in the hundreds


def test_no_decay_norm_bias_keeps_norm_and_bias_parameters_out_of_weight_decay():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(2))
    model(torch.zeros(1, 3, 5, 5))
    cfg = compose_config(
        ["optimizer=adamw", "optimizer.weight_decay=0.1", "optimizer.no_decay_norm_bias=true"]
    )
    groups = build_optimizer(cfg.optimizer, model).param_groups
    decay = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    assert [decay[id(p)] for p in model.parameters()] == [0.1, 0.0, 0.0, 0.0, 0.1, 0.0]  # kernels decay
    plain = build_optimizer(compose_config(["optimizer=adamw"]).optimizer, model).param_groups
    assert len(plain) == 1 and "no_decay_norm_bias" not in plain[0]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.label_smoothing=1.0", "trainer.label_smoothing=1.0 must be in [0, 1), e.g. 0.1"),
        ("trainer.grad_clip=0", "trainer.grad_clip=0.0 must be positive, or null for no clipping"),
    ],
)
def test_bad_regulariser_values_are_refused_in_one_line(override, message):
    with pytest.raises(ConfigError) as info:
        check_trainer(compose_config([override]).trainer)
    assert str(info.value) == message
