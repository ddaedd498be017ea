# Copyright (c) Facebook, Inc. and its affiliates. All Rights Reserved
# From hydra-rq-launcher 1.2.0 (MIT), unchanged but for the config it imports.
from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from .config import RQLauncherConf


class RQLauncher(Launcher):
    def __init__(self, **params: Any) -> None:
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None
        self.rq = OmegaConf.structured(RQLauncherConf(**params))

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.task_function = task_function
        self.hydra_context = hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from . import _core  # rq and redis are imported only by a sweep that uses them

        return _core.launch(launcher=self, job_overrides=job_overrides, initial_job_idx=initial_job_idx)
