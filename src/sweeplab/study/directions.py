"""hydra.sweeper.direction: one direction, or one per objective of a multi-objective study."""

from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from optuna.study import StudyDirection

from sweeplab.errors import ConfigError
from sweeplab.objective import objective_directions, objective_specs

DIRECTIONS = ("minimize", "maximize")
OFFICIAL_DEFAULT = (
    "minimize"  # the official plugin's, for its sphere example: apps that are not sweeplab jobs
)


def competition_metric(job_cfg: DictConfig) -> str:
    """The job's data.metric (accuracy for a config without one)."""
    return str(OmegaConf.select(job_cfg, "data.metric", default="accuracy"))


def sweep_directions(direction: Any, job_cfg: DictConfig) -> tuple[list[str], bool]:
    """(the study's directions, whether they were derived): hydra.sweeper.direction when given, else a
    sweeplab job's objectives' own orientations; refused before the storage is opened when the given
    direction has another length than the objectives, or contradicts one of them."""
    objective = job_cfg.get("objective")
    if objective is None:
        return directions_of(OFFICIAL_DEFAULT if direction is None else direction), False
    metric = competition_metric(job_cfg)
    expected = objective_directions(objective, metric)
    if direction is None:
        return expected, True
    given = directions_of(direction)
    metrics = [m for m, _ in objective_specs(objective, metric)]
    if len(metrics) != len(given):
        raise ConfigError(
            f"hydra.sweeper.direction has {len(given)} entries but objective.metric names "
            f"{len(metrics)} ({', '.join(metrics)}): give one direction per objective, or none"
        )
    for key, want, got in zip(metrics, expected, given, strict=True):
        if want != got:
            better = "higher" if want == "maximize" else "lower"
            raise ConfigError(
                f"hydra.sweeper.direction={got} contradicts objective.metric={key}, which is better "
                f"{better} (data.metric={metric}): drop hydra.sweeper.direction, the objective sets it"
            )
    return given, False


def directions_of(direction: Any) -> list[str]:
    """["minimize" | "maximize", ...] from a string, an enum (the official plugin's) or a list of them."""
    items = list(direction) if isinstance(direction, list | ListConfig) else [direction]
    names = [str(getattr(d, "name", d)).lower() for d in items]
    bad = [n for n in names if n not in DIRECTIONS]
    if bad or not names:
        raise ConfigError(
            f"hydra.sweeper.direction={direction} is invalid; use minimize, maximize or a list of them"
        )
    return names


def study_directions(names: list[str]) -> list[StudyDirection]:
    return [StudyDirection[name.upper()] for name in names]
