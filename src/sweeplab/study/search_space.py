"""Hydra sweep overrides and the older `search_space:` mapping -> Optuna distributions."""

import json
from collections.abc import Mapping
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Transformer
from hydra.errors import HydraException
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)

from sweeplab.errors import ConfigError


def _range_distribution(key: str, values: list) -> BaseDistribution:
    """Hydra's range(a, b, step) excludes b: the distribution's bounds are the values it yields."""
    if not values:
        raise ConfigError(f"hydra.sweeper.params.{key}: the range is empty")
    values = sorted(values)
    if len(values) == 1:
        return CategoricalDistribution(values)
    step = values[1] - values[0]
    if all(isinstance(v, int) for v in values):
        return IntDistribution(values[0], values[-1], step=step)
    return FloatDistribution(float(values[0]), float(values[-1]), step=float(step))


def distribution_from_override(override: Override) -> BaseDistribution | None:
    """A distribution for a sweep override; None for a plain value (a fixed parameter)."""
    if not override.is_sweep_override():
        return None
    key, sweep = override.get_key_element(), override.value()
    if override.is_choice_sweep() or (override.is_range_sweep() and sweep.shuffle):
        choices = list(override.sweep_iterator(transformer=Transformer.encode))
        bad = [c for c in choices if not isinstance(c, str | int | float | bool | type(None))]
        if bad:
            raise ConfigError(f"hydra.sweeper.params.{key}: choices must be plain values, got {bad[0]!r}")
        return CategoricalDistribution(sorted(choices, key=repr) if override.is_range_sweep() else choices)
    if override.is_range_sweep():
        return _range_distribution(key, list(override.sweep_iterator()))
    if override.is_interval_sweep():
        log = "log" in sweep.tags
        if sweep.start >= sweep.end:
            raise ConfigError(f"hydra.sweeper.params.{key}: interval({sweep.start}, {sweep.end}) is empty")
        if log and sweep.start <= 0:
            raise ConfigError(
                f"hydra.sweeper.params.{key}: a log interval must start above 0, got {sweep.start}"
            )
        if isinstance(sweep.start, int) and isinstance(sweep.end, int):
            return IntDistribution(sweep.start, sweep.end, log=log)
        return FloatDistribution(float(sweep.start), float(sweep.end), log=log)
    raise ConfigError(
        f"hydra.sweeper.params: {override.input_line} is a sweep the Optuna sweeper cannot sample"
    )


def distribution_from_mapping(key: str, spec: Mapping[str, Any]) -> BaseDistribution:
    """The older `search_space: {x: {type: float, low: 0, high: 1, log: false, step: null}}` form."""
    kind = str(spec.get("type", "")).split(".")[-1]
    low, high, step, log = spec.get("low"), spec.get("high"), spec.get("step"), bool(spec.get("log", False))
    if kind == "categorical":
        if not spec.get("choices"):
            raise ConfigError(f"hydra.sweeper.search_space.{key}: a categorical needs `choices`")
        return CategoricalDistribution(list(spec["choices"]))
    if kind in ("int", "float"):
        if low is None or high is None:
            raise ConfigError(f"hydra.sweeper.search_space.{key}: a {kind} needs `low` and `high`")
        if kind == "int":
            return IntDistribution(int(low), int(high), log=log, step=int(step or 1))
        return FloatDistribution(float(low), float(high), log=log, step=step)
    raise ConfigError(
        f"hydra.sweeper.search_space.{key}.type={kind!r} is unknown; valid: int, float, categorical"
    )


def parse_search_space(
    params: Mapping[str, Any] | None, search_space: Mapping[str, Any] | None, arguments: list[str]
) -> tuple[dict[str, BaseDistribution], dict[str, str]]:
    """(distributions to sample, fixed overrides) from the sweeper config and the command line."""
    distributions: dict[str, BaseDistribution] = {}
    lines = [f"{key}={value}" for key, value in (params or {}).items()]
    if search_space:
        distributions = {str(k): distribution_from_mapping(str(k), v) for k, v in search_space.items()}
    try:
        overrides = OverridesParser.create().parse_overrides(lines + list(arguments))
    except HydraException as e:
        raise ConfigError(f"hydra.sweeper.params cannot be parsed: {e}") from e
    fixed: dict[str, str] = {}
    for override in overrides:
        key = override.get_key_element()
        distribution = distribution_from_override(override)
        if distribution is None:
            fixed[key] = override.get_value_element_as_str()
            distributions.pop(key, None)  # a value on the command line pins a swept key
        else:
            distributions[key] = distribution
            fixed.pop(key, None)
    return distributions, fixed


def grid_values(name: str, distribution: BaseDistribution) -> list:
    """Every value a discrete distribution can take, for the grid sampler."""
    if isinstance(distribution, CategoricalDistribution):
        return list(distribution.choices)
    if isinstance(distribution, IntDistribution) and not distribution.log:
        return list(range(distribution.low, distribution.high + 1, distribution.step))
    if isinstance(distribution, FloatDistribution) and distribution.step is not None:
        count = round((distribution.high - distribution.low) / distribution.step) + 1
        return [distribution.low + i * distribution.step for i in range(count)]
    raise ConfigError(
        f"hydra.sweeper.params.{name}: the grid sampler needs choice(...) or range(...), not an interval"
    )


def search_space_signature(distributions: Mapping[str, BaseDistribution]) -> str:
    """A stable text form, stored with the study to refuse resuming it with another search space."""
    return json.dumps(
        {k: json.loads(distribution_to_json(d)) for k, d in sorted(distributions.items())}, sort_keys=True
    )
