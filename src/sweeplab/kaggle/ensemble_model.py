"""An ensemble run's MLflow model under `model/`: its members' models (each run's spec and weights, under
members/0, members/1, ...) and how they mix, so that `runs:/ID/model`, `sweeplab predict`, `export` and
the registry take an ensemble as they take a run, and predict what its submission holds."""

import tempfile
from dataclasses import replace
from pathlib import Path

from mlflow.tracking import MlflowClient

from sweeplab.kaggle.submission import SubmissionFormat
from sweeplab.models.mlflow_model import save_mlflow_model
from sweeplab.models.packaged import SPEC_FILE, EnsembleSpec, ModelSpec, copy_member
from sweeplab.protocol import Artifact
from sweeplab.runs.model_source import MODEL_PATH, download_model, has_model
from sweeplab.runs.tracking import Tracker


def why_no_model(client: MlflowClient, members: list, epoch: str) -> str | None:
    """Why the ensemble cannot have a model that predicts its submission, or None when it can."""
    if epoch != "best":
        return "it averages the members' last epochs, and their models are their best epochs'"
    for member in members:  # never an ensemble: load_member needs a training run's config.yaml
        if not has_model(client, member.run_id):
            return (
                f"member {member.run_id[:8]} has no MLflow model (tracking.log_model=false, or an older "
                f"run: `sweeplab rerun {member.run_id[:8]}` logs one)"
            )
    return None


def log_ensemble_model(
    client: MlflowClient,
    tracker: Tracker,
    members: list[str],
    mixing: tuple[str, list[float] | None],
    answer: SubmissionFormat,
    thresholds: list[float] | None,
) -> None:
    """The members' models and the ensemble's spec (`mixing`: the method and the members' weights) as
    the ensemble run's MLflow model."""
    method, weights = mixing
    with tempfile.TemporaryDirectory(prefix="sweeplab-ensemble-model-") as tmp:
        sources = [
            download_model(client, f"runs:/{run_id}/{MODEL_PATH}", Path(tmp) / f"member{i}")
            for i, run_id in enumerate(members)
        ]
        specs = [ModelSpec.read(source / SPEC_FILE) for source in sources]
        first = specs[0]
        spec = EnsembleSpec(
            run_id=tracker.run_id,
            classes=first.classes,
            task=first.task,
            thresholds=thresholds,
            answer=replace(first.answer, kind=answer.kind, top_k=answer.top_k),
            method=method,
            member_weights=weights,
            members=members,
        )
        folder = Path(tmp) / Artifact.MODEL
        save_mlflow_model(folder, spec.write(Path(tmp) / "sweeplab_model.json"), spec, specs)
        for index, source in enumerate(sources):
            copy_member(source, folder, index)
        tracker.log_artifacts(folder, Artifact.MODEL)
