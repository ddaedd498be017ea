"""Where `sweeplab predict` and `export` take a model from: a run (any unique id prefix), whose MLflow
model is its `model/` artifacts, or a registered model version (models:/NAME@ALIAS, models:/NAME/3)."""

from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from sweeplab.errors import SweeplabError
from sweeplab.models.packaged import SPEC_FILE
from sweeplab.protocol import Artifact, Role, Tag
from sweeplab.runs.redact import redact

MODEL_PATH = Artifact.MODEL  # a run's MLflow model: runs:/ID/model


def has_model(client: MlflowClient, run_id: str) -> bool:
    """The run logged an MLflow model (model/MLmodel)."""
    return any(a.path == f"{MODEL_PATH}/MLmodel" for a in client.list_artifacts(run_id, MODEL_PATH))


def run_model_uri(client: MlflowClient, run_id: str) -> str:
    """runs:/ID/model, refused when the run has no MLflow model."""
    if not has_model(client, run_id):
        if client.get_run(run_id).data.tags.get(Tag.ROLE) == Role.ENSEMBLE:
            raise SweeplabError(
                f"ensemble run {run_id} has no MLflow model: its `sweeplab ensemble` line said why "
                "(--epoch last, or a member without a model); make it again from its members' best epochs"
            )
        raise SweeplabError(
            f"run {run_id} has no MLflow model ({MODEL_PATH}/MLmodel): it ran with tracking.log_model=false "
            f"or before sweeplab logged models; `sweeplab rerun {run_id[:8]} tracking.log_model=true` "
            "logs one"
        )
    return f"runs:/{run_id}/{MODEL_PATH}"


def version_source(client: MlflowClient, uri: str) -> str:
    """Where a registered version's files are (models:/NAME@ALIAS or models:/NAME/VERSION), asked of this
    client's registry: MLflow's own resolution of models:/ URIs reads the global registry URI only."""
    name, at, alias = uri.removeprefix("models:/").partition("@")
    if not at:
        name, _, number = name.rpartition("/")
        if not name or not number.isdigit():
            raise SweeplabError(
                f"{uri}: name a version, models:/NAME@ALIAS (e.g. @champion) or models:/NAME/3"
            )
    try:
        version = (
            client.get_model_version_by_alias(name, alias) if at else client.get_model_version(name, number)
        )
        return client.get_model_version_download_uri(name, version.version)
    except MlflowException as e:
        raise SweeplabError(
            f"{uri} is not a registered model version in {redact(client.tracking_uri)} "
            f"({e.message.splitlines()[0]}); use models:/NAME@ALIAS or models:/NAME/VERSION"
        ) from e


def download_model(client: MlflowClient, uri: str, dst: Path) -> Path:
    """The model's folder (runs:/ or models:/ URI), downloaded into dst; refused when it is not there or
    not a sweeplab model."""
    import mlflow.artifacts

    source = version_source(client, uri) if uri.startswith("models:/") else uri
    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=source, dst_path=str(dst), tracking_uri=client.tracking_uri
        )
    except MlflowException as e:
        raise SweeplabError(
            f"{uri} is not a model in {redact(client.tracking_uri)} ({e.message.splitlines()[0]}); "
            "`sweeplab compare` lists the runs, --tracking-uri names another store"
        ) from e
    folder = Path(local)
    if not (folder / SPEC_FILE).is_file():
        raise SweeplabError(
            f"{uri} is an MLflow model but not sweeplab's (no {SPEC_FILE}): nothing to predict with"
        )
    return folder
