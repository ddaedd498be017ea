"""The exceptions sweeplab raises on purpose: one family for user mistakes (the CLI prints these without a
traceback), and Pruned, a study's pruner stopping a trial."""

from hydra.errors import CompactHydraException


class SweeplabError(CompactHydraException):
    """A problem the user can fix; the message names the key or path and the fix.

    A CompactHydraException: where one ends a Hydra app (the failed job of a sweep), Hydra prints its
    message alone, without the traceback it prints for other exceptions.
    """


class ConfigError(SweeplabError):
    """A config value that cannot work (bad key, value or combination)."""


class DataError(SweeplabError):
    """A competition folder or image set that cannot be read as expected."""


class TrainingDiverged(SweeplabError):
    """The training loss became NaN or infinite."""


class WeightsError(SweeplabError):
    """Pretrained weights that cannot be downloaded, found or trusted (a corrupted file)."""


class SweepFailed(SweeplabError):
    """More trials failed than hydra.sweeper.max_failure_rate allows."""


class Pruned(Exception):
    """A study's pruner stopped the trial: not a mistake. The training job ends its fit, keeps its run
    (FINISHED, tagged pruned) and raises it on to the sweep as Optuna's TrialPruned (study.outcome)."""
