"""Hydra's override grammar and the older mapping form -> Optuna distributions (table-driven)."""

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from sweeplab.errors import ConfigError
from sweeplab.study.directions import directions_of
from sweeplab.study.search_space import grid_values, parse_search_space, search_space_signature


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("lr=tag(log, interval(1e-5, 1e-1))", FloatDistribution(1e-5, 1e-1, log=True)),
        ("p=interval(0, 1)", FloatDistribution(0.0, 1.0)),  # Hydra's interval is float unless cast
        ("n=int(interval(1, 10))", IntDistribution(1, 10)),
        ("n=tag(log, int(interval(16, 128)))", IntDistribution(16, 128, log=True)),
        ("b=range(0, 2)", IntDistribution(0, 1)),  # range excludes its end, as in Hydra
        ("e=range(1, 10, 3)", IntDistribution(1, 7, step=3)),
        ("e=range(10, 0, -3)", IntDistribution(1, 10, step=3)),
        ("x=range(-5.5, 5.5, step=0.5)", FloatDistribution(-5.5, 5.0, step=0.5)),
        ("bs=choice(16, 32, 64)", CategoricalDistribution([16, 32, 64])),
        ("bs=16,32", CategoricalDistribution([16, 32])),
        ("opt=choice(adam, sgd)", CategoricalDistribution(["adam", "sgd"])),
        ("s=shuffle(range(1, 4))", CategoricalDistribution([1, 2, 3])),
        ("one=range(3, 4)", CategoricalDistribution([3])),
    ],
)
def test_override_to_distribution(override, expected):
    distributions, fixed = parse_search_space(None, None, [override])
    assert list(distributions.values()) == [expected] and fixed == {}


def test_fixed_values_and_precedence():
    distributions, fixed = parse_search_space(
        {"lr": "interval(0.1, 1)", "bs": "choice(1, 2)"}, None, ["bs=4", "data.root=/x"]
    )
    assert set(distributions) == {"lr"}  # the command line's plain value pins bs
    assert fixed == {"bs": "4", "data.root": "/x"}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"type": "float", "low": -5.5, "high": 5.5, "step": 0.5}, FloatDistribution(-5.5, 5.5, step=0.5)),
        ({"type": "float", "low": 1e-5, "high": 1e-1, "log": True}, FloatDistribution(1e-5, 1e-1, log=True)),
        ({"type": "int", "low": 1, "high": 9}, IntDistribution(1, 9)),
        ({"type": "categorical", "choices": [-5, 0, 5]}, CategoricalDistribution([-5, 0, 5])),
    ],
)
def test_mapping_form(spec, expected):
    distributions, _ = parse_search_space(None, {"x": spec}, [])
    assert distributions == {"x": expected}


@pytest.mark.parametrize(
    ("params", "search_space", "message"),
    [
        ({"x": "interval(1)"}, None, "hydra.sweeper.params cannot be parsed"),
        ({"x": "interval(2, 1)"}, None, "hydra.sweeper.params.x: interval(2.0, 1.0) is empty"),
        ({"x": "tag(log, interval(0, 1))"}, None, "a log interval must start above 0"),
        ({"x": "range(3, 3)"}, None, "hydra.sweeper.params.x: the range is empty"),
        (None, {"x": {"type": "normal", "low": 0}}, "hydra.sweeper.search_space.x.type='normal' is unknown"),
        (None, {"x": {"type": "int", "low": 0}}, "needs `low` and `high`"),
    ],
)
def test_malformed_search_space(params, search_space, message):
    with pytest.raises(ConfigError) as info:
        parse_search_space(params, search_space, [])
    assert message in str(info.value)


def test_signature_is_order_independent_and_sensitive_to_bounds():
    a, _ = parse_search_space({"x": "interval(0, 1)", "y": "choice(1, 2)"}, None, [])
    b, _ = parse_search_space({"y": "choice(1, 2)", "x": "interval(0, 1)"}, None, [])
    c, _ = parse_search_space({"y": "choice(1, 2)", "x": "interval(0, 2)"}, None, [])
    assert search_space_signature(a) == search_space_signature(b) != search_space_signature(c)


def test_grid_values_and_directions():
    assert grid_values("e", IntDistribution(1, 7, step=3)) == [1, 4, 7]
    assert grid_values("x", FloatDistribution(0.0, 1.0, step=0.5)) == [0.0, 0.5, 1.0]
    with pytest.raises(ConfigError, match="grid sampler needs choice"):
        grid_values("x", FloatDistribution(0.0, 1.0))
    assert directions_of(["minimize", "MAXIMIZE"]) == ["minimize", "maximize"]
    with pytest.raises(ConfigError, match="hydra.sweeper.direction=up is invalid"):
        directions_of("up")
