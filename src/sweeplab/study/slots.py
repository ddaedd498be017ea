"""The sweep's slots: how many trials run at once, and each one's devices and threads.

Slots = the smallest of hydra.sweeper.n_jobs, the launcher's own n_jobs (if set) and, where
hydra.sweeper.devices lists GPUs (default: every visible GPU), devices x trials_per_device. Each slot
gets max(1, cores // slots) torch and decoding threads. The pool launcher starts each slot's worker with
the slot's CUDA_VISIBLE_DEVICES; other launchers get the threads only (as `study.threads`).
"""

import logging
import os
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

from hydra.core.utils import JobReturn, JobStatus
from omegaconf import DictConfig, OmegaConf

from sweeplab.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Slot:
    index: int  # 0..slots-1
    visible_devices: str | None  # CUDA_VISIBLE_DEVICES for its worker ("0", "1", ...); None: not pinned
    threads: int | None  # torch threads and decoding threads of its trials; None: the job's own choice
    device_index: int | None = None  # its GPU among those the sweep sees (trainer.device=cuda:I)


def failed_job(error: BaseException) -> JobReturn:
    """A failed JobReturn whose return_value is `error`: what a pool's future, or a launcher that lost a
    job, gives for a job that did not finish."""
    result = JobReturn(status=JobStatus.FAILED)
    result.return_value = error
    return result


class Pooled(Protocol):
    """A launcher that runs one job at a time per slot, so the sweeper refills a slot as soon as it frees."""

    def start(self, slots: list[Slot]) -> None:
        """Once, before the first submit: workers for these slots."""

    def submit(self, overrides: list[str], job_idx: int, slot: Slot) -> Future:
        """One job on the slot; the Future resolves to its hydra JobReturn (failed, never raising, when its
        worker died)."""

    def interrupt(self) -> None:
        """Ctrl-C: stop every running job now."""

    def shutdown(self) -> None:
        """Sweep end: stop the workers."""


def usable_cores() -> int:
    """Cores this process may run on (not os.cpu_count(): in a container or under taskset that reports the
    host's). sweeplab.offline's twin: the sweep process does not import torch, which offline needs."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def visible_gpus(job_cfg: DictConfig) -> int:
    """How many GPUs a sweeplab job on this machine could use. Other apps get none: counting GPUs needs
    torch, which the official plugin's users do not pay for; so does a job told trainer.device=cpu."""
    device = str(OmegaConf.select(job_cfg, "trainer.device", default="auto"))
    if not ("study" in job_cfg and "trainer" in job_cfg) or not device.startswith(("auto", "cuda")):
        return 0
    import torch  # device_count asks NVML: CUDA is not initialised in the sweep's process

    return torch.cuda.device_count()


def plan_slots(
    sweeper_cfg: DictConfig, job_cfg: DictConfig, sequential: bool, local: bool = True
) -> list[Slot]:
    """The sweep's slots: min(n_jobs, the launcher's own n_jobs if set, devices x trials_per_device);
    slot i runs on devices[i % len(devices)], so that with 2 GPUs the first two slots own one each.
    Devices and threads are this machine's: for a launcher whose jobs run elsewhere (Slurm, a Ray cluster,
    RQ workers on other hosts) the slots are n_jobs, and each job chooses its own."""
    count = 1 if sequential else int(sweeper_cfg.n_jobs)
    launcher_jobs = OmegaConf.select(job_cfg, "hydra.launcher.n_jobs", default=None)
    if isinstance(launcher_jobs, int) and launcher_jobs > 0:  # joblib's -1 means every core: no limit
        count = min(count, launcher_jobs)
    per_device = int(sweeper_cfg.get("trials_per_device", 1))
    if per_device < 1:
        raise ConfigError(f"hydra.sweeper.trials_per_device={per_device} must be at least 1")
    if not local:
        return [Slot(i, None, None) for i in range(count)]
    devices = _devices(sweeper_cfg.get("devices"), job_cfg)
    if devices and count > len(devices) * per_device:
        log.info(
            "%d slots, not hydra.sweeper.n_jobs=%d: %d GPU%s x hydra.sweeper.trials_per_device=%d "
            "(raise it to share a GPU between small trials)",
            len(devices) * per_device,
            count,
            len(devices),
            "" if len(devices) == 1 else "s",
            per_device,
        )
        count = len(devices) * per_device
    threads = max(1, usable_cores() // count)
    if not devices:
        return [Slot(i, None, threads) for i in range(count)]
    slots = []
    for i in range(count):
        visible, index = devices[i % len(devices)]
        slots.append(Slot(i, visible, threads, device_index=index))
    return slots


def _devices(given, job_cfg: DictConfig) -> list[tuple[str, int]]:
    """(CUDA_VISIBLE_DEVICES value, index as this process sees it) of each GPU the slots run on.

    hydra.sweeper.devices counts the GPUs this process sees, as trainer.device=cuda:I does: under
    CUDA_VISIBLE_DEVICES=2,3 (Slurm, a shared machine) devices=[0] is physical GPU 2, and a worker pinned
    to it is given CUDA_VISIBLE_DEVICES=2."""
    if given:
        if not all(isinstance(d, int) and d >= 0 for d in given):
            raise ConfigError(
                f"hydra.sweeper.devices={list(given)} must list GPU indices, e.g. [0, 1] (null: every GPU)"
            )
        indices = [int(d) for d in given]
    else:
        indices = list(range(visible_gpus(job_cfg)))
    seen = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [i.strip() for i in seen.split(",")] if seen else None
    if ids is not None and any(i >= len(ids) for i in indices):
        raise ConfigError(
            f"hydra.sweeper.devices={indices}: this process sees {len(ids)} GPU(s) "
            f"(CUDA_VISIBLE_DEVICES={seen}); use indices below {len(ids)}"
        )
    return [(ids[i] if ids is not None else str(i), i) for i in indices]


def slot_overrides(slot: Slot, pins_devices: bool, job_cfg: DictConfig) -> list[str]:
    """What a sweeplab job is told of its slot: its index and threads; and, where the launcher cannot
    start the job's process with the slot's CUDA_VISIBLE_DEVICES (joblib), its device by name."""
    if "study" not in job_cfg:
        return []
    overrides = [f"study.slot={slot.index}"]
    if slot.threads is not None:
        overrides.append(f"study.threads={slot.threads}")
    auto = OmegaConf.select(job_cfg, "trainer.device", default="auto") == "auto"
    if slot.device_index is not None and not pins_devices and auto:
        overrides.append(f"trainer.device=cuda:{slot.device_index}")
    return overrides
