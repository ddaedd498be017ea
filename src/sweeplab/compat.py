"""The private Hydra and MLflow APIs sweeplab needs, each in one function with the reason.

Checked against hydra-core 1.3.8 and MLflow 3.17; pyproject pins hydra-core<1.4 for them. Optuna's are on
the study side (sweeplab.study.optuna_compat): nothing below the study imports Optuna.
"""

import contextlib
from collections.abc import Iterator
from unittest import mock

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn


def job_error(result: JobReturn) -> BaseException:
    """A failed job's exception. The public JobReturn.return_value re-raises it after printing "Error
    executing job" to stderr, which is wrong for a pruned trial; the private field holds it silently."""
    return result._return_value


@contextlib.contextmanager
def no_requirement_check() -> Iterator[None]:
    """mlflow.pyfunc.save_model without its check of the pip requirements against the installed packages.

    The check only warns, and sweeplab's requirements are the running versions; but its first call maps
    every installed distribution's files to modules (1.5-3 s per process on two cores, for ~170
    packages), a cost each sweep process would pay on its first trial. If MLflow renames the function,
    the patch fails loudly here rather than silently slowing every run.
    """
    import mlflow.utils.environment

    with mock.patch.object(
        mlflow.utils.environment, "warn_dependency_requirement_mismatches", lambda _: None
    ):
        yield


@contextlib.contextmanager
def shared_config_store() -> Iterator[None]:
    """Hydra's compositions share the ConfigStore instead of deep-copying all of it, each time.

    Every job's composition makes a CachingConfigRepository, which deep-copies its delegate so that
    re-initialising the sources leaves the original alone; the delegate's StructuredConfigSource holds
    the ConfigStore singleton, so every stored node (Hydra's own, every installed plugin's, sweeplab's
    schemas) is copied per job: 9 ms of a sphere trial's ~100 ms on two cores, against 3 ms with the
    official plugin's smaller store. Nothing a composition does changes the store (ConfigStore.load
    returns a deep copy of the node it loads), so sharing it composes the same configs. Hydra <1.4 only;
    if Hydra stops copying, the patch costs nothing.
    """
    with mock.patch.object(ConfigStore, "__deepcopy__", lambda self, memo: self, create=True):
        yield
