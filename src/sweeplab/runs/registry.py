"""A run's MLflow model as a version in MLflow's Model Registry, with an alias (`champion`) moved to it.

The version points at the run's `model/` artifacts (what `mlflow.pyfunc.load_model("runs:/ID/model")`
loads) and carries what a reader of the registry wants beside it: the study, the validation score and
the local Kaggle scores, as version tags.
"""

import re
from dataclasses import dataclass

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from sweeplab.errors import SweeplabError
from sweeplab.protocol import Metric, Tag
from sweeplab.runs.model_source import MODEL_PATH, run_model_uri
from sweeplab.runs.redact import redact

ALIAS = re.compile(r"[\w\-]+")
# Copied from the run onto the version: which study it won, and its scores.
VERSION_TAGS = (
    Tag.STUDY,
    Tag.ROLE,
    Tag.BEST_EPOCH,
    Tag.SUBMISSION_FORMAT,
    Tag.ENSEMBLE_OF,
    Tag.ENSEMBLE_METHOD,
    Tag.ENSEMBLE_WEIGHTS,
)
VERSION_METRICS = (
    Metric.VAL_SCORE,
    Metric.OOF_SCORE,
    Metric.KAGGLE_PUBLIC,
    Metric.KAGGLE_PRIVATE,
    Metric.REFIT_AGREEMENT,
)


@dataclass(frozen=True)
class Registered:
    name: str
    version: str
    alias: str | None  # None: the alias was left where it was (a refit under its agreement floor)
    run_id: str


def register_run(
    client: MlflowClient, run_id: str, name: str, alias: str = "champion", move_alias: bool = True
) -> Registered:
    """A new version of registered model `name` from the run's model; `alias` now points at it, unless
    move_alias is False (the version is recorded, the alias stays)."""
    check_name(name, alias)
    run = _run(client, run_id)
    run_model_uri(client, run_id)  # refused here when the run has no MLflow model
    try:
        client.create_registered_model(name, description="registered by sweeplab")
    except MlflowException as e:
        if e.error_code != "RESOURCE_ALREADY_EXISTS":
            raise SweeplabError(f"cannot create registered model {name!r}: {e.message}") from e
    version = client.create_model_version(
        name,
        source=f"{run.info.artifact_uri}/{MODEL_PATH}",
        run_id=run_id,
        tags=_version_tags(client, run),
    )
    if not move_alias:
        return Registered(name, str(version.version), None, run_id)
    client.set_registered_model_alias(name, alias, version.version)
    return Registered(name, str(version.version), alias, run_id)


def check_name(name: str, alias: str = "champion") -> None:
    """A registered model's name that models:/NAME@ALIAS can carry, and an alias MLflow takes."""
    if not name.strip() or any(c in name for c in "/:@") or any(c.isspace() for c in name):
        raise SweeplabError(f"model name {name!r}: use letters, digits, '-', '_' or '.' (e.g. cactus-cnn)")
    # MLflow's own rule (mlflow.utils.validation): word characters and '-', not `latest` nor v<number>,
    # which models:/NAME/latest and version numbers already mean.
    if not ALIAS.fullmatch(alias) or alias.lower() == "latest" or re.fullmatch(r"[vV]\d+", alias):
        raise SweeplabError(
            f"alias {alias!r}: use letters, digits, '_' or '-', not 'latest' nor v<number> (e.g. champion)"
        )


def _run(client: MlflowClient, run_id: str):
    try:
        return client.get_run(run_id)
    except MlflowException as e:
        raise SweeplabError(
            f"run {run_id} is not in the MLflow store {redact(client.tracking_uri)}; pass --tracking-uri"
        ) from e


def _version_tags(client: MlflowClient, run) -> dict[str, str]:
    """The run's study and role, and its scores at the best epoch: the model is that epoch's, while a
    run's summary metrics hold each one's last logged value (the last epoch's)."""
    tags = {k: run.data.tags[k] for k in VERSION_TAGS if k in run.data.tags}
    best = run.data.tags.get(Tag.BEST_EPOCH)
    for key in VERSION_METRICS:
        if key not in run.data.metrics:
            continue
        history = {m.step: m.value for m in client.get_metric_history(run.info.run_id, key)}
        value = history.get(int(best)) if best and best.isdigit() else None
        tags[key] = f"{run.data.metrics[key] if value is None else value:.6g}"
    tags["sweeplab.run"] = run.info.run_id
    return tags


def describe(registered: Registered, tracking_uri: str) -> str:
    """One line: what was registered and how to use it (in Python: from the store that holds it)."""
    held = registered.alias is None
    uri = (
        f"models:/{registered.name}/{registered.version}"
        if held
        else f"models:/{registered.name}@{registered.alias}"
    )
    alias = "no alias moved" if held else f"alias {registered.alias}"
    return (
        f"registered run {registered.run_id[:8]} as {registered.name} version {registered.version}, "
        f"{alias}: load it with mlflow.set_tracking_uri({redact(tracking_uri)!r}); "
        f"mlflow.pyfunc.load_model({uri!r}), or `sweeplab predict {uri} --images DIR`"
    )
