"""An ensemble run's MLflow model under `model/`: its members' models (each run's spec and weights, under
members/0, members/1, ...) and how they mix, so that `runs:/ID/model`, `sweeplab predict`, `export` and
the registry take an ensemble as they take a run, and predict what its submission holds.

The members' models are fetched before the ensemble's run exists, so `ensemble --register` is refused
with nothing recorded when they cannot be; once the run exists, a failure to log the model leaves it
without one (and says why) instead of failing a run whose submission is already logged.
"""

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from sweeplab.errors import SweeplabError
from sweeplab.models.mlflow_model import save_mlflow_model
from sweeplab.models.packaged import SPEC_FILE, EnsembleSpec, ModelSpec, copy_member
from sweeplab.protocol import Artifact
from sweeplab.runs.model_source import MODEL_PATH, download_model, has_model
from sweeplab.runs.tracking import Tracker
from sweeplab.scoring.submission import SubmissionFormat

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemberModel:
    run_id: str
    folder: Path  # its model/ folder, downloaded
    spec: ModelSpec
    weight: float


def member_models(
    client: MlflowClient, members: list, weights: list[float] | None, epoch: str, folder: Path
) -> tuple[list[MemberModel], str | None]:
    """The members' models downloaded into `folder` (a member weighted 0 adds nothing and is left out),
    or why the ensemble cannot have a model that predicts its submission."""
    if epoch != "best":
        return [], "it averages the members' last epochs, and their models are their best epochs'"
    weights = weights or [1.0] * len(members)
    models = []
    for index, (member, weight) in enumerate(zip(members, weights, strict=True)):
        if weight == 0:
            continue
        if not has_model(client, member.run_id):  # never an ensemble: a member is a training run
            return [], (
                f"member {member.run_id[:8]} has no MLflow model (tracking.log_model=false, or an older "
                f"run: `sweeplab rerun {member.run_id[:8]} tracking.log_model=true` logs one)"
            )
        try:
            source = download_model(client, f"runs:/{member.run_id}/{MODEL_PATH}", folder / str(index))
            spec = ModelSpec.read(source / SPEC_FILE)
        except (SweeplabError, MlflowException, OSError) as e:
            return [], f"member {member.run_id[:8]}'s model cannot be read ({e})"
        models.append(MemberModel(member.run_id, source, spec, float(weight)))
    return models, None


def log_ensemble_model(
    tracker: Tracker,
    models: list[MemberModel],
    method: str,
    answer: SubmissionFormat,
    thresholds: list[float] | None,
) -> str | None:
    """The members' models and the ensemble's spec as the ensemble run's MLflow model; None, or why it
    could not be logged."""
    first = models[0].spec
    spec = EnsembleSpec(
        run_id=tracker.run_id,
        task=first.task,
        classes=first.classes,
        thresholds=thresholds,
        answer=replace(first.answer, kind=answer.kind, top_k=answer.top_k),
        method=method,
        member_weights=[m.weight for m in models],
        members=[m.run_id for m in models],
    )
    staging = models[0].folder.parent / "ensemble"
    try:
        folder = staging / Artifact.MODEL
        save_mlflow_model(folder, spec.write(staging / "sweeplab_model.json"), spec, [m.spec for m in models])
        for index, member in enumerate(models):
            copy_member(member.folder, member.spec, folder, index)
        tracker.log_artifacts(folder, Artifact.MODEL)
    except Exception as e:  # the run's submission and scores are logged already: keep them
        log.warning("the ensemble's MLflow model could not be logged: %s: %s", type(e).__name__, e)
        return f"logging it failed ({type(e).__name__}: {e})"
    return None
