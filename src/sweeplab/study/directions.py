"""hydra.sweeper.direction: one direction, or one per objective of a multi-objective study."""

from typing import Any

from omegaconf import ListConfig
from optuna.study import StudyDirection

from sweeplab.errors import ConfigError

DIRECTIONS = ("minimize", "maximize")


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
