"""Which launchers run a sweep's trials as a pool (sweeplab.study.slots.Pooled): the launcher side owns
how a launcher takes one job at a time into a slot, and the Hydra adapter hands the result to the sweep.

The pool launcher is one itself; Hydra's joblib launcher runs as one through an adapter (_joblib_pool.py,
imported only then: Hydra imports every plugin module whose name has no leading underscore at start-up).
"""

from typing import Any

from sweeplab.study.slots import Pooled


def pooled(launcher: Any) -> Pooled | None:
    """The launcher as a pool: the pool launcher itself, joblib through an adapter; None: it runs batches.

    Recognised by the class of the instance, without importing any plugin: Hydra imports every installed
    plugin at start-up, and ray alone takes seconds.
    """
    if _is_instance(launcher, "hydra_plugins.sweeplab_pool.pool_launcher", "PoolLauncher"):
        return launcher
    if _is_instance(launcher, "hydra_plugins.hydra_joblib_launcher.joblib_launcher", "JoblibLauncher"):
        from hydra_plugins.sweeplab_pool._joblib_pool import JoblibPool

        return JoblibPool(launcher)
    return None


def _is_instance(obj: Any, module: str, name: str) -> bool:
    """Whether obj's class is module.name, by name: Hydra's plugin discovery executes hydra_plugins modules
    again, so the class object an instance was made from need not be the one in sys.modules."""
    return type(obj).__module__ == module and type(obj).__name__ == name
