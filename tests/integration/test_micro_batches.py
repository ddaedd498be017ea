"""The batch a trial sampled is the batch it trains with (issue #31): trainer.micro_batch splits it with
gradient accumulation, and an out-of-memory retry halves the micro-batch, never the batch."""

import logging

import pytest
import torch
from torch import nn

from helpers import compose_config
from helpers.runs import only_run
from sweeplab.errors import ConfigError
from sweeplab.protocol import Metric
from sweeplab.training.job import run
from sweeplab.training.optim import build_optimizer
from sweeplab.training.trainer import Trainer, check_trainer


def one_step(micro_batch: int | None, label_smoothing: float = 0.0) -> list[torch.Tensor]:
    """The gradients of one step of a linear model (no BatchNorm: micro-batches change nothing else)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    cfg = compose_config(
        [
            "trainer.batch_size=32",
            f"trainer.micro_batch={micro_batch or 'null'}",
            f"trainer.label_smoothing={label_smoothing}",
        ]
    )
    trainer = Trainer(cfg.trainer, model, lambda x, train: x.float() / 255, torch.device("cpu"))
    x = torch.randint(0, 256, (32, 3, 2, 2), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    y = torch.arange(32) % 3
    loss, logits = trainer.train_step(x, y, build_optimizer(cfg.optimizer, model))
    assert logits.shape == (32, 3) and trainer.steps == 1
    return [loss, *(p.grad for p in model.parameters())]


@pytest.mark.parametrize("micro_batch", [8, 5, 1])  # 5: a last micro-batch of 2
def test_accumulated_micro_batches_give_the_whole_batchs_loss_and_gradient(micro_batch):
    for got, want in zip(one_step(micro_batch, 0.1), one_step(None, 0.1), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_micro_batches_end_each_epoch_with_the_same_steps_and_lr(tiny_overrides, tmp_path, mlflow_client):
    """Micro-batches of 2 in a batch of 8: the same optimizer steps and learning rate as whole batches."""
    curves = []
    for micro in ("null", "2"):
        experiment = f"micro-{micro}"
        overrides = [*tiny_overrides, "scheduler=step", f"trainer.micro_batch={micro}"]
        run(compose_config([*overrides, f"tracking.experiment={experiment}"]), output_dir=tmp_path / micro)
        run_id = only_run(mlflow_client, experiment).info.run_id
        keys = (Metric.TRAIN_STEPS, Metric.LR)
        curves.append([[m.value for m in mlflow_client.get_metric_history(run_id, k)] for k in keys])
    whole, micro = curves
    assert whole == micro and whole[0][-1] > whole[0][0] > 0  # the steps add up over the epochs
    assert whole[1][0] > whole[1][-1]  # scheduler=step: the rate halves each epoch


def test_out_of_memory_halves_the_micro_batch_not_the_batch(
    tiny_overrides, tmp_path, simulate_oom, caplog, mlflow_client
):
    simulate_oom(2)
    with caplog.at_level(logging.WARNING, logger="sweeplab.training.job"):
        run(compose_config([*tiny_overrides, "trainer.oom_retry=true"]), output_dir=tmp_path / "o")
    logged = only_run(mlflow_client)
    assert logged.data.tags["sweeplab.micro_batch"] == "2" and logged.data.params["trainer.batch_size"] == "8"
    said = [r.getMessage() for r in caplog.records if "Out of memory" in r.getMessage()]
    assert said[-1] == (
        "Out of memory: training again from scratch in micro-batches of 2 (trainer.micro_batch; the batch "
        "stays 8: their gradients add up to it)"
    )


@pytest.mark.parametrize("micro", [0, 9])
def test_a_micro_batch_beyond_the_batch_is_refused_in_one_line(micro):
    with pytest.raises(ConfigError) as info:
        check_trainer(compose_config(["trainer.batch_size=8", f"trainer.micro_batch={micro}"]).trainer)
    expected = (
        f"trainer.micro_batch={micro} must be in 1..trainer.batch_size (8), or null for the whole batch"
    )
    assert str(info.value) == expected + " at once"
