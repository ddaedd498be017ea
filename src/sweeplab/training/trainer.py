"""The `trainer` config group: the training loop, reporting each epoch to the hooks the job passes in."""

import logging
import math
import sys
import warnings
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from sweeplab.data import ImageData
from sweeplab.data.augment import BatchAugment
from sweeplab.data.batches import batches
from sweeplab.data.mixing import Mixed
from sweeplab.device import autocast
from sweeplab.errors import ConfigError, TrainingDiverged
from sweeplab.offline import probabilities, view_mean
from sweeplab.protocol import Metric
from sweeplab.scoring.metrics import leaderboard_metrics, validation_metrics
from sweeplab.training.ema import WeightsEma
from sweeplab.training.optim import Schedule
from sweeplab.training.result import FitResult, Scoring, improves, shown, state_copy

log = logging.getLogger(__name__)
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
SYNC_EVERY = 25  # training steps between reads of the running loss (a GPU sync) and NaN checks


def check_trainer(cfg) -> None:
    """The `trainer` values the loop cannot run with, refused before a job records anything."""
    if cfg.batch_size < 1:
        raise ConfigError(f"trainer.batch_size={cfg.batch_size} must be at least 1")
    if cfg.epochs < 1:
        raise ConfigError(f"trainer.epochs={cfg.epochs} must be at least 1")
    micro = cfg.get("micro_batch")
    if micro is not None and not 1 <= micro <= cfg.batch_size:
        raise ConfigError(
            f"trainer.micro_batch={micro} must be in 1..trainer.batch_size ({cfg.batch_size}), or null "
            "for the whole batch at once"
        )
    if not 0.0 <= cfg.get("label_smoothing", 0.0) < 1.0:
        raise ConfigError(f"trainer.label_smoothing={cfg.label_smoothing} must be in [0, 1), e.g. 0.1")
    if cfg.get("grad_clip") is not None and cfg.grad_clip <= 0:
        raise ConfigError(f"trainer.grad_clip={cfg.grad_clip} must be positive, or null for no clipping")
    decay = cfg.get("ema_decay")
    if decay is not None and not 0.0 < decay < 1.0:
        raise ConfigError(f"trainer.ema_decay={decay} must be in (0, 1), e.g. 0.999, or null for no EMA")
    if cfg.compile_mode not in COMPILE_MODES:
        raise ConfigError(
            f"trainer.compile_mode={cfg.compile_mode!r} is unknown; valid: {', '.join(COMPILE_MODES)}"
        )


def training_loss(
    logits: torch.Tensor, y: torch.Tensor, multilabel: bool, smoothing: float, mixed: Mixed | None = None
) -> torch.Tensor:
    """Cross-entropy of class indices, or BCE of each tag's yes/no (one independent sigmoid per tag),
    against targets smoothed by `smoothing`: each class keeps smoothing / C, each tag smoothing / 2. For a
    mixed batch, each image's loss is its own label's weighted by `mixed.own` plus its partner's."""
    if mixed is None:
        return _image_losses(logits, y, multilabel, smoothing, "mean")
    own = _image_losses(logits, y, multilabel, smoothing, "none")
    partners = _image_losses(logits, y[mixed.partner], multilabel, smoothing, "none")
    return (mixed.own * own + (1 - mixed.own) * partners).mean()


def _image_losses(
    logits: torch.Tensor, y: torch.Tensor, multilabel: bool, smoothing: float, reduction: str
) -> torch.Tensor:
    if multilabel:
        target = y.float() * (1.0 - smoothing) + smoothing / 2
        if reduction == "mean":
            return F.binary_cross_entropy_with_logits(logits, target)
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(1)
    return F.cross_entropy(logits, y, label_smoothing=smoothing, reduction=reduction)


class Hook:
    """What the loop tells the job: override either event; both do nothing here."""

    def on_epoch(self, epoch: int, metrics: dict[str, float], fold: int | None) -> None:
        """After each epoch's evaluation, with its metrics (finite ones only); may raise to stop the fit."""

    def on_fold_end(self, fold: int, result: FitResult) -> None:
        """After a fold's last epoch (k-fold only), with the fold's result."""


class Trainer:
    def __init__(
        self,
        cfg,
        model: torch.nn.Module,
        augment: BatchAugment,
        device: torch.device,
        unfreeze_at_epoch: int | None = None,
    ):
        self.cfg, self.model, self.augment, self.device = cfg, model, augment, device
        # model.unfreeze_at_epoch: from this epoch on a frozen backbone trains too (its parameters are
        # already in the optimizer, at lr x optimizer.backbone_lr_scale). Given with the model it acts on.
        self.unfreeze_at_epoch = unfreeze_at_epoch
        check_trainer(cfg)
        self.eval_batch_size = cfg.eval_batch_size or 2 * cfg.batch_size  # no activations kept: twice fits
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.model.to(device, memory_format=self.memory_format)
        if cfg.amp and device.type != "cuda":
            warnings.warn("trainer.amp=true only applies on CUDA; training in fp32 on the CPU", stacklevel=2)
        # Compiled lazily on the first batch (and again for eval mode and a short last batch); the
        # weights stay shared with self.model, which is what gets saved.
        self.network = torch.compile(model, mode=cfg.compile_mode) if cfg.compile else model
        self.tta = [str(v) for v in (cfg.get("tta") or ())]
        # Read once: a DictConfig lookup per step costs more than a small model's step on a GPU.
        self.label_smoothing, self.grad_clip = cfg.get("label_smoothing", 0.0), cfg.get("grad_clip")
        self.micro_batch = cfg.get("micro_batch")
        decay = cfg.get("ema_decay")
        self.ema = None if decay is None else WeightsEma(self.model, decay)
        self.raw = False  # predict the last step's weights, not their average (val/score_raw)
        self.mix = getattr(augment, "mix", None)  # Mixup/CutMix: images and labels, so here, not in augment
        self.mixing = False  # this epoch's: mixing may stop after augmentation.mix_until_epoch
        self.steps = 0  # optimizer steps taken: train/steps
        self.multilabel = False  # set by fit from its data's labels: sigmoid and BCE instead of softmax
        # The best epoch's weights, copied to the CPU when an epoch improves: the run's logged model.
        self.keep_weights = True

    @property
    def evaluated(self) -> torch.nn.Module:
        """The weights validated, submitted and kept: the moving average with trainer.ema_decay."""
        return self.model if self.ema is None else self.ema.module

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of an evaluation batch: the evaluated weights', or the last step's (self.raw)."""
        x = self.augment(x, train=False).contiguous(memory_format=self.memory_format)
        network = self.network if self.raw or self.ema is None else self.ema.module
        with autocast(self.cfg.amp, self.device):
            return network(x).float()

    def train_step(
        self, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on a uint8 batch, in micro-batches whose gradients add up to the batch's;
        the batch's mean loss and its logits stay on the device (no sync)."""
        optimizer.zero_grad(set_to_none=True)
        size = self.micro_batch or len(y)
        if size >= len(y):
            loss, logits = self.backward(x, y, 1.0)
        else:
            parts = [self.backward(x[i : i + size], y[i : i + size], len(y)) for i in range(0, len(y), size)]
            loss, logits = sum(p[0] for p in parts), torch.cat([p[1] for p in parts])
        if self.grad_clip is not None:  # one norm over every parameter, as timm's --clip-grad
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        optimizer.step()
        if self.ema is not None:
            self.ema.update(self.model)
        self.steps += 1
        return loss, logits

    def backward(self, x: torch.Tensor, y: torch.Tensor, batch: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward and backward of one micro-batch of a batch of `batch` images (1.0: the whole batch),
        its mean loss weighted by its share so the accumulated gradient is the batch's. BatchNorm sees the
        micro-batch alone."""
        inputs = self.augment(x, train=True).contiguous(memory_format=self.memory_format)
        mixed = self.mix(inputs) if self.mixing else None
        with autocast(self.cfg.amp, self.device):
            logits = self.network(inputs if mixed is None else mixed.images).float()
        loss = training_loss(logits, y, self.multilabel, self.label_smoothing, mixed)
        if batch != 1.0:
            loss = loss * (len(y) / batch)
        loss.backward()
        return loss.detach(), logits.detach()

    def _probs(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (softmax), or each tag's (sigmoid) for multi-label."""
        return probabilities(self._forward(x), self.multilabel)

    def _predict_batch(self, x: torch.Tensor) -> torch.Tensor:
        """The batch's probabilities, averaged over trainer.tta's flipped views (flips of the uint8 batch):
        the views and the activation of sweeplab.offline.Predictor, which predicts for a logged model."""
        return view_mean(self._probs, x, self.tta)

    @torch.no_grad()
    def predict(self, images: np.ndarray, index: np.ndarray, raw: bool = False) -> np.ndarray:
        """Class probabilities for the given rows, in their order (averaged over the TTA views), of the
        evaluated weights (raw: the last step's, not their average)."""
        self.model.eval()
        self.raw = raw
        zeros = np.zeros(len(images), dtype=np.int64)
        # Kept on the device and copied once: a copy per batch is a sync per batch on a GPU.
        probs = [
            self._predict_batch(x)
            for x, _ in batches(images, zeros, index, self.eval_batch_size, self.device)
        ]
        self.raw = False
        return torch.cat(probs).cpu().numpy()

    def raw_score(self, data: ImageData, scoring: Scoring) -> dict[str, float]:
        """val/score_raw: the last step's weights' val/score beside the average's (trainer.ema_decay): one
        more pass over the validation images an epoch."""
        truth, raw = data.labels[data.val_index], self.predict(data.images, data.val_index, raw=True)
        thresholds = scoring.thresholds_for(truth, raw) if data.multilabel else None
        score = validation_metrics(truth, raw, scoring.metric, scoring.submission, thresholds)
        return {Metric.VAL_SCORE_RAW: score[Metric.VAL_SCORE]}

    def fit(
        self,
        data: ImageData,
        optimizer: torch.optim.Optimizer,
        schedule: Schedule | None,
        scoring: Scoring,
        hooks: Sequence[Hook] = (),
    ) -> FitResult:
        """Train cfg.epochs epochs; after each, evaluate and score, log one line and call the hooks.

        With data.fold set (k-fold), every epoch's predictions are kept for the mean over the folds, and
        the hooks hear on_fold_end after the last epoch.
        """
        # Kept on the trainer: after Ctrl-C the job still writes the best-so-far submission from it.
        cfg, result = self.cfg, FitResult(val_index=data.val_index)
        self.result, self.multilabel = result, data.multilabel
        generator = torch.Generator().manual_seed(cfg.seed)
        for epoch in range(1, cfg.epochs + 1):
            if epoch == self.unfreeze_at_epoch:
                self.model.set_frozen(False)
                log.info("epoch %d: backbone unfrozen, everything trains from now on", epoch)
            metrics = self.train_epoch(data, optimizer, generator, epoch, schedule)
            if schedule is not None and not schedule.per_step:
                schedule.scheduler.step()
            val_probs = self.predict(data.images, data.val_index) if len(data.val_index) else None
            truth = data.labels[data.val_index]
            thresholds = scoring.thresholds_for(truth, val_probs) if data.multilabel else None
            if val_probs is not None:
                metrics.update(
                    validation_metrics(truth, val_probs, scoring.metric, scoring.submission, thresholds)
                )
                if self.ema is not None:
                    metrics.update(self.raw_score(data, scoring))
            metrics = self._end_epoch(data, result, metrics, val_probs, thresholds, scoring)
            prefix = "" if data.fold is None else f"fold {data.fold} "
            log.info("%sepoch %d/%d: %s", prefix, epoch, cfg.epochs, shown(metrics))
            for hook in hooks:  # the run's tracking, the trial's pruning (which stops the fit by raising)
                hook.on_epoch(epoch, metrics, data.fold)
        if data.fold is not None:
            for hook in hooks:
                hook.on_fold_end(data.fold, result)
        return result

    def _end_epoch(
        self,
        data: ImageData,
        result: FitResult,
        metrics: dict[str, float],
        val_probs: np.ndarray | None,
        thresholds: np.ndarray | None,
        scoring: Scoring,
    ) -> dict[str, float]:
        """Predict the test set when needed, score it, and keep the epoch's metrics, probabilities and
        (multi-label) thresholds; the epoch's metrics returned (finite ones only)."""
        objective, mode, solution = scoring.objective, scoring.mode, scoring.solution
        improved = improves(result, metrics, objective, mode)
        last = len(result.history) + 1 == self.cfg.epochs
        # Without a solution file the test set (12,500 images for Dogs vs. Cats) is predicted only for
        # the two submissions (at the best epoch so far and at the last), except with folds.
        test_probs = None
        if solution is not None or improved or last or data.fold is not None:
            test_probs = self.predict(data.test_images, np.arange(len(data.test_images)))
        if solution is not None:
            metrics.update(
                leaderboard_metrics(
                    solution, scoring.metric, scoring.submission, test_probs, metrics, thresholds
                )
            )
        metrics = {k: v for k, v in metrics.items() if math.isfinite(v)}  # e.g. ROC-AUC of one class
        improved = improves(result, metrics, objective, mode)  # again: a NaN objective is no improvement
        result.history.append(metrics)
        if improved:
            result.best_epoch = len(result.history)
            result.best_test_probs, result.best_val_probs = test_probs, val_probs
            result.best_thresholds = thresholds
            if self.keep_weights and data.fold is None:  # folds: the mean curve's epoch, the job's hook
                result.best_weights = [state_copy(self.evaluated)]
        if last:
            result.last_test_probs, result.last_thresholds = test_probs, thresholds
        if data.fold is not None:
            result.epoch_probs.append((val_probs, test_probs))
        return metrics

    def train_epoch(
        self,
        data: ImageData,
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator,
        epoch: int,
        schedule: Schedule | None = None,
    ) -> dict[str, float]:
        """One pass over the training rows (a per-step schedule moving after each optimizer step):
        train/loss, train/acc, the learning rate at its end and the optimizer steps so far."""
        cfg = self.cfg
        self.model.train()
        self.mixing = self.mix is not None and self.mix.active(epoch)
        # Running sums stay on the device: reading them is a sync, done every SYNC_EVERY steps only.
        seen, loss_sum = 0, torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device)  # multi-label: the share of tags right per image
        steps = batches(data.images, data.labels, data.train_index, cfg.batch_size, self.device, generator)
        total = -(-len(data.train_index) // cfg.batch_size)
        # A log file or a pipe gets the epoch's line only; bars redrawn into it are noise.
        bars = sys.stderr.isatty() if cfg.progress is None else cfg.progress
        progress = dict(desc=f"epoch {epoch}/{cfg.epochs}", disable=not bars, dynamic_ncols=True)
        with tqdm(steps, total=total, leave=True, **progress) as bar:
            for step, (x, y) in enumerate(bar, 1):
                lr = optimizer.param_groups[0]["lr"]  # what this step trains at: the epoch's logged lr
                loss, logits = self.train_step(x, y, optimizer)
                if schedule is not None and schedule.per_step:
                    schedule.scheduler.step()
                seen += len(y)
                loss_sum += loss * len(y)
                if self.multilabel:
                    correct += ((logits > 0) == (y > 0)).float().mean(1).sum()
                else:
                    correct += (logits.argmax(1) == y).sum()
                if step % SYNC_EVERY == 0 or step == total:
                    mean_loss = loss_sum.item() / seen
                    if not math.isfinite(mean_loss):
                        raise TrainingDiverged(
                            f"training loss became {mean_loss} in epoch {epoch}; lower optimizer.lr "
                            f"(now {optimizer.param_groups[0]['lr']:g})"
                        )
                    bar.set_postfix(loss=f"{mean_loss:.4f}", acc=f"{correct.item() / seen:.3f}")
        return {
            Metric.TRAIN_LOSS: loss_sum.item() / seen,
            Metric.TRAIN_ACC: correct.item() / seen,
            Metric.LR: lr,  # the last step's rate (per-epoch schedules: the epoch's, as before)
            Metric.TRAIN_STEPS: float(self.steps),
        }
