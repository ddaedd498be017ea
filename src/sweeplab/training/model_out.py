"""The run's model onto the run, under `model/`: the weights under their frozen names (model_state_dict.pt;
a frozen run's head_state_dict.pt and backbone.json) and an MLflow model around them (MLmodel, the spec
in data/, the sweeplab code in code/), so that `runs:/ID/model` loads and predicts images."""

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import OmegaConf

from sweeplab.models.builders import TransferModel
from sweeplab.models.features import frozen_all_run
from sweeplab.models.mlflow_model import save_mlflow_model
from sweeplab.models.packaged import BACKBONE_FILE, Answer, ModelSpec, weights_names, write_weights
from sweeplab.protocol import Artifact
from sweeplab.runs.tracking import Tracker
from sweeplab.training.result import FitResult

if TYPE_CHECKING:  # the job imports this module
    from sweeplab.training.job import Job


def log_model(job: "Job", tracker: Tracker, result: FitResult) -> None:
    """The model that wrote submission_best (the best epoch's weights; with folds every fold's at that
    epoch), its weights files also left in the job's output folder."""
    spec = model_spec(job, result, tracker.run_id)
    for path in write_weights(job.output_dir, spec, result.best_weights):
        tracker.log_artifact(path, Artifact.MODEL)
    if spec.head_only:
        path = job.output_dir / BACKBONE_FILE
        path.write_text(json.dumps(spec.backbone, indent=2))
        tracker.log_artifact(path, Artifact.MODEL)
    with tempfile.TemporaryDirectory(prefix="sweeplab-model-") as tmp:
        spec_file = spec.write(Path(tmp) / "sweeplab_model.json")
        save_mlflow_model(Path(tmp) / Artifact.MODEL, spec_file, spec)
        tracker.log_artifacts(Path(tmp) / Artifact.MODEL, Artifact.MODEL)


def model_spec(job: "Job", result: FitResult, run_id: str) -> ModelSpec:
    """Everything prediction needs besides the weights, from the job that trained them."""
    cfg, data, model = job.cfg, job.data, job.parts.model
    head_only = isinstance(model, TransferModel) and frozen_all_run(cfg.model)
    competition = data.competition
    answer = Answer(
        kind=job.answer.kind,
        top_k=job.answer.top_k,
        id_column=competition.id_column,
        label_column=competition.label_column,
        columns=tuple(competition.submission_columns),
        sample_values=tuple(competition.sample_values),
        ids_with_extension=bool(competition.test_ids)
        and competition.test_ids[0] == competition.test_files[0].name,
    )
    thresholds = result.best_thresholds
    return ModelSpec(
        run_id=run_id,
        classes=list(data.classes),
        task=competition.task,
        img_size=int(cfg.data.img_size),
        stats=job.parts.augment.stats,
        tta=[str(v) for v in cfg.trainer.get("tta") or ()],
        amp=bool(cfg.trainer.amp and job.device.type == "cuda"),
        thresholds=None if thresholds is None else [float(t) for t in thresholds],
        model=OmegaConf.to_container(cfg.model, resolve=True),
        weights=weights_names(head_only, [split.fold for split in data.splits]),
        head_only=head_only,
        backbone=_backbone(cfg, model) if head_only else None,
        answer=answer,
    )


def _backbone(cfg, model: TransferModel) -> dict:
    """The pretrained backbone's identity (model/backbone.json): a frozen run does not log its weights."""
    weights = model.weights
    return {
        "library": str(cfg.model.name),
        "arch": cfg.model.arch,
        "kwargs": dict(cfg.model.kwargs),
        "weights": weights.name,
        "sha256": weights.sha256,
        "file": str(weights.path),
    }
