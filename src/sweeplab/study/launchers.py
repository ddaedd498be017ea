"""Where a Hydra launcher runs a study's jobs, and what that asks of the study's storage and MLflow store.

Read from the launcher's config (`hydra.launcher._target_` and a few of its keys), not by importing the
plugins: Hydra imports every installed plugin at start-up, and ray alone takes seconds to import.
"""

from dataclasses import dataclass
from enum import Enum

from omegaconf import DictConfig, OmegaConf

from sweeplab.runs.redact import redact

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Where(Enum):
    IN_PROCESS = "in the sweep's process"
    THIS_MACHINE = "in other processes on this machine"
    OTHER_MACHINES = "on other machines"


@dataclass(frozen=True)
class Placement:
    launcher: str  # the hydra/launcher option's name, for messages
    where: Where
    batch: bool  # runs a batch of jobs at once (every launcher but Hydra's basic one)


def placement(config: DictConfig) -> Placement:
    """Where the configured launcher runs jobs; an unknown launcher is taken as this machine's processes."""
    target = OmegaConf.select(config, "hydra.launcher._target_", default="") or ""
    launcher = OmegaConf.select(config, "hydra.launcher", default={}) or {}
    name = target.rsplit(".", 1)[-1]
    if name == "BasicLauncher":
        return Placement("basic", Where.IN_PROCESS, batch=False)
    if "hydra_submitit_launcher" in target:
        slurm = name == "SlurmLauncher"
        return Placement(
            "submitit_slurm" if slurm else "submitit_local",
            Where.OTHER_MACHINES if slurm else Where.THIS_MACHINE,
            batch=True,
        )
    if name == "RayAWSLauncher":
        return Placement("ray_aws", Where.OTHER_MACHINES, batch=True)
    if name == "RayLauncher":
        # No address (or "local") starts a Ray cluster on this machine; any other joins a cluster that
        # may have nodes elsewhere ("auto" finds one started by `ray start --head`).
        address = OmegaConf.select(launcher, "ray.init.address", default=None)
        here = address in (None, "local")
        return Placement("ray", Where.THIS_MACHINE if here else Where.OTHER_MACHINES, batch=True)
    if name == "RQLauncher":
        if OmegaConf.select(launcher, "redis.mock", default=False):
            return Placement("rq", Where.IN_PROCESS, batch=True)  # fakeredis runs each job synchronously
        host = str(OmegaConf.select(launcher, "redis.host", default="localhost"))
        # A worker reaching Redis on a loopback address is on this machine.
        here = host in LOOPBACK
        return Placement("rq", Where.THIS_MACHINE if here else Where.OTHER_MACHINES, batch=True)
    if name == "JoblibLauncher":
        return Placement("joblib", Where.THIS_MACHINE, batch=True)
    if name == "PoolLauncher":
        return Placement("pool", Where.THIS_MACHINE, batch=True)
    return Placement(name or "unknown", Where.THIS_MACHINE, batch=True)


def is_local_store(url: str) -> bool:
    """An SQLite file or a folder: reachable from this machine only."""
    return url.startswith(("sqlite:", "file:")) or "://" not in url


def storage_warning(where: Placement, storage_url: str, tracking_uri: str | None) -> str | None:
    """One line when jobs run on other machines but the study or its runs are in local files."""
    if where.where != Where.OTHER_MACHINES:
        return None  # other processes on this machine share SQLite files fine (docs/studies.md, Scaling out)
    local = []
    if is_local_store(storage_url):
        local.append(
            f"the study's storage {redact(storage_url)} (set hydra.sweeper.storage=postgresql://...)"
        )
    if tracking_uri is not None and is_local_store(tracking_uri):
        local.append(f"the MLflow store {redact(tracking_uri)} (set tracking.uri=http://MLFLOWHOST:5000)")
    if not local:
        return None
    return (
        f"hydra/launcher={where.launcher} runs trials {where.where.value}, which cannot reach "
        f"{' or '.join(local)}: use PostgreSQL and an MLflow server (docs/studies.md, Scaling out)"
    )
