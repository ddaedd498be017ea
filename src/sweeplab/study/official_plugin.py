"""hydra-optuna-sweeper installed beside sweeplab: both register hydra/sweeper=optuna.

Checked from package metadata, never by importing Optuna: installing the official plugin moves Optuna
to 2.10 (its `optuna<3` pin), under which sweeplab's own imports would fail first, and less clearly.
"""

from importlib import metadata

OFFICIAL = "hydra-optuna-sweeper"


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def official_plugin_problem() -> str | None:
    """One line saying what happened and what to do, or None when the official plugin is absent."""
    official = _version(OFFICIAL)
    if official is None:
        return None
    optuna = _version("optuna") or "none"
    return (
        f"{OFFICIAL} {official} is installed beside sweeplab and both register hydra/sweeper=optuna "
        f"(it also pins optuna<3; installed now: optuna {optuna}, sweeplab needs >=4,<6): "
        f"pip uninstall -y {OFFICIAL} && pip install 'optuna>=4,<6' -- sweeplab's sweeper runs the "
        "official plugin's configs unchanged"
    )
