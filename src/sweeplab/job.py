"""One training job: config in, one MLflow run and a submission out, objective returned."""

import contextlib
import logging
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import optuna
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from sweeplab.augment import BatchAugment
from sweeplab.data import ImageData, channel_stats, load_data
from sweeplab.engine import Trainer, check_trainer, resolve_device, seed_everything
from sweeplab.errors import ConfigError
from sweeplab.kaggle.scoring import check_metric, read_solution
from sweeplab.models import build_model
from sweeplab.objective import TEST_METRICS, objective_specs, objective_value
from sweeplab.optim import build_optimizer, build_scheduler
from sweeplab.plots import plot_learning_curves
from sweeplab.provenance import git_state, provenance_tags
from sweeplab.study.runs import RUN_ATTR
from sweeplab.study.trial import StudyTrial
from sweeplab.submission import write_submission
from sweeplab.tracking import Tracker

log = logging.getLogger(__name__)


def _hydra_context() -> tuple[Path | None, list[str]]:
    """Hydra's output folder and the command-line overrides, when running under @hydra.main."""
    if not HydraConfig.initialized():
        return None, []
    hydra_cfg = HydraConfig.get()
    return Path(hydra_cfg.runtime.output_dir), list(hydra_cfg.overrides.task)


def _study_tags(trial: StudyTrial | None, parent_run_id: str | None) -> dict[str, str]:
    if trial is None:
        return {}
    tags = {
        "sweeplab.study": trial.study_name,
        "sweeplab.role": "trial",
        "sweeplab.trial": str(trial.number),
        "sweeplab.study_storage": trial.storage_url,
    }
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    return tags


@dataclass
class Parts:
    model: torch.nn.Module
    augment: BatchAugment
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None


def _build(cfg: DictConfig, data: ImageData, device: torch.device, deterministic: bool) -> Parts:
    """Model, augmentation and optimizer from a fresh seed (again after an out-of-memory retry)."""
    seed_everything(cfg.trainer.seed, deterministic)
    model = build_model(cfg.model, num_classes=len(data.classes), img_size=cfg.data.img_size)
    stats = channel_stats(data) if cfg.augmentation.normalize == "dataset" else None
    optimizer = build_optimizer(cfg.optimizer, model)
    return Parts(
        model,
        BatchAugment(cfg.augmentation, stats, device),
        optimizer,
        build_scheduler(cfg.scheduler, optimizer),
    )


def run(
    cfg: DictConfig,
    output_dir: Path | None = None,
    overrides: list[str] | None = None,
    tags: dict[str, str] | None = None,
) -> float | list[float]:
    """Train once as cfg says; everything is validated before the MLflow run is created."""
    hydra_dir, hydra_overrides = _hydra_context()
    output_dir = Path(output_dir or hydra_dir or tempfile.mkdtemp(prefix="sweeplab-"))
    overrides = hydra_overrides if overrides is None else overrides
    objectives = objective_specs(cfg.objective)
    check_trainer(cfg.trainer)

    device = resolve_device(cfg.trainer.device)
    deterministic = (
        cfg.trainer.deterministic if cfg.trainer.deterministic is not None else device.type == "cpu"
    )
    data = load_data(cfg.data, show_progress=cfg.trainer.progress)
    competition = data.competition
    solution = None
    if competition.solution_path is not None:  # scored locally as Kaggle would, every epoch
        solution = read_solution(
            competition.solution_path, competition.test_ids, competition.classes, competition.label_column
        )
    missing = [m for m, _ in objectives if m in TEST_METRICS and solution is None]
    if missing:
        raise ConfigError(
            f"objective.metric={missing[0]} needs a solution.csv in {competition.root}; "
            "use val/acc or record Kaggle scores with `sweeplab kaggle record`"
        )
    check_metric(cfg.data.metric, len(data.classes))
    # Built before the run exists: a config the model or optimizer refuses records nothing.
    parts = _build(cfg, data, device, deterministic)
    study_cfg = cfg.get("study") or {}
    trial = StudyTrial.from_config(study_cfg)

    git = git_state()
    tracker = Tracker(cfg.tracking.uri, cfg.tracking.experiment or cfg.name)
    run_name = f"trial {trial.number}" if trial else " ".join(overrides)[:250] or cfg.name
    tracker.start(
        run_name,
        tags={
            "sweeplab.overrides": " ".join(o for o in overrides if not o.startswith("study.")),
            "sweeplab.data.fingerprint": data.fingerprint,
            "sweeplab.data.cache_keys": ",".join(data.cache_keys),
            "sweeplab.device": str(device),
            "sweeplab.deterministic": str(deterministic),
            **_study_tags(trial, study_cfg.get("parent_run_id")),
            **provenance_tags(cfg, git),
            **(tags or {}),
        },
    )
    if trial is not None:
        trial.trial.set_user_attr(RUN_ATTR, tracker.run_id)
    batch_size = cfg.trainer.batch_size
    try:
        tracker.log_config(cfg)
        if git is not None and git.dirty:
            tracker.client.log_text(tracker.run_id, git.diff, "git/uncommitted.diff")
        tracker.log_metrics(
            {
                "data/train_images": len(data.train_index),
                "data/val_images": len(data.val_index),
                "data/test_images": len(data.test_images),
                "data/corrupt_images": len(data.corrupt),
                "data/num_classes": len(data.classes),
            },
            step=0,
        )
        with trial.heartbeat if trial else contextlib.nullcontext():
            while True:
                try:
                    trainer_cfg = cfg.trainer.copy()
                    trainer_cfg.batch_size = batch_size
                    trainer = Trainer(trainer_cfg, parts.model, parts.augment, device)
                    started = time.perf_counter()
                    result = trainer.fit(
                        data,
                        parts.optimizer,
                        parts.scheduler,
                        tracker,
                        trial,
                        objectives[0][0],
                        cfg.data.metric,
                        solution,
                    )
                    fit_seconds = time.perf_counter() - started
                    break
                except torch.cuda.OutOfMemoryError:
                    if not cfg.trainer.oom_retry or batch_size == 1:
                        raise
                    batch_size //= 2
                    log.warning("Out of memory: training again from scratch with batch size %d", batch_size)
                    torch.cuda.empty_cache()
                    parts = _build(cfg, data, device, deterministic)
        values = [objective_value(result.history, metric, mode) for metric, mode in objectives]
        for name, probs in (("last", result.last_test_probs), ("best", result.best_test_probs)):
            path = write_submission(output_dir / f"submission_{name}.csv", data.competition, probs)
            tracker.log_artifact(path, "submissions")
        tracker.log_artifact(plot_learning_curves(result.history, output_dir / "learning_curves.png"))
        if cfg.tracking.log_model:
            torch.save(parts.model.state_dict(), output_dir / "model_state_dict.pt")
            tracker.log_artifact(output_dir / "model_state_dict.pt", "model")
        tracker.set_tags(
            {
                "sweeplab.best_epoch": result.best_epoch,
                "sweeplab.batch_size_ran": batch_size,
                "sweeplab.objective": values[0] if len(values) == 1 else values,
            }
        )
        tracker.log_metrics({"objective": values[0], "time/fit_s": fit_seconds}, step=len(result.history))
    except optuna.TrialPruned:
        tracker.set_tags(
            {
                "sweeplab.pruned": "true",
                "sweeplab.pruned_epoch": trial.pruned_at,
                "sweeplab.batch_size_ran": batch_size,
            }
        )
        tracker.finish("FINISHED")
        raise
    except BaseException as e:
        tracker.set_tags(
            {"sweeplab.error": f"{type(e).__name__}: {e}"[:5000], "sweeplab.batch_size_ran": batch_size}
        )
        tracker.finish("KILLED" if isinstance(e, KeyboardInterrupt) else "FAILED")
        # The sweep keeps the exception, and with it every frame's locals (model, optimizer, batches,
        # activations): clear the finished frames so a failed trial's memory goes back too.
        traceback.clear_frames(e.__traceback__)
        raise
    finally:
        parts = trainer = None  # this frame outlives the call in a kept traceback
        if device.type == "cuda":  # a sweep's next trial in this process gets the memory back
            torch.cuda.empty_cache()
    tracker.finish("FINISHED")
    return values[0] if len(values) == 1 else values
