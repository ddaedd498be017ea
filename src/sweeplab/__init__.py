"""sweeplab: Hydra sweeps of image classifiers with Optuna and MLflow."""

from sweeplab.errors import ConfigError, DataError, SweeplabError

__all__ = ["ConfigError", "DataError", "SweeplabError"]
__version__ = "0.1.0"
