"""One training job: compose-time config in, one MLflow run and a submission out, objective returned."""

import tempfile
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from sweeplab.augment import BatchAugment
from sweeplab.data import channel_stats, load_data
from sweeplab.engine import Trainer, resolve_device, seed_everything
from sweeplab.errors import ConfigError
from sweeplab.models import build_model
from sweeplab.optim import build_optimizer, build_scheduler
from sweeplab.plots import plot_learning_curves
from sweeplab.submission import write_submission
from sweeplab.tracking import Tracker

EPOCH_METRICS = ("train/loss", "train/acc", "val/loss", "val/acc")
OBJECTIVE_MODES = ("max", "min", "last")


def objective_value(history: list[dict[str, float]], metric: str, mode: str) -> float:
    values = [epoch[metric] for epoch in history]
    return {"max": max, "min": min, "last": lambda v: v[-1]}[mode](values)


def _hydra_context() -> tuple[Path | None, list[str]]:
    """Hydra's output folder and the command-line overrides, when running under @hydra.main."""
    if not HydraConfig.initialized():
        return None, []
    hydra_cfg = HydraConfig.get()
    return Path(hydra_cfg.runtime.output_dir), list(hydra_cfg.overrides.task)


def _check_objective(cfg: DictConfig) -> None:
    if cfg.metric not in EPOCH_METRICS:
        raise ConfigError(f"objective.metric={cfg.metric!r} is not logged; valid: {', '.join(EPOCH_METRICS)}")
    if cfg.mode not in OBJECTIVE_MODES:
        raise ConfigError(f"objective.mode={cfg.mode!r} is unknown; valid: {', '.join(OBJECTIVE_MODES)}")


def run(cfg: DictConfig, output_dir: Path | None = None, overrides: list[str] | None = None) -> float:
    """Train once as cfg says; everything is validated before the MLflow run is created."""
    hydra_dir, hydra_overrides = _hydra_context()
    output_dir = Path(output_dir or hydra_dir or tempfile.mkdtemp(prefix="sweeplab-"))
    overrides = hydra_overrides if overrides is None else overrides
    _check_objective(cfg.objective)

    device = resolve_device(cfg.trainer.device)
    deterministic = (
        cfg.trainer.deterministic if cfg.trainer.deterministic is not None else device.type == "cpu"
    )
    seed_everything(cfg.trainer.seed, deterministic)
    data = load_data(cfg.data)
    model = build_model(cfg.model, num_classes=len(data.classes), img_size=cfg.data.img_size)
    stats = channel_stats(data) if cfg.augmentation.normalize == "dataset" else None
    augment = BatchAugment(cfg.augmentation, stats, device)
    optimizer = build_optimizer(cfg.optimizer, model)
    scheduler = build_scheduler(cfg.scheduler, optimizer)
    trainer = Trainer(cfg.trainer, model, augment, device)

    tracker = Tracker(cfg.tracking.uri, cfg.tracking.experiment or cfg.name)
    tracker.start(
        run_name=" ".join(overrides)[:250] or cfg.name,
        tags={
            "sweeplab.overrides": " ".join(overrides),
            "sweeplab.data.fingerprint": data.fingerprint,
            "sweeplab.data.cache_keys": ",".join(data.cache_keys),
            "sweeplab.device": str(device),
            "sweeplab.deterministic": str(deterministic),
        },
    )
    try:
        tracker.log_config(cfg)
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
        result = trainer.fit(data, optimizer, scheduler, tracker)
        value = objective_value(result.history, cfg.objective.metric, cfg.objective.mode)
        for name, probs in (("last", result.last_test_probs), ("best", result.best_test_probs)):
            path = write_submission(output_dir / f"submission_{name}.csv", data.competition, probs)
            tracker.log_artifact(path, "submissions")
        tracker.log_artifact(plot_learning_curves(result.history, output_dir / "learning_curves.png"))
        if cfg.tracking.log_model:
            torch.save(model.state_dict(), output_dir / "model_state_dict.pt")
            tracker.log_artifact(output_dir / "model_state_dict.pt", "model")
        tracker.set_tags({"sweeplab.best_epoch": result.best_epoch, "sweeplab.objective": value})
        tracker.log_metrics({"objective": value}, step=len(result.history))
    except BaseException as e:
        tracker.set_tags({"sweeplab.error": f"{type(e).__name__}: {e}"[:5000]})
        tracker.finish("KILLED" if isinstance(e, KeyboardInterrupt) else "FAILED")
        raise
    tracker.finish("FINISHED")
    return value
