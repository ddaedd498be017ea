"""`hydra/launcher=pool`: warm local worker processes, one per slot of the sweep (sweeplab.study.slots)."""

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore


@dataclass
class PoolLauncherConf:
    _target_: str = "hydra_plugins.sweeplab_pool.pool_launcher.PoolLauncher"
    n_jobs: int | None = None  # worker processes; None: hydra.sweeper.n_jobs (the sweep's slots)
    # spawn: a worker starts as a fresh Python that imports the task's module (fork would copy the
    # parent's threads and any CUDA state, which CUDA does not survive)
    start_method: str = "spawn"


ConfigStore.instance().store(
    group="hydra/launcher", name="pool", node=PoolLauncherConf, provider="sweeplab_pool"
)
