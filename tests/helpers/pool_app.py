"""A tiny Hydra app for the pool launcher's tests: each job writes what it saw (process, devices, threads,
start time) to job.json in its output folder, sleeps if told, and returns x squared.

Run as a user runs an app (`python pool_app.py -m hydra/launcher=pool x=1,2,3`), or composed in the
test's own process by `pool_launcher()` for tests that drive the launcher directly.
"""

import json
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


@dataclass
class PoolAppConf:
    x: int = 0
    sleep: float = 0.0  # seconds the job takes after writing job.json
    fail: bool = False  # the job raises, on purpose
    ignore_ctrl_c: bool = False  # the job sleeps on after a KeyboardInterrupt


ConfigStore.instance().store(name="pool_app", node=PoolAppConf)


def task(cfg: DictConfig) -> int:
    torch = sys.modules.get("torch")  # the worker imported it; the app itself does not need it
    record = {
        "x": cfg.x,
        "pid": os.getpid(),
        "started": time.time(),
        "job_num": HydraConfig.get().job.num,
        "visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "threads": torch.get_num_threads() if torch else None,
    }
    output_dir = Path(HydraConfig.get().runtime.output_dir)
    (output_dir / "job.tmp").write_text(json.dumps(record))
    (output_dir / "job.tmp").rename(output_dir / "job.json")  # whole when it appears
    try:
        time.sleep(cfg.sleep)
    except KeyboardInterrupt:
        if not cfg.ignore_ctrl_c:
            raise
        time.sleep(cfg.sleep)
    if cfg.fail:
        raise ValueError(f"x={cfg.x} fails on purpose")
    (output_dir / "ended").touch()
    return cfg.x**2


def read_record(sweep_dir: Path, job_num: int, timeout: float = 0.0) -> dict:
    """What job `job_num` wrote when it started (hydra.sweep.subdir is the job's number), waiting up to
    `timeout` seconds for it to start."""
    path = sweep_dir / str(job_num) / "job.json"
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return json.loads(path.read_text())


@contextmanager
def pool_launcher(sweep_dir: Path, launcher: str = "pool", overrides: tuple[str, ...] = ()):
    """The configured hydra/launcher, set up for this app as Hydra sets it up for a -m run."""
    from hydra import compose, initialize
    from hydra._internal.callbacks import Callbacks  # Hydra's own launcher tests build it so too
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.plugins import Plugins
    from hydra.types import HydraContext

    with initialize(version_base=None, config_path=None):  # left at once: other tests initialise theirs
        config = compose(
            "pool_app",
            overrides=[f"hydra/launcher={launcher}", f"hydra.sweep.dir={sweep_dir}", *overrides],
            return_hydra_config=True,
        )
        loader = GlobalHydra.instance().config_loader()
    HydraConfig.instance().set_config(config)
    context = HydraContext(config_loader=loader, callbacks=Callbacks(config))
    try:
        yield Plugins.instance().instantiate_launcher(
            hydra_context=context, task_function=task, config=config
        )
    finally:
        HydraConfig.instance().cfg = None  # later tests in this process see no Hydra run


@hydra.main(version_base=None, config_name="pool_app")
def main(cfg: DictConfig) -> int:
    return task(cfg)


if __name__ == "__main__":
    main()
