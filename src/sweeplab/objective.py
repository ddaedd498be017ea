"""The `objective` config group: which logged metric(s) a job returns to a sweeper, and how."""

from omegaconf import DictConfig, ListConfig

from sweeplab.errors import ConfigError
from sweeplab.protocol import Metric
from sweeplab.scoring.orientation import key_mode

# auto: the metric's own orientation (val/acc max, val/loss min, val/score as the competition metric).
OBJECTIVE_MODES = ("auto", "max", "min", "last")
DIRECTIONS = {"max": "maximize", "min": "minimize"}


def objective_specs(cfg: DictConfig, competition_metric: str = "accuracy") -> list[tuple[str, str]]:
    """[(metric, mode), ...]: one pair, or one per objective of a multi-objective study; mode auto is
    resolved to the metric's orientation in a competition scored by competition_metric."""
    metrics = list(cfg.metric) if isinstance(cfg.metric, ListConfig) else [cfg.metric]
    modes = list(cfg.mode) if isinstance(cfg.mode, ListConfig) else [cfg.mode] * len(metrics)
    if len(modes) != len(metrics):
        raise ConfigError(
            f"objective.mode has {len(modes)} entries for {len(metrics)} objective.metric entries"
        )
    for metric, mode in zip(metrics, modes, strict=True):
        if metric not in Metric.EPOCH + Metric.TEST:
            valid = ", ".join(Metric.EPOCH + Metric.TEST)
            raise ConfigError(f"objective.metric={metric!r} is not logged; valid: {valid}")
        if mode not in OBJECTIVE_MODES:
            raise ConfigError(f"objective.mode={mode!r} is unknown; valid: {', '.join(OBJECTIVE_MODES)}")
    pairs = zip(metrics, modes, strict=True)
    return [(m, key_mode(m, competition_metric) if mode == "auto" else mode) for m, mode in pairs]


def objective_directions(cfg: DictConfig, competition_metric: str) -> list[str]:
    """The study direction of each objective: its metric's orientation ("maximize" / "minimize").

    mode=last returns the last epoch's value, which is still better the metric's own way.
    """
    return [DIRECTIONS[key_mode(m, competition_metric)] for m, _ in objective_specs(cfg, competition_metric)]


def objective_value(history: list[dict[str, float]], metric: str, mode: str) -> float:
    """The objective over the epochs; NaN when the metric was never logged (no validation: a refit)."""
    values = [epoch[metric] for epoch in history if metric in epoch]
    if not values:
        return float("nan")
    return {"max": max, "min": min, "last": lambda v: v[-1]}[mode](values)
