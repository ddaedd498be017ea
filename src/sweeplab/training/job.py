"""One training job: config in, one MLflow run and a submission out, objective returned.

The job reads as three steps: `prepare` validates and builds everything (nothing is recorded, so a
mistake leaves no run behind), `fit` trains (again with half the batch after a CUDA out-of-memory, if
asked), `record_outputs` writes the submissions, plot, model and objective onto the run. In a study, the
caller hands in how to open the job's trial (sweeplab.app.train: the study side's StudyTrial.for_job); the
trial hears every epoch through its hook, may stop the fit (Pruned), and is told the result.
"""

import contextlib
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from sweeplab.data import ImageData, Split, channel_stats, load_data
from sweeplab.data.augment import BatchAugment, Stats
from sweeplab.data.splits import check_validation
from sweeplab.device import resolve_device, seed_everything, set_threads
from sweeplab.errors import ConfigError, Pruned
from sweeplab.models.builders import TransferModel, build_model, check_model, prepare_backbone
from sweeplab.models.features import FeatureInput, cached_features, frozen_all_run
from sweeplab.objective import objective_specs, objective_value
from sweeplab.protocol import Artifact, Metric, Tag
from sweeplab.runs.naming import run_name, run_tags
from sweeplab.runs.predictions import log_thresholds, write_test_probs, write_val_probs
from sweeplab.runs.provenance import GitState, git_state
from sweeplab.runs.tracking import (
    Tracker,
    check_tracking_server,
    experiment_name,
    run_url,
)
from sweeplab.scoring.measures import check_metric
from sweeplab.scoring.orientation import lower_is_better
from sweeplab.scoring.solution import job_solution
from sweeplab.scoring.submission import Submission, SubmissionFormat, submission_format, write_submission
from sweeplab.scoring.thresholds import fixed_thresholds
from sweeplab.training.cv import combine_folds
from sweeplab.training.fold_weights import FoldWeights
from sweeplab.training.hooks import TrackingHook, Trial, log_epoch
from sweeplab.training.model_out import log_model
from sweeplab.training.optim import Schedule, build_optimizer, build_scheduler
from sweeplab.training.plots import plot_learning_curves
from sweeplab.training.result import FitResult, Scoring, objective_noise, shown
from sweeplab.training.trainer import Hook, Trainer, check_trainer

log = logging.getLogger(__name__)
# How a job opens its study's trial (study.* in its config), handed in by the caller; None outside a study.
OpenTrial = Callable[[DictConfig], Trial | None]


@dataclass
class Parts:
    """What training changes: built from a fresh seed, and again after an out-of-memory retry."""

    model: torch.nn.Module
    augment: BatchAugment
    optimizer: torch.optim.Optimizer
    schedule: Schedule | None  # the learning-rate scheduler, stepped per epoch or per optimizer step


@dataclass
class Job:
    """Everything a job needs, validated and built before its MLflow run exists."""

    cfg: DictConfig
    output_dir: Path
    overrides: list[str]
    objectives: list[tuple[str, str]]  # (metric, mode), one per objective
    device: torch.device
    deterministic: bool
    data: ImageData
    scoring: Scoring  # the first objective's, the competition's metric and its solution.csv, if any
    parts: Parts | None
    trial: Trial | None  # the study's trial this job reports to, in a sweep
    git: GitState | None
    batch_size: int  # trainer.batch_size: what every optimizer step averages over, whatever the memory
    micro_batch: int | None  # trainer.micro_batch, halved by each out-of-memory retry (None: the batch)
    answer: SubmissionFormat  # what the submission file holds: labels, probabilities, tags, top-k
    features: ImageData | None = None  # a frozen backbone's cached features in place of the pixels
    feature_cache: str = "off"  # hit | miss | off
    threads: int = 1  # torch's and the decoder's (set_threads)


def run(
    cfg: DictConfig,
    output_dir: Path | None = None,
    overrides: list[str] | None = None,
    tags: dict[str, str] | None = None,
    open_trial: OpenTrial | None = None,
    name: str | None = None,
) -> float | list[float]:
    """Train once as cfg says; everything is validated before the MLflow run is created. `name`: the
    run's name (a refit's `refit of ...`), else what its overrides change."""
    job = prepare(cfg, output_dir, overrides, open_trial)
    # The UI's runs table sorts best first.
    tracker = Tracker(cfg.tracking.uri, experiment_name(cfg), lower_is_better(cfg.data.metric))
    name = name or run_name(job.overrides, cfg.name, job.trial)
    try:
        with tracker.run(name, {**_run_tags(job), **(tags or {})}, ok=(Pruned,)):
            if job.trial is not None:
                job.trial.record_run(tracker.run_id)
            record_inputs(job, tracker)
            # The trial beats until its result is told: a resume after the sweep died must not take a
            # job still writing its outputs for a dead one.
            with job.trial.heartbeat if job.trial else contextlib.nullcontext():
                result, fit_seconds = fit(job, tracker)
                values = record_outputs(job, tracker, result, fit_seconds)
                if job.trial is not None:  # counted even if the sweep that launched it died meanwhile
                    job.trial.tell(values)
    finally:
        job.parts = None  # this frame outlives the call in a kept traceback: let the model go
        if job.device.type == "cuda":  # a sweep's next trial in this process gets the memory back
            torch.cuda.empty_cache()
    log.info(_summary(job, tracker, result, values))
    return values[0] if len(values) == 1 else values


def prepare(
    cfg: DictConfig, output_dir: Path | None, overrides: list[str] | None, open_trial: OpenTrial | None = None
) -> Job:
    """Validate the config, load the data and build the model, then open the study's trial; nothing is
    recorded yet."""
    hydra_dir, hydra_overrides = _hydra_context()
    check_tracking_server(cfg.tracking.uri)  # in seconds, not after MLflow's minutes of retries
    objectives = objective_specs(cfg.objective, cfg.data.metric)
    _check_trial(cfg, open_trial)
    check_trainer(cfg.trainer)
    threads = set_threads(cfg)
    device = resolve_device(cfg.trainer.device)
    deterministic = (
        cfg.trainer.deterministic if cfg.trainer.deterministic is not None else device.type == "cpu"
    )
    check_model(cfg.model, cfg.data.img_size)  # before the data: decoding can take minutes
    if cfg.model.name in ("torchvision", "timm"):  # a bad arch or missing weights: before any image is read
        prepare_backbone(cfg.model)
    data = load_data(cfg.data, show_progress=cfg.trainer.progress)
    check_metric(cfg.data.metric, len(data.classes), data.multilabel)
    answer = submission_format(
        data.competition, cfg.data.metric, cfg.data.get("submission_format"), cfg.data.get("top_k", 5)
    )
    solution = job_solution(data.competition, objectives)
    objective, mode = objectives[0]  # the first objective picks the best epoch and is what trials report
    job = Job(
        cfg=cfg,
        output_dir=Path(output_dir or hydra_dir or tempfile.mkdtemp(prefix="sweeplab-")),
        overrides=hydra_overrides if overrides is None else overrides,
        objectives=objectives,
        device=device,
        deterministic=deterministic,
        data=data,
        scoring=Scoring(
            objective,
            mode,
            cfg.data.metric,
            solution,
            Submission.of(data.competition, answer),
            fixed_thresholds(cfg.data.get("thresholds"), data.classes, data.multilabel),
        ),
        parts=None,
        trial=None,
        git=git_state(),
        batch_size=cfg.trainer.batch_size,
        micro_batch=cfg.trainer.get("micro_batch"),
        answer=answer,
        threads=threads,
    )
    # Built before the run exists: a config the model or optimizer refuses records nothing.
    job.parts = build_parts(job)
    job.feature_cache, job.features = cached_features(
        cfg, data, job.parts.model, job.parts.augment, job.device
    )
    job.trial = open_trial(cfg) if open_trial is not None else None
    return job


def _check_trial(cfg: DictConfig, open_trial: OpenTrial | None) -> None:
    """A study's trial (study.trial_id set by the sweep) is handed how to open its trial, and validates:
    without validation it would have no objective to report."""
    in_study = OmegaConf.select(cfg, "study.trial_id", default=None) is not None
    if in_study and open_trial is None:
        raise ConfigError(
            f"study.trial_id={cfg.study.trial_id} makes this job a study's trial: run it through "
            "sweeplab.app.train (as train.py does), which opens its trial"
        )
    check_validation(cfg.data, in_study)


def build_parts(job: Job) -> Parts:
    """Model, augmentation and optimizer from a fresh seed."""
    cfg = job.cfg
    seed_everything(cfg.trainer.seed, job.deterministic)
    model = build_model(cfg.model, num_classes=len(job.data.classes), img_size=cfg.data.img_size)
    optimizer = build_optimizer(cfg.optimizer, model, trains_backbone=not frozen_all_run(cfg.model))
    augment = BatchAugment(cfg.augmentation, _input_stats(job, model), job.device)
    # The longest split's steps: folds differ by a row or so, and a schedule must never run out of steps.
    rows = max(len(split.train_index) for split in job.data.splits)
    schedule = build_scheduler(cfg.scheduler, optimizer, -(-rows // job.batch_size), cfg.trainer.epochs)
    return Parts(model, augment, optimizer, schedule)


def _input_stats(job: Job, model: torch.nn.Module) -> Stats | None:
    """The mean/std normalize=dataset or =auto stands for; auto: the pretrained weights', else none."""
    normalize, img_size = job.cfg.augmentation.normalize, job.cfg.data.img_size
    if normalize == "dataset":
        return channel_stats(job.data)
    weights = model.weights if isinstance(model, TransferModel) else None
    if weights is not None and not weights.crop_size / 2 <= img_size <= weights.crop_size * 2:
        # The cache's square resize stays; a size far from the weights' own loses much of what they learnt.
        log.warning(
            "data.img_size=%d is more than 2x away from the %d px the weights %s were trained at; "
            "consider data.img_size=%d",
            img_size,
            weights.crop_size,
            weights.name,
            weights.crop_size,
        )
    if normalize == "auto" and weights is not None:
        return list(weights.mean), list(weights.std)
    return None


def record_inputs(job: Job, tracker: Tracker) -> None:
    """The config, the uncommitted diff and the data counts: what the run was given."""
    tracker.log_config(job.cfg, skip=("study.",))  # the study's bookkeeping is in the run's tags
    if job.git is not None and job.git.dirty:
        tracker.client.log_text(tracker.run_id, job.git.diff, "git/uncommitted.diff")
    data = job.data
    counts = {
        "train_images": len(data.train_index),
        "val_images": len(data.val_index),
        "test_images": len(data.test_images),
        "corrupt_images": len(data.corrupt),
        "num_classes": len(data.classes),
        "task": data.competition.task,
    }
    # Facts about the run, not curves: as params they are table columns in the MLflow UI, not charts.
    tracker.log_params({Metric.DATA_PREFIX + k: str(v) for k, v in counts.items()})


def fit(job: Job, tracker: Tracker) -> tuple[FitResult, float]:
    """Train the holdout's model, or one model per fold; the seconds spent training come with it."""
    split, cfg = job.data.splits[0], job.cfg
    folds = "" if split.fold is None else f" per fold, {len(job.data.splits)} folds"
    log.info(
        "training %s on %s: %d images, %d validation%s; batch %d, %d epoch%s",
        cfg.model.get("arch") or cfg.model.name,
        job.device,
        len(split.train_index),
        len(split.val_index),
        folds,
        job.batch_size,
        cfg.trainer.epochs,
        "" if cfg.trainer.epochs == 1 else "s",
    )
    if split.fold is None:
        return fit_split(job, tracker, split)
    return fit_folds(job, tracker)


def fit_folds(job: Job, tracker: Tracker) -> tuple[FitResult, float]:
    """One model per fold, each from the same fresh seed; the mean curve and oof/score logged after, and
    the run's model: every fold's weights at the mean curve's best epoch."""
    results, seconds = [], 0.0
    weights = FoldWeights(job.output_dir) if job.cfg.tracking.log_model else None
    try:
        for n, split in enumerate(job.data.splits):
            if n:
                job.parts = build_parts(job)
            result, took = fit_split(job, tracker, split, weights)
            results.append(result)
            seconds += took
        combined, once = combine_folds(results, job.data.labels, job.scoring)
        if weights is not None:
            combined.best_weights = weights.at(combined.best_epoch)
    finally:
        if weights is not None:
            weights.close()
    for epoch, metrics in enumerate(combined.history, 1):
        log_epoch(tracker, epoch, metrics)
        log.info("mean of %d folds, epoch %d: %s", len(results), epoch, shown(metrics))
    if once:
        tracker.log_metrics(once, step=len(combined.history))
        log.info("out of fold: %s", shown(once))
    return combined, seconds


def fit_split(
    job: Job, tracker: Tracker, split: Split, weights: FoldWeights | None = None
) -> tuple[FitResult, float]:
    """Train one model, reporting every epoch to the study (and a fold's weights to `weights`); after CUDA
    out-of-memory, maybe again in micro-batches half the size: the batch the trial sampled stays."""
    cfg = job.cfg
    while True:
        if job.micro_batch is not None:
            tracker.set_tags({Tag.MICRO_BATCH: job.micro_batch})
        trainer, data = _trainer(job)
        hooks = _hooks(job, tracker)
        if weights is not None:
            hooks.insert(0, weights.watching(trainer.evaluated))
        started = time.perf_counter()
        try:
            # Read from job.parts, not kept in locals: an out-of-memory retry must let the old parts go.
            result = trainer.fit(
                data.with_split(split), job.parts.optimizer, job.parts.schedule, job.scoring, hooks
            )
            return result, time.perf_counter() - started
        except torch.cuda.OutOfMemoryError:
            if not cfg.trainer.oom_retry or (job.micro_batch or job.batch_size) == 1:
                raise
            job.micro_batch = (job.micro_batch or job.batch_size) // 2
            log.warning(
                "Out of memory: training again from scratch in micro-batches of %d (trainer.micro_batch; "
                "the batch stays %d: their gradients add up to it)",
                job.micro_batch,
                job.batch_size,
            )
            trainer = job.parts = None
            torch.cuda.empty_cache()
            job.parts = build_parts(job)
        except Pruned as e:
            tracker.set_tags({Tag.PRUNED: "true", Tag.PRUNED_EPOCH: job.trial.pruned_at})
            job.trial.tell_pruned(str(e))
            # A pruned trial ends with a line too, as a finished one does with its summary.
            log.info("run %s (%s): %s, by the study's pruner", tracker.run_id, tracker.experiment_name, e)
            raise
        except KeyboardInterrupt as e:
            raise Interrupted(_save_best_so_far(job, tracker, getattr(trainer, "result", FitResult()))) from e


def _hooks(job: Job, tracker: Tracker) -> list[Hook]:
    """What each epoch reports to: the run, and the study's trial (whose pruner may stop the fit)."""
    hooks: list[Hook] = [TrackingHook(tracker)]
    if job.trial is not None:
        hooks.append(job.trial.hook(job.scoring, job.cfg.trainer.epochs, len(job.data.splits)))
    return hooks


def _trainer(job: Job) -> tuple[Trainer, ImageData]:
    """The loop over pixels through the whole model, or over cached features through the head alone."""
    trainer_cfg = job.cfg.trainer.copy()
    trainer_cfg.batch_size, trainer_cfg.micro_batch = job.batch_size, job.micro_batch
    if job.features is None:
        unfreeze = job.cfg.model.get("unfreeze_at_epoch")
        trainer = Trainer(trainer_cfg, job.parts.model, job.parts.augment, job.device, unfreeze)
        data = job.data
    else:
        trainer_cfg.channels_last = False  # feature rows are 2-D: no memory format to choose
        trainer, data = Trainer(trainer_cfg, job.parts.model.head, FeatureInput(), job.device), job.features
    trainer.keep_weights = bool(job.cfg.tracking.log_model)
    return trainer, data


def record_outputs(job: Job, tracker: Tracker, result: FitResult, fit_seconds: float) -> list[float]:
    """Submissions, predictions, learning curves, model and objective onto the run; the objective value(s)
    returned (NaN without validation: a refit has none)."""
    values = [objective_value(result.history, metric, mode) for metric, mode in job.objectives]
    for name in ("last", "best"):
        tracker.log_artifact(_write_submission(job, result, name), "submissions")
    log_predictions(job, tracker, result)
    curves = plot_learning_curves(result.history, job.output_dir / "learning_curves.png", job.cfg.data.metric)
    tracker.log_artifact(curves)
    if job.cfg.tracking.log_model:
        log_model(job, tracker, result)
    tracker.set_tags(
        {Tag.BEST_EPOCH: result.best_epoch, Tag.OBJECTIVE: values[0] if len(values) == 1 else values}
    )
    if job.trial is not None:  # what the study's plateau stop takes as the least real improvement
        noise = objective_noise(result, job.scoring, values[0], len(job.data.splits[0].val_index))
        job.trial.record_noise(noise)
    finite = {Metric.OBJECTIVE: values[0]} if np.isfinite(values[0]) else {}
    tracker.log_metrics({**finite, Metric.FIT_SECONDS: fit_seconds}, step=len(result.history))
    return values


def log_predictions(job: Job, tracker: Tracker, result: FitResult) -> None:
    """Test probabilities (best and last epoch) and validation ones (out of fold with folds), compressed,
    with the ids and rows that align them: what `sweeplab ensemble` averages and scores."""
    (job.output_dir / "predictions").mkdir(parents=True, exist_ok=True)
    ids = job.data.competition.test_ids
    for name, probs in (("best", result.best_test_probs), ("last", result.last_test_probs)):
        path = write_test_probs(job.output_dir / Artifact.TEST_PROBS.format(epoch=name), probs, ids)
        tracker.log_artifact(path, "predictions")
    if result.best_thresholds is not None:  # multi-label: what a refit of it starts from
        best, last = result.best_thresholds, result.last_thresholds
        log_thresholds(tracker, job.output_dir, job.data.classes, job.cfg.data.metric, best, last)
    if result.best_val_probs is not None:
        rows = result.val_index
        path = write_val_probs(
            job.output_dir / Artifact.VAL_PROBS, result.best_val_probs, rows, job.data.labels[rows]
        )
        tracker.log_artifact(path, "predictions")


def _write_submission(job: Job, result: FitResult, epoch: str) -> Path:
    """submission_best.csv or submission_last.csv, with that epoch's probabilities and thresholds."""
    probs, thresholds = (
        (result.best_test_probs, result.best_thresholds)
        if epoch == "best"
        else (result.last_test_probs, result.last_thresholds)
    )
    path = job.output_dir / f"submission_{epoch}.csv"
    return write_submission(path, job.data.competition, probs, job.answer, thresholds)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training; the message says what was kept."""


def _save_best_so_far(job: Job, tracker: Tracker, result: FitResult) -> str:
    """The submission of the best epoch so far, written and logged before the run ends KILLED."""
    if result.best_test_probs is None:
        return f"run {tracker.run_id} stopped before its first epoch ended: no submission"
    path = _write_submission(job, result, "best")
    tracker.log_artifact(path, "submissions")
    tracker.set_tags({Tag.BEST_EPOCH: result.best_epoch})
    return f"run {tracker.run_id} stopped; best-so-far submission (epoch {result.best_epoch}): {path}"


def _summary(job: Job, tracker: Tracker, result: FitResult, values: list[float]) -> str:
    """One line: what was run, its score, where its submission is and where to see it."""
    objective = ", ".join(
        f"{metric}={value:.4g}" for (metric, _), value in zip(job.objectives, values, strict=True)
    )
    best = f"{objective}, best epoch {result.best_epoch} of {len(result.history)}"
    if not np.isfinite(values).any():  # a refit (data.val_fraction=0): nothing to validate on
        best = f"no validation (trained on every labelled image), submission from epoch {result.best_epoch}"
    url = run_url(tracker.uri, tracker.experiment_id, tracker.run_id)
    return (
        f"run {tracker.run_id} ({tracker.experiment_name}): {best}; submission "
        f"{job.output_dir / 'submission_best.csv'}; see it with `sweeplab ui`: {url}"
    )


def _hydra_context() -> tuple[Path | None, list[str]]:
    """Hydra's output folder and the command-line overrides, when running under @hydra.main."""
    if not HydraConfig.initialized():
        return None, []
    hydra_cfg = HydraConfig.get()
    return Path(hydra_cfg.runtime.output_dir), list(hydra_cfg.overrides.task)


def _run_tags(job: Job) -> dict[str, str]:
    weights = job.parts.model.weights if isinstance(job.parts.model, TransferModel) else None
    return run_tags(
        job.cfg,
        overrides=job.overrides,
        data=job.data,
        device=job.device,
        deterministic=job.deterministic,
        threads=job.threads,
        feature_cache=job.feature_cache,
        submission_format=job.answer.kind,
        stats=job.parts.augment.stats,
        weights=weights,
        git=job.git,
        trial=job.trial,
    )
