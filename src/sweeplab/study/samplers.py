"""hydra.sweeper.sampler -> an Optuna sampler: the official plugin's keys on Optuna 5, checked up front."""

import importlib.util
import logging
import warnings
from typing import Any

import numpy as np
import optuna
from hydra.utils import get_method, instantiate

from sweeplab.errors import ConfigError

log = logging.getLogger(__name__)

# What a sampler imports only once it samples (mid-sweep): refused at the start instead, with the fix.
NEEDS = {
    "CmaEsSampler": ("cmaes",),
    "GPSampler": ("torch", "scipy"),
    "QMCSampler": ("scipy",),
}
# Keys taking a function: a dotpath string is resolved (the official plugin needs a _target_ node).
CALLABLE_KEYS = ("constraints_func",)


def motpe_removed(**_: Any) -> None:
    """hydra/sweeper/sampler=motpe's _target_: refused by check_sampler before anything runs."""
    raise ConfigError(MOTPE_MESSAGE)


MOTPE_MESSAGE = (
    "hydra/sweeper/sampler=motpe: the 'motpe' sampler was removed in Optuna 4.0; use "
    "hydra/sweeper/sampler=nsgaii, or hydra/sweeper/sampler=tpe with hydra.sweeper.sampler.multivariate=true "
    "(TPE handles several objectives)"
)


def sampler_class(target: str) -> str:
    return str(target).rsplit(".", 1)[-1]


def check_sampler(sampler_cfg: Any) -> None:
    """Refuse a removed sampler, or one whose packages are missing, before the storage is opened."""
    target = str(sampler_cfg.get("_target_", ""))
    if target.endswith("motpe_removed"):
        raise ConfigError(MOTPE_MESSAGE)
    missing = [m for m in NEEDS.get(sampler_class(target), ()) if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"hydra.sweeper.sampler ({target}) needs {', '.join(missing)}: "
            f"pip install {' '.join(missing)}  (or pip install -e . for sweeplab's dependencies)"
        )


def build_sampler(config: dict[str, Any], grid: dict[str, list] | None = None) -> optuna.samplers.BaseSampler:
    """The sampler from its resolved config; Optuna's deprecation warnings become one line per sweep."""
    config = {k: v for k, v in config.items() if v is not None or k == "seed"}  # unset: Optuna's default
    config.pop("_partial_", None)  # the grid's search space is added here, not by Hydra
    for key in CALLABLE_KEYS:
        if isinstance(config.get(key), str):
            config[key] = get_method(config[key])
    if config.get("reference_points") is not None:  # NSGA-III takes an array, a config holds lists
        config["reference_points"] = np.asarray(config["reference_points"], dtype=float)
    kwargs = {"search_space": grid} if grid is not None else {}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FutureWarning)
            sampler = instantiate(config, **kwargs)
    except Exception as e:
        raise ConfigError(f"hydra.sweeper.sampler ({config['_target_']}) cannot be built: {e}") from e
    deprecated = [str(w.message).split(". See")[0] for w in caught if issubclass(w.category, FutureWarning)]
    for w in caught:
        if not issubclass(w.category, FutureWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if deprecated:
        log.warning("hydra.sweeper.sampler, accepted for old configs: %s", "; ".join(deprecated))
    return sampler
