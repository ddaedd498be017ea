"""The `optimizer` and `scheduler` config groups, instantiated from their `_target_`."""

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from sweeplab.errors import ConfigError


def build_optimizer(cfg: DictConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    # Only trainable parameters: a frozen backbone's weights never reach the optimizer.
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.lr <= 0:
        raise ConfigError(f"optimizer.lr={cfg.lr} must be positive, e.g. optimizer.lr=1e-4")
    try:
        return instantiate(cfg, params=params)
    except InstantiationException as e:
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
