"""Where each Hydra launcher runs a study's jobs, read from its config (no plugin imported), and the one
line said when jobs on other machines cannot reach a local storage or MLflow store."""

import pytest
from omegaconf import OmegaConf

from sweeplab.study.launchers import Where, placement, storage_warning

SUBMITIT = "hydra_plugins.hydra_submitit_launcher.submitit_launcher."
RAY = "hydra_plugins.hydra_ray_launcher."
RQ = "hydra_plugins.sweeplab_rq.rq_launcher.RQLauncher"
JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"


def _cfg(launcher: dict):
    return OmegaConf.create({"hydra": {"launcher": launcher}})


@pytest.mark.parametrize(
    ("launcher", "where", "batch"),
    [
        ({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}, Where.IN_PROCESS, False),
        ({"_target_": JOBLIB}, Where.THIS_MACHINE, True),
        ({"_target_": SUBMITIT + "LocalLauncher"}, Where.THIS_MACHINE, True),
        ({"_target_": SUBMITIT + "SlurmLauncher"}, Where.OTHER_MACHINES, True),
        ({"_target_": RAY + "ray_launcher.RayLauncher", "ray": {"init": {"address": None}}},
         Where.THIS_MACHINE, True),
        ({"_target_": RAY + "ray_launcher.RayLauncher", "ray": {"init": {"address": "auto"}}},
         Where.OTHER_MACHINES, True),
        ({"_target_": RAY + "ray_aws_launcher.RayAWSLauncher"}, Where.OTHER_MACHINES, True),
        ({"_target_": RQ, "redis": {"host": "127.0.0.1"}}, Where.THIS_MACHINE, True),
        ({"_target_": RQ, "redis": {"host": "queue.lab"}}, Where.OTHER_MACHINES, True),
        ({"_target_": RQ, "redis": {"mock": True}}, Where.IN_PROCESS, True),
    ],
)  # fmt: skip
def test_where_each_launcher_runs_jobs(launcher, where, batch):
    found = placement(_cfg(launcher))
    assert (found.where, found.batch) == (where, batch)


SQLITE, MLRUNS = "sqlite:////work/mlruns/optuna.db", "sqlite:////work/mlruns/mlflow.db"
PG, SERVER = "postgresql://postgres:pw@db/optuna", "http://127.0.0.1:5000"


@pytest.mark.parametrize(
    ("launcher", "storage", "tracking", "expected"),
    [
        ("SlurmLauncher", SQLITE, MLRUNS,
         "hydra/launcher=submitit_slurm runs trials on other machines, which cannot reach the study's "
         "storage sqlite:////work/mlruns/optuna.db (set hydra.sweeper.storage="
         "postgresql://...) or the MLflow store sqlite:////work/mlruns/mlflow.db (set tracking.uri="
         "http://MLFLOWHOST:5000): use PostgreSQL and an MLflow server (docs/studies.md, Scaling out)"),
        ("SlurmLauncher", PG, "./mlruns", "cannot reach the MLflow store ./mlruns (set tracking.uri="),
        ("SlurmLauncher", PG, SERVER, None),
        ("LocalLauncher", SQLITE, MLRUNS, None),  # other processes on this machine share SQLite fine
    ],
)  # fmt: skip
def test_storage_warning_for_jobs_on_other_machines(launcher, storage, tracking, expected):
    line = storage_warning(placement(_cfg({"_target_": SUBMITIT + launcher})), storage, tracking)
    if expected is None:
        assert line is None
    else:
        assert expected in line and "pw" not in line
