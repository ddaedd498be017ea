"""The sweep's slots: how many trials run at once, and each one's devices and threads.

Slots = the smallest of hydra.sweeper.n_jobs, the launcher's own n_jobs (if set) and, where
hydra.sweeper.devices lists GPUs (default: every visible GPU), devices x trials_per_device. Each slot
gets max(1, cores // slots) torch and decoding threads. The pool launcher starts each slot's worker with
the slot's CUDA_VISIBLE_DEVICES; other launchers get the threads only (as `study.threads`).
"""

import os
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

from omegaconf import DictConfig, OmegaConf

from sweeplab.errors import ConfigError


@dataclass(frozen=True)
class Slot:
    index: int  # 0..slots-1
    visible_devices: str | None  # CUDA_VISIBLE_DEVICES for its worker ("0", "1", ...); None: the CPU
    threads: int  # torch threads and decoding threads of its trials


class Pooled(Protocol):
    """A launcher that takes one job at a time into a slot (hydra/launcher=pool, joblib through an adapter).
    A future resolves to Hydra's JobReturn, a failed one for a job whose worker died; it never raises."""

    def start(self, slots: list[Slot]) -> None: ...

    def submit(self, overrides: list[str], job_idx: int, slot: Slot) -> Future: ...

    def interrupt(self) -> None: ...

    def shutdown(self) -> None: ...


def usable_cores() -> int:
    """Cores this process may run on (not os.cpu_count(): in a container or under taskset that reports the
    host's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def visible_gpus(job_cfg: DictConfig) -> list[str]:
    """GPU ids a sweeplab job could use. Other apps get none: counting GPUs needs torch, which the
    official plugin's users do not pay for."""
    if not ("study" in job_cfg and "trainer" in job_cfg):
        return []
    import torch  # device_count asks NVML: CUDA is not initialised in the sweep's process

    return [str(i) for i in range(torch.cuda.device_count())]


def plan_slots(sweeper_cfg: DictConfig, job_cfg: DictConfig, sequential: bool) -> list[Slot]:
    """The sweep's slots: min(n_jobs, the launcher's own n_jobs if set, devices x trials_per_device);
    slot i runs on devices[i % len(devices)], so that with 2 GPUs the first two slots own one each."""
    count = 1 if sequential else int(sweeper_cfg.n_jobs)
    launcher_jobs = OmegaConf.select(job_cfg, "hydra.launcher.n_jobs", default=None)
    if isinstance(launcher_jobs, int) and launcher_jobs > 0:  # joblib's -1 means every core: no limit
        count = min(count, launcher_jobs)
    per_device = int(sweeper_cfg.get("trials_per_device", 1))
    if per_device < 1:
        raise ConfigError(f"hydra.sweeper.trials_per_device={per_device} must be at least 1")
    given = sweeper_cfg.get("devices")
    devices = [str(d) for d in given] if given else visible_gpus(job_cfg)
    if devices:
        count = min(count, len(devices) * per_device)
    threads = max(1, usable_cores() // count)
    return [Slot(i, devices[i % len(devices)] if devices else None, threads) for i in range(count)]


def slot_overrides(slot: Slot, pins_devices: bool, job_cfg: DictConfig) -> list[str]:
    """What a sweeplab job is told of its slot: its index and threads; and, where the launcher cannot
    start the job's process with the slot's CUDA_VISIBLE_DEVICES (joblib), its device by name."""
    if "study" not in job_cfg:
        return []
    overrides = [f"study.slot={slot.index}", f"study.threads={slot.threads}"]
    auto = OmegaConf.select(job_cfg, "trainer.device", default="auto") == "auto"
    if slot.visible_devices is not None and not pins_devices and auto:
        overrides.append(f"trainer.device=cuda:{slot.visible_devices}")
    return overrides


def pooled(launcher: object) -> Pooled | None:
    """The launcher as a pool of slots, or None for one that runs batches (Hydra's basic launcher,
    submitit, Ray, RQ). Recognised by name: importing the plugins here would cost seconds (ray)."""
    if all(hasattr(launcher, m) for m in ("start", "submit", "interrupt", "shutdown")):
        return launcher  # hydra/launcher=pool
    if type(launcher).__name__ == "JoblibLauncher":
        from sweeplab.study.joblib_pool import JoblibPool

        return JoblibPool(launcher)
    return None
