"""The `optimizer` and `scheduler` config groups, instantiated from their `_target_`."""

from dataclasses import dataclass

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from sweeplab.errors import ConfigError
from sweeplab.models.builders import TransferModel

# The optimizer group's keys that are sweeplab's, not the torch optimizer's: never passed to it.
SWEEPLAB_KEYS = ("backbone_lr_scale", "no_decay_norm_bias")


def param_groups(cfg: DictConfig, model: torch.nn.Module, trains_backbone: bool) -> list[dict]:
    """One group, or for a pretrained backbone two: the head at lr, the backbone at lr x backbone_lr_scale.

    A backbone frozen for the whole run never reaches the optimizer. One frozen until
    model.unfreeze_at_epoch is in it from the start: parameters without gradients are skipped by
    every torch optimizer, so it trains from that epoch on.
    """
    scale = cfg.get("backbone_lr_scale", 1.0)
    if scale <= 0:
        raise ConfigError(f"optimizer.backbone_lr_scale={scale} must be positive (1.0: the head's lr)")
    if not isinstance(model, TransferModel):
        return [{"params": [p for p in model.parameters() if p.requires_grad]}]
    groups = [{"params": list(model.head.parameters())}]
    if trains_backbone:
        groups.append({"params": list(model.backbone.parameters()), "lr": cfg.lr * scale})
    return groups


def without_decay_on_norm_and_bias(groups: list[dict]) -> list[dict]:
    """Each group split in two: its weight matrices and kernels, and its 1-D parameters (norm scales and
    shifts, biases) at weight_decay 0, as timm's param_groups_weight_decay does: decaying a norm's scale
    towards 0 only fights the normalisation."""
    split = []
    for group in groups:
        decayed = [p for p in group["params"] if p.ndim > 1]
        kept = [p for p in group["params"] if p.ndim <= 1]
        split += [{**group, "params": decayed}, {**group, "params": kept, "weight_decay": 0.0}]
    return [g for g in split if g["params"]]


def build_optimizer(
    cfg: DictConfig, model: torch.nn.Module, trains_backbone: bool = True
) -> torch.optim.Optimizer:
    if cfg.lr <= 0:
        raise ConfigError(f"optimizer.lr={cfg.lr} must be positive, e.g. optimizer.lr=1e-4")
    groups = param_groups(cfg, model, trains_backbone)
    if cfg.get("no_decay_norm_bias"):
        groups = without_decay_on_norm_and_bias(groups)
    arguments = {k: cfg[k] for k in cfg if k not in SWEEPLAB_KEYS}
    try:
        # A partial, called with the groups: Hydra would turn a list of dicts of tensors into configs.
        return instantiate(arguments, _partial_=True)(groups)
    except (InstantiationException, TypeError) as e:
        raise ConfigError(f"optimizer config cannot build {cfg._target_}: {e}") from e


# Warm-up starts at 1% of the rate (timm's warmup_lr 1e-5 beside an lr of 1e-3) and rises linearly.
WARMUP_START = 0.01
SCHEDULE_KEYS = ("interval", "warmup_epochs", "epochs")  # sweeplab's, not the torch scheduler's


@dataclass(frozen=True)
class Schedule:
    """A torch learning-rate scheduler and when the loop steps it: after every optimizer step, or after
    every epoch."""

    scheduler: torch.optim.lr_scheduler.LRScheduler
    per_step: bool


def build_scheduler(
    cfg: DictConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int = 1, epochs: int | None = None
) -> Schedule | None:
    """The `scheduler` group for `epochs` epochs of `steps_per_epoch` optimizer steps, with its warm-up;
    None for a constant rate. Lengths in the config are epochs; per step they become steps."""
    cycle = cfg.get("epochs")
    if cycle is not None and epochs is not None and cycle < epochs:
        raise ConfigError(
            f"scheduler.epochs={cycle} is shorter than trainer.epochs={epochs}: a one-cycle schedule cannot "
            "run past its end; leave scheduler.epochs at ${trainer.epochs}"
        )
    per_step = str(cfg.get("interval", "epoch")) == "step"
    unit = steps_per_epoch if per_step else 1  # scheduler steps per epoch
    warmup = float(cfg.get("warmup_epochs", 0.0))
    if warmup < 0 or (not per_step and not warmup.is_integer()):
        raise ConfigError(
            f"scheduler.warmup_epochs={warmup} must be a whole number of epochs >= 0 with "
            "scheduler.interval=epoch; set scheduler.interval=step for fractions"
        )
    warm = round(warmup * unit)
    main = _main_scheduler(cfg, optimizer, unit, warm)
    if warm == 0:
        return None if main is None else Schedule(main, per_step)
    rise = torch.optim.lr_scheduler.LinearLR(optimizer, WARMUP_START, 1.0, total_iters=warm)
    if main is None:  # a constant rate after the warm-up
        return Schedule(rise, per_step)
    return Schedule(
        torch.optim.lr_scheduler.SequentialLR(optimizer, [rise, main], milestones=[warm]), per_step
    )


def _main_scheduler(cfg: DictConfig, optimizer: torch.optim.Optimizer, unit: int, warm: int):
    """The configured torch scheduler, its epoch lengths in scheduler steps (the warm-up's taken off)."""
    target = cfg.get("_target_")
    if target is None:
        return None
    arguments = {k: cfg[k] for k in cfg if k not in SCHEDULE_KEYS}
    if "T_max" in arguments:  # cosine: the decay fills what the warm-up leaves
        arguments["T_max"] = max(round(cfg.T_max * unit) - warm, 1)
    if "step_size" in arguments:
        arguments["step_size"] = max(round(cfg.step_size * unit), 1)
    if target.endswith("OneCycleLR"):
        if warm:
            raise ConfigError("scheduler=onecycle warms up itself (scheduler.pct_start); set warmup_epochs=0")
        # Each group peaks at its own rate, so a backbone's optimizer.backbone_lr_scale survives.
        arguments["max_lr"] = [group["lr"] for group in optimizer.param_groups]
        # Exactly the cycle's steps, so a refit with more steps per epoch replays the same curve in epochs;
        # the loop's step after the last batch computes a rate no batch trains at, and torch allows it.
        arguments["total_steps"] = max(round(cfg.epochs * unit), 1)
    try:
        return instantiate(arguments, optimizer=optimizer, _convert_="all")  # max_lr: a list, not a config
    except (InstantiationException, ValueError) as e:
        raise ConfigError(f"scheduler config cannot build {target}: {e}") from e
