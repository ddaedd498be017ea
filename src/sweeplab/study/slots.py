"""The sweep's slots: how many trials run at once, and each one's devices and threads.

Slots = the smallest of hydra.sweeper.n_jobs, the launcher's own n_jobs (if set) and, where
hydra.sweeper.devices lists GPUs (default: every visible GPU), devices x trials_per_device. Each slot
gets max(1, cores // slots) torch and decoding threads. The pool launcher starts each slot's worker with
the slot's CUDA_VISIBLE_DEVICES; other launchers get the threads only (as `study.threads`).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Slot:
    index: int  # 0..slots-1
    visible_devices: str | None  # CUDA_VISIBLE_DEVICES for its worker ("0", "1", ...); None: the CPU
    threads: int  # torch threads and decoding threads of its trials
