"""The job's view of its Optuna trial: report each epoch's or fold's objective, raise TrialPruned if told.

The training job knows no Optuna: the job's caller (sweeplab.app.train) hands it `StudyTrial.for_job`,
which the job calls once its config is checked; the job then trains with the trial's `hook` among its
hooks and tells the trial its result (sweeplab.training.hooks.Trial is what it asks of a trial).
"""

import logging
import math
import os
import socket

import optuna
from hydra.utils import instantiate
from omegaconf import DictConfig
from optuna.trial import TrialState

from sweeplab.objective import objective_value
from sweeplab.protocol import Attr, StudyConfig
from sweeplab.study.fold_pruning import check_fold_pruning
from sweeplab.study.optuna_compat import trial_handle
from sweeplab.study.outcome import TrialPruned
from sweeplab.study.storage import Heartbeat, open_storage
from sweeplab.training.result import FitResult, Scoring
from sweeplab.training.trainer import Hook

log = logging.getLogger(__name__)


class StudyTrial:
    """The job's view of its Optuna trial: report each epoch's objective, raise TrialPruned when told."""

    def __init__(self, study_name: str, storage_url: str, trial_id: int, number: int):
        self.storage = open_storage(storage_url)
        # The pruner is not kept in the storage: the sweeper stores its config with the study.
        study_id = self.storage.get_study_id_from_name(study_name)
        pruner_cfg = self.pruner_cfg = self.storage.get_study_user_attrs(study_id).get(Attr.PRUNER)
        pruner = (
            instantiate(pruner_cfg)
            if pruner_cfg and pruner_cfg.get("_target_")
            else optuna.pruners.NopPruner()
        )
        self.study = optuna.load_study(study_name=study_name, storage=self.storage, pruner=pruner)
        self.trial = trial_handle(self.study, trial_id)
        self.number, self.study_name, self.storage_url = number, study_name, storage_url
        self.trial_id = trial_id
        self.heartbeat = Heartbeat(self.storage, [trial_id])
        self.pruned_at: int | None = None
        # Wilcoxon compares per-fold scores: the job reports one value per fold (step = fold index).
        self.per_fold = isinstance(pruner, optuna.pruners.WilcoxonPruner)

    @classmethod
    def from_config(cls, cfg: StudyConfig | None) -> "StudyTrial | None":
        """The trial the sweeper injected as `study.*` overrides, or None outside a study."""
        if not cfg or cfg.get("trial_id") is None:
            return None
        return cls(cfg.name, cfg.storage, int(cfg.trial_id), int(cfg.number))

    @classmethod
    def for_job(cls, job_cfg: DictConfig) -> "StudyTrial | None":
        """The job's trial, checked against the job's folds: the sweep refused a pruner that cannot work
        with them already; a job started otherwise (by hand, by another sweeper) is refused here."""
        trial = cls.from_config(job_cfg.get("study"))
        if trial is not None:
            check_fold_pruning(trial.pruner_cfg, [job_cfg.data.folds], job_cfg.data.get("fold"))
        return trial

    def hook(self, scoring: Scoring, epochs: int, folds: int) -> "TrialHook":
        """What the training loop reports each epoch (or fold) to."""
        return TrialHook(self, scoring, epochs, folds)

    def record_run(self, run_id: str) -> None:
        """The trial's MLflow run, for the study's bookkeeping (the parent run's trial table, resume)."""
        self.trial.set_user_attr(Attr.RUN, run_id)

    def record_noise(self, noise: float) -> None:
        """What the study's plateau stop takes as the least real improvement of this trial's objective."""
        self.trial.set_user_attr(Attr.NOISE, noise)

    def report(self, value: float, step: int, where: str | None = None) -> None:
        """Record the step's objective (the epoch; with folds fold x epochs + epoch, or the fold for a
        per-fold pruner); raise TrialPruned if the study's pruner says so. `where`: "at fold 1
        epoch 2 (step 4)", "after fold 4 of 5", for the reason."""
        if len(self.study.directions) > 1:  # Optuna cannot prune multi-objective trials
            return
        self.trial.report(value, step)
        if self.trial.should_prune():
            self.pruned_at = step
            raise TrialPruned(f"pruned {where or f'at epoch {step}'} (value {value:.4g})")

    def tell(self, values: list[float]) -> None:
        """The job's own result to the study, when the sweep that launched it has died (SIGKILL) while it
        ran: the same command then finds the trial COMPLETE, not RUNNING and then failed. While the sweep
        lives it tells the result itself, through its own sampler (constraints_func, after_trial). Values the
        sweep would refuse (not finite, not one per objective) are left to it, to fail with its reason."""
        if len(values) != len(self.study.directions) or not all(math.isfinite(v) for v in values):
            return
        if not self._sweep_gone():
            return
        self._tell(values=values)

    def tell_pruned(self, reason: str) -> None:
        if self._sweep_gone():
            self.trial.set_user_attr(Attr.REASON, reason[:2000])
            self._tell(state=TrialState.PRUNED)

    def _sweep_gone(self) -> bool:
        """Whether the sweep process that asked this trial (Attr.WORKER, host:pid) is no longer running on
        this machine. One on another machine cannot be checked: it is taken as alive."""
        worker = self.storage.get_trial(self.trial_id).user_attrs.get(Attr.WORKER, "")
        host, _, pid = worker.rpartition(":")
        if host != socket.gethostname() or not pid.isdigit():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # another user's process with that pid: alive
            return False
        return False

    def _tell(self, **outcome) -> None:
        try:
            self.study.tell(self.trial, **outcome)
        except (ValueError, RuntimeError) as e:
            # Already finished: the sweep marked it FAIL (no heartbeat for grace_period), or a grid
            # sampler's study.stop(), which only the sweep acts on.
            log.info("trial %d: result not told by the job (%s); the sweep tells it", self.number, e)


class TrialHook(Hook):
    """Reports every epoch's objective to the study's trial, or with a per-fold pruner (Wilcoxon) every
    fold's; TrialPruned, when its pruner says so, propagates and ends the fit."""

    def __init__(self, trial: StudyTrial, scoring: Scoring, epochs: int, folds: int):
        self.trial, self.objective, self.mode = trial, scoring.objective, scoring.mode
        self.epochs, self.folds = epochs, folds

    def on_epoch(self, epoch: int, metrics: dict[str, float], fold: int | None) -> None:
        if fold is not None and self.trial.per_fold:
            return  # reported once the fold ends
        step = epoch if fold is None else fold * self.epochs + epoch  # each step reported once
        where = None if fold is None else f"at fold {fold} epoch {epoch} (step {step})"
        self.trial.report(metrics.get(self.objective, float("nan")), step, where)

    def on_fold_end(self, fold: int, result: FitResult) -> None:
        if self.trial.per_fold:  # the fold's value is the one the job would return for it: best or last
            value = objective_value(result.history, self.objective, self.mode)
            self.trial.report(value, fold, f"after fold {fold + 1} of {self.folds}")
