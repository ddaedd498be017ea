"""The `optimizer` and `scheduler` config groups, instantiated from their `_target_`."""

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


def build_scheduler(
    cfg: DictConfig, optimizer: torch.optim.Optimizer
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """A per-epoch learning-rate schedule, or None for a constant rate."""
    if cfg.get("_target_") is None:
        return None
    try:
        return instantiate(cfg, optimizer=optimizer)
    except InstantiationException as e:
        raise ConfigError(f"scheduler config cannot build {cfg._target_}: {e}") from e
