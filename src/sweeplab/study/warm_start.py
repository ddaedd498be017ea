"""Configs a study runs first: hydra.sweeper.enqueue, and the best trials of another study of the same
storage (hydra.sweeper.warm_start_from, warm_start_top of them).

They are Optuna's enqueued trials (study.enqueue_trial): WAITING until the loop asks, then run here as
this study's own trials, with Attr.ENQUEUED saying where they came from. `skip_if_exists` leaves out a
config the study already holds, so a resumed sweep does not run them twice. What the sweep's values say
is checked before the storage is opened (`WarmStart`), the other study before this one is created
(`read_source`); both are enqueued once it exists (`enqueue`).
"""

import logging
import math
from collections.abc import Mapping
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from sweeplab.errors import ConfigError
from sweeplab.protocol import Attr

log = logging.getLogger(__name__)

ENQUEUE = "enqueue"


class WarmStart:
    """hydra.sweeper.enqueue checked against the sweep's search space; `enqueue` puts them and the other
    study's best configs into the opened study."""

    def __init__(
        self, sweeper_cfg: DictConfig, distributions: dict[str, BaseDistribution], fixed: dict[str, str]
    ) -> None:
        self.distributions, self.fixed = distributions, fixed
        # A custom_search_space suggests parameters of its own, unknown until it runs: taken unchecked.
        self.custom = bool(sweeper_cfg.get("custom_search_space"))
        self.source: str | None = sweeper_cfg.get("warm_start_from")
        self.top = int(sweeper_cfg.get("warm_start_top", 5))
        if self.top < 1:
            raise ConfigError(f"hydra.sweeper.warm_start_top={self.top} must be at least 1 (default 5)")
        given = sweeper_cfg.get("enqueue") or []
        given = OmegaConf.to_container(given, resolve=True) if OmegaConf.is_config(given) else list(given)
        self.configs = [self._checked(i, config) for i, config in enumerate(given)]
        self.best: list[tuple[int, dict[str, Any]]] = []  # (trial number, params) of warm_start_from's best

    def _checked(self, index: int, config: Any) -> dict[str, Any]:
        """One enqueued config as Optuna params (searched keys only, in their distribution's type)."""
        where = f"hydra.sweeper.enqueue[{index}]"
        if not isinstance(config, Mapping) or not config:
            raise ConfigError(
                f"{where} must be a mapping of parameters, e.g. {{optimizer.lr: 3e-4}}; got {config!r}"
            )
        params = {}
        for key, value in flatten(config).items():
            if key in self.distributions:
                params[key] = in_space(f"{where}.{key}", key, self.distributions[key], value)
            elif key in self.fixed:
                if not same_value(self.fixed[key], value):
                    raise ConfigError(
                        f"{where}.{key}={value} differs from this sweep's fixed {key}={self.fixed[key]}: "
                        f"search {key} (e.g. {key}=choice(...)) or drop it from the enqueued config"
                    )
            elif self.custom:
                params[key] = value
            else:
                raise ConfigError(
                    f"{where}.{key} is not a parameter of this sweep; searched: "
                    f"{', '.join(self.distributions) or 'none'}; fixed: {', '.join(self.fixed) or 'none'}"
                )
        return params

    def read_source(self, storage: BaseStorage, study_name: str | None) -> None:
        """The warm_start_from study's best configs, read before this study is created: a refusal (no such
        study, nothing to start from) leaves no empty study behind."""
        if self.source is None:
            return
        names = [s.study_name for s in storage.get_all_studies()]
        if self.source not in names:
            raise ConfigError(
                f"hydra.sweeper.warm_start_from={self.source}: no such study in this storage; its studies: "
                f"{', '.join(sorted(names)) or 'none'}"
            )
        if self.source == study_name:
            raise ConfigError(f"hydra.sweeper.warm_start_from={self.source} is this study: name another one")
        best = best_trials(optuna.load_study(study_name=self.source, storage=storage), self.top)
        if not best:
            raise ConfigError(
                f"hydra.sweeper.warm_start_from={self.source}: that study has no complete trial to start from"
            )
        shared = [
            (t.number, {k: v for k, v in t.params.items() if k in self.distributions or self.custom})
            for t in best
        ]
        if not any(params for _, params in shared):
            raise ConfigError(
                f"hydra.sweeper.warm_start_from={self.source}: its trials search "
                f"{', '.join(best[0].params) or 'nothing'}, none of which this sweep searches "
                f"({', '.join(self.distributions) or 'nothing'})"
            )
        self.best = [(number, self._inside(number, params)) for number, params in shared]

    def enqueue(self, study: optuna.Study) -> None:
        """The configs into the opened study, ahead of anything the sampler proposes; one line saying so."""
        if not self.configs and self.source is None:
            return
        added = sum(_enqueue(study, params, ENQUEUE) for params in self.configs)
        sources = [f"{added} of {len(self.configs)} from hydra.sweeper.enqueue"] if self.configs else []
        if self.source is not None:
            origin = f"warm_start_from {self.source} #{{}}"
            warm = sum(_enqueue(study, params, origin.format(number)) for number, params in self.best)
            added += warm
            sources.append(f"{warm} of the {len(self.best)} best of study {self.source}")
        log.info(
            "Enqueued %d configs to run first (%s; configs the study already holds are not run again)",
            added,
            ", ".join(sources),
        )

    def _inside(self, number: int, params: dict[str, Any]) -> dict[str, Any]:
        """A source trial's params this study's space holds; the others left to the sampler, said once."""
        kept = {
            k: v
            for k, v in params.items()
            if k not in self.distributions or contains(self.distributions[k], v)
        }
        dropped = sorted(set(params) - set(kept))
        if dropped:
            log.warning(
                "hydra.sweeper.warm_start_from=%s: trial #%d's %s outside this sweep's search space, "
                "left to the sampler",
                self.source,
                number,
                ", ".join(f"{k}={params[k]}" for k in dropped),
            )
        return kept


def _enqueue(study: optuna.Study, params: dict[str, Any], origin: str) -> bool:
    """Whether the config was added: skip_if_exists leaves out one the study holds (a resume)."""
    before = len(study.get_trials(deepcopy=False))
    study.enqueue_trial(params, user_attrs={Attr.ENQUEUED: origin}, skip_if_exists=True)
    return len(study.get_trials(deepcopy=False)) > before


def best_trials(study: optuna.Study, top: int) -> list[FrozenTrial]:
    """The study's `top` best complete trials, best first by its direction (several directions: its
    Pareto front, oldest first)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(study.directions) > 1:
        return study.best_trials[:top]
    sign = -1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1
    return sorted(complete, key=lambda t: (sign * t.value, t.number))[:top]


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{optimizer: {lr: 1}} and {optimizer.lr: 1} alike as {"optimizer.lr": 1}."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def describe(distribution: BaseDistribution) -> str:
    """A search space as a message says it: "in [1e-05, 0.01] (log)", "one of [32, 64]"."""
    if isinstance(distribution, CategoricalDistribution):
        return f"one of {list(distribution.choices)}"
    step = f" in steps of {distribution.step}" if distribution.step not in (None, 1) else ""
    return f"in [{distribution.low}, {distribution.high}]{step}{' (log)' if distribution.log else ''}"


def contains(distribution: BaseDistribution, value: Any) -> bool:
    """Whether the search space holds the value (a choice; a number within the bounds, on the step)."""
    if isinstance(distribution, CategoricalDistribution):
        return value in distribution.choices
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(distribution, IntDistribution) and not float(value).is_integer():
        return False
    if not distribution.low <= value <= distribution.high:
        return False
    if distribution.step is None:
        return True
    steps = (value - distribution.low) / distribution.step
    return math.isclose(steps, round(steps), abs_tol=1e-8)


def in_space(where: str, key: str, distribution: BaseDistribution, value: Any) -> Any:
    """The value as the distribution holds it (an int for an int range, the choice itself), or refused."""
    if isinstance(distribution, CategoricalDistribution):
        # A choice of 3 matches an enqueued 3, 3.0 or "3" (Hydra may parse a value either way).
        value = next((c for c in distribution.choices if c == value or str(c) == str(value)), value)
    elif isinstance(distribution, IntDistribution) and contains(distribution, value):
        value = int(value)
    elif isinstance(distribution, FloatDistribution) and contains(distribution, value):
        value = float(value)
    if not contains(distribution, value):
        raise ConfigError(
            f"{where}={value!r} is outside this sweep's search space: {key} is {describe(distribution)}"
        )
    return value


def same_value(fixed: str, value: Any) -> bool:
    """Whether an enqueued value is the fixed parameter's (given as override text: "3", "3e-4", "adam")."""
    if str(value) == fixed:
        return True
    try:
        return float(fixed) == float(value)
    except (TypeError, ValueError):
        return False
