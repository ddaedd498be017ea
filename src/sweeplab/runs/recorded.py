"""A recorded run read back: its tags and its resolved config, with key=value overrides on top."""

import tempfile
from dataclasses import dataclass

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from sweeplab.errors import ConfigError, SweeplabError
from sweeplab.runs.migrate import migrate


@dataclass
class Recorded:
    run_id: str
    tags: dict[str, str]
    config: DictConfig


def load_recorded(client: MlflowClient, run_id: str) -> Recorded:
    """The run and its resolved config; errors name the run, the store and what is missing."""
    try:
        run = client.get_run(run_id)
    except MlflowException as e:
        raise SweeplabError(
            f"run {run_id} is not in the MLflow store {client.tracking_uri}; "
            "pass --tracking-uri for the store "
            f"that holds it ({e.message.splitlines()[0]})"
        ) from e
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, "config.yaml", tmp)
        except (MlflowException, OSError) as e:
            raise SweeplabError(
                f"run {run_id} has no config.yaml artifact, so it cannot be rerun "
                "(was it logged by sweeplab?)"
            ) from e
        config = migrate(OmegaConf.load(path))
    return Recorded(run_id, dict(run.data.tags), config)


def apply_overrides(config: DictConfig, overrides: list[str]) -> DictConfig:
    """key=value overrides on the recorded (resolved) config; unknown keys are refused."""
    config = config.copy()
    for item in overrides:
        try:
            override = OverridesParser.create().parse_override(item)
            key, value = override.key_or_group, override.value()
        except HydraException as e:
            raise ConfigError(f"rerun override {item!r} cannot be parsed: {e}") from e
        current = OmegaConf.select(config, key, default=KeyError)
        if override.is_sweep_override() or current is KeyError or isinstance(current, DictConfig):
            raise ConfigError(
                f"rerun override {item!r}: use key=value with a key of the recorded config "
                "(e.g. trainer.epochs=10); "
                "config groups cannot be switched on a recorded run"
            )
        OmegaConf.update(config, key, value, merge=False)
    # A rerun is a plain run: it must not report to (or be pruned by) the study it came from.
    if "study" in config:
        config.study = {k: None for k in config.study}
    return config
