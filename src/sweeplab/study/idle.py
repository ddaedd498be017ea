"""How busy a sweep kept its slots, read from its trials' MLflow runs (issue #22's measure).

Idle share: of the slot-seconds between the first trial's start and the moment the last trial starts,
the share in which a slot held no trial. A run's start is when its job created it, so launch overhead
and a job's preparation count as idle.
"""

from dataclasses import dataclass

from mlflow.entities import Run


@dataclass(frozen=True)
class SlotUse:
    runs: int
    window_s: float  # first start to last start
    busy_s: float  # run-seconds inside the window
    slots: int

    @property
    def idle_share(self) -> float:
        capacity = self.slots * self.window_s
        return 0.0 if capacity <= 0 else max(0.0, 1.0 - self.busy_s / capacity)


def slot_use(runs: list[Run], slots: int) -> SlotUse:
    """The slots' use by these (finished) trial runs; times are MLflow's, in milliseconds."""
    spans = sorted((r.info.start_time / 1000, (r.info.end_time or r.info.start_time) / 1000) for r in runs)
    if not spans:
        return SlotUse(0, 0.0, 0.0, slots)
    first, last = spans[0][0], spans[-1][0]
    busy = sum(max(0.0, min(end, last) - max(start, first)) for start, end in spans)
    return SlotUse(len(spans), last - first, busy, slots)
