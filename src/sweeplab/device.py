"""The device a job trains on: which one, seeded how, and at what precision (`autocast`: the rule that
predictions follow too, in sweeplab.offline)."""

import os
import random

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from sweeplab.errors import ConfigError
from sweeplab.offline import autocast

__all__ = ["autocast", "resolve_device", "seed_everything", "set_threads"]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"trainer.device={name} but no CUDA device is visible; use trainer.device=auto or cpu"
        )
    try:
        return torch.device(name)
    except RuntimeError as e:
        raise ConfigError(f"trainer.device={name!r} is not a device; use auto, cpu, cuda or cuda:N") from e


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS needs a fixed workspace to be deterministic; harmless on the CPU.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic  # autotuning picks kernels by timing


def set_threads(cfg: DictConfig) -> int:
    """torch's threads, and the decoding threads' default: trainer.num_threads, else the sweep slot's share
    of the cores (study.threads), else torch's own choice. Set in the job before torch does any work, so
    that two trials on one machine do not each take every core."""
    threads = cfg.trainer.get("num_threads") or OmegaConf.select(cfg, "study.threads", default=None)
    if threads is None:
        return torch.get_num_threads()
    if int(threads) < 1:
        raise ConfigError(f"trainer.num_threads={threads} must be at least 1 (null: the slot's share)")
    torch.set_num_threads(int(threads))
    if "num_workers" in cfg.data and cfg.data.num_workers is None:
        cfg.data.num_workers = int(threads)
    return int(threads)
