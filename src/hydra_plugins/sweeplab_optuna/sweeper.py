"""The Hydra adapter: Hydra hands over the config and the launcher, the launcher side says whether it runs
a pool (hydra_plugins.sweeplab_pool.pools), sweeplab.study.sweep runs the study."""

from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


class OptunaSweeper(Sweeper):
    def __init__(self, **sweeper_cfg: Any) -> None:
        # Kept as config, not objects: the sampler is re-seeded from the study's state on every resume.
        self.sweeper_cfg = OmegaConf.create({k: v for k, v in sweeper_cfg.items() if k != "_recursive_"})

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        # Before anything imports Optuna: beside the official plugin it may be Optuna 2.10.
        from sweeplab.errors import ConfigError
        from sweeplab.study.official_plugin import official_plugin_problem

        problem = official_plugin_problem()
        if problem is not None:
            raise ConfigError(problem)
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    def sweep(self, arguments: list[str]) -> None:
        # Imported here: Hydra imports every plugin at start-up, and most runs never sweep with Optuna.
        from hydra_plugins.sweeplab_pool.pools import pooled
        from sweeplab.compat import shared_config_store
        from sweeplab.study.sweep import run_sweep

        with shared_config_store():  # each job's composition in this process, ~9 ms less per trial
            run_sweep(self.sweeper_cfg, self.config, self.launcher, list(arguments), pooled(self.launcher))
