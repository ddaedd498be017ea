"""Opening the study a sweep runs: its search space, name and storage, the sampler and pruner; the stored
study created or loaded, and refused when it cannot be resumed with this search space and direction.

What the sweep refuses before its first trial is here: sweeper values no study can run with (before the
storage is opened: a pruner its folds cannot feed, enqueued configs outside the search space too), and a
stored study with another direction or search space (once it is loaded). Configs asked to run first
(hydra.sweeper.enqueue, warm_start_from) are enqueued once the study is open and checked.
"""

import logging
import os
import socket
import zlib

import optuna
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

from sweeplab.errors import ConfigError
from sweeplab.objective import objective_specs
from sweeplab.protocol import Attr, study_overrides
from sweeplab.runs.redact import redact
from sweeplab.runs.tracking import experiment_name
from sweeplab.study.directions import (
    OFFICIAL_DEFAULT,
    competition_metric,
    study_directions,
    sweep_directions,
)
from sweeplab.study.fold_pruning import check_fold_pruning, sweep_folds
from sweeplab.study.naming import default_study_names, readable_name, studies_of
from sweeplab.study.optuna_compat import trial_id
from sweeplab.study.samplers import build_sampler, check_sampler, sampler_class
from sweeplab.study.search_space import grid_values, parse_search_space, search_space_signature
from sweeplab.study.storage import open_storage
from sweeplab.study.unnamed import open_first, recorded_study
from sweeplab.study.warm_start import WarmStart

log = logging.getLogger(__name__)


def check_sweeper(cfg: DictConfig) -> None:
    """Sweeper values no study can run with, refused before the storage is opened."""
    if not 0.0 <= cfg.max_failure_rate <= 1.0:
        raise ConfigError(f"hydra.sweeper.max_failure_rate={cfg.max_failure_rate} must be in [0, 1]")
    if cfg.n_trials < 1 or cfg.n_jobs < 1:
        raise ConfigError("hydra.sweeper.n_trials and hydra.sweeper.n_jobs must be at least 1")
    check_sampler(cfg.sampler)


def objective_text(job_cfg: DictConfig) -> str | None:
    """A sweeplab job's objective and competition metric, as a study records them: "val/score (accuracy)"."""
    objective = job_cfg.get("objective")
    if objective is None:
        return None
    metric = competition_metric(job_cfg)
    return f"{', '.join(m for m, _ in objective_specs(objective, metric))} ({metric})"


def base_name(sweeper_cfg: DictConfig, job_cfg: DictConfig) -> str:
    """What an unnamed study is named after: a sweeplab job's MLflow experiment (the competition folder,
    or `name=`), so the study and its runs go by one name; another app's job name."""
    if "tracking" in job_cfg and "data" in job_cfg:
        return experiment_name(job_cfg)
    return job_cfg.get("name") or OmegaConf.select(job_cfg, "hydra.job.name") or "study"


class StudyOpening:
    """The study of hydra.sweeper and the command line's sweep overrides; `open` creates or loads it."""

    def __init__(self, sweeper_cfg: DictConfig, job_cfg: DictConfig, arguments: list[str]) -> None:
        cfg = self.sweeper_cfg = sweeper_cfg
        check_sweeper(cfg)
        self.directions, self.derived = sweep_directions(cfg.direction, job_cfg)
        self.objective = objective_text(job_cfg)
        self.distributions, self.fixed = parse_search_space(cfg.params, cfg.search_space, arguments)
        if "data" in job_cfg:  # a sweeplab job: a per-fold pruner needs its folds
            check_fold_pruning(cfg.pruner, *sweep_folds(job_cfg, self.fixed, self.distributions))
        self.warm_start = WarmStart(cfg, self.distributions, self.fixed)
        self.extend = get_method(cfg.custom_search_space) if cfg.custom_search_space else None
        is_grid = sampler_class(cfg.sampler.get("_target_", "")) == "GridSampler"
        # The grid sampler's search space: the values of every parameter, every point of it tried once.
        self.grid = {n: grid_values(n, d) for n, d in self.distributions.items()} if is_grid else None
        self.named = cfg.study_name is not None  # named by the user: kept, and refused with another space
        self.base_name = cfg.study_name or base_name(cfg, job_cfg)
        self.signature = search_space_signature(self.distributions)
        self.storage = open_storage(
            cfg.storage, cfg.heartbeat_interval, cfg.grace_period, cfg.retry_stale_trials
        )
        # The names to open, in order (study/unnamed.py): the user's, the stored study of this search space,
        # or the default names; study_name is the first until open() has taken one.
        self.names = [cfg.study_name] if self.named else self._default_names(job_cfg.get("name"))
        self.study_name = self.names[0]
        # Before any study is created: a refused warm start leaves none behind.
        self.warm_start.read_source(self.storage, self.study_name if len(self.names) == 1 else None)
        self.storage_url = redact(self.storage.url)  # for messages; jobs get self.storage.url
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.created = False  # set by open: whether this worker created the study (so its MLflow parent run)

    def open(self) -> optuna.Study:
        # The storage's unique study name decides which of several starting workers is the creator.
        self.study_name, self.created = open_first(
            self.storage, self.names, study_directions(self.directions), self.signature
        )
        if self.created and not self.named:
            self._log_new_study()
        existing = self.storage.get_all_trials(
            self.storage.get_study_id_from_name(self.study_name), deepcopy=False
        )
        # Another worker is at work if it just created the study or has a trial running.
        concurrent = not self.created and (
            not existing or any(t.state == TrialState.RUNNING for t in existing)
        )
        study = optuna.load_study(
            study_name=self.study_name,
            storage=self.storage,
            sampler=self._sampler(len(existing), concurrent),
            pruner=self._pruner(),
        )
        self._check_resumable(study)
        if self.created or not concurrent:  # workers starting together: the creator enqueues, once
            self.warm_start.enqueue(study)
        return study

    def _default_names(self, job_name: str | None) -> list[str]:
        """[the stored study of this search space] if there is one (said when an earlier sweeplab named it),
        else the default names to take the first free one of."""
        keys = list(self.distributions)
        ways = [self.directions] + ([[OFFICIAL_DEFAULT] * len(self.directions)] if self.derived else [])
        bases = list(dict.fromkeys([self.base_name, job_name or self.base_name]))
        found = recorded_study(self.storage.get_all_studies(), bases, keys, self.signature, ways)
        if found is None:
            return default_study_names(self.base_name, keys, self.signature, self.directions)
        name, hashed_after, directions = found
        if hashed_after is not None:
            log.info(
                "Resuming study %s, named by an earlier sweeplab (after %s, for direction %s); set "
                "hydra.sweeper.study_name=%s to start afresh under today's name",
                name,
                hashed_after,
                directions,
                readable_name(self.base_name, keys),
            )
        return [name]

    def _sampler(self, n_existing: int, concurrent: bool) -> optuna.samplers.BaseSampler:
        sampler_cfg = OmegaConf.to_container(self.sweeper_cfg.sampler, resolve=True)
        if sampler_cfg.get("seed") is not None:
            # Continue the randomness from the study's state: a rerun must not propose the same points.
            sampler_cfg["seed"] += n_existing
            if concurrent:  # workers started together must not all propose the same points either
                sampler_cfg["seed"] += zlib.crc32(self.worker.encode()) % 1_000_003
        return build_sampler(sampler_cfg, self.grid)

    def _pruner(self) -> optuna.pruners.BasePruner:
        pruner_cfg = self.sweeper_cfg.pruner
        if pruner_cfg is None or pruner_cfg.get("_target_") is None:
            return optuna.pruners.NopPruner()
        try:
            return instantiate(pruner_cfg)
        except Exception as e:
            raise ConfigError(f"hydra.sweeper.pruner ({pruner_cfg._target_}) cannot be built: {e}") from e

    def _log_new_study(self) -> None:
        others = [
            n
            for n in studies_of(self.base_name, (s.study_name for s in self.storage.get_all_studies()))
            if n != self.study_name
        ]
        log.info(
            "New study %s: hydra.sweeper.study_name is unset, so each search space and direction has a study "
            "of its own%s; set hydra.sweeper.study_name to name one",
            self.study_name,
            f" (this job's others: {', '.join(others)}, resumed by their search space)" if others else "",
        )

    def _check_objective(self, study: optuna.Study) -> None:
        """A study optimises one objective of one competition metric: another one would mix scores."""
        if self.objective is None:
            return
        stored = study.user_attrs.get(Attr.OBJECTIVE)
        if stored is None:
            study.set_user_attr(Attr.OBJECTIVE, self.objective)
        elif stored != self.objective:
            raise ConfigError(
                f"study {self.study_name!r} in {self.storage_url} optimises {stored}, not {self.objective}: "
                "its trials' scores would mix. Set hydra.sweeper.study_name to a new name (or unset it)"
            )

    def _check_resumable(self, study: optuna.Study) -> None:
        """A stored study resumes only with its directions and search space; the pruner is stored for jobs."""
        self._check_objective(study)
        stored_dirs = [d.name.lower() for d in study.directions]
        if (
            stored_dirs != self.directions
            and self.derived
            and stored_dirs == [OFFICIAL_DEFAULT] * len(stored_dirs)
        ):
            # Made under the old default (minimize) before directions followed the objective: resumed as
            # it was, since refusing would strand its trials, with the way out said once.
            log.warning(
                "study %r was created with direction %s (the old default), against its objective's %s: its "
                "'best' trial is its worst. Resumed as it was; start afresh with hydra.sweeper.study_name="
                "NEW_NAME",
                self.study_name,
                stored_dirs,
                self.directions,
            )
            self.directions = stored_dirs
        elif stored_dirs != self.directions:
            raise ConfigError(
                f"study {self.study_name!r} in {self.storage_url} was created with direction {stored_dirs}, "
                f"not {self.directions}; set hydra.sweeper.study_name to a new name, or unset it so that "
                "each direction and search space gets a study of its own"
            )
        pruner = OmegaConf.to_container(self.sweeper_cfg.pruner, resolve=True)
        if study.user_attrs.get(Attr.PRUNER) != pruner:
            study.set_user_attr(Attr.PRUNER, pruner)
        signature = self.signature
        stored = study.user_attrs.get(Attr.SEARCH_SPACE)
        if stored is None:
            # Concurrent workers write the same value; Optuna ignores the losing insert.
            study.set_user_attr(Attr.SEARCH_SPACE, signature)
        elif stored != signature:
            raise ConfigError(
                f"study {self.study_name!r} in {self.storage_url} was created with another search space "
                f"({stored}); resuming it with {signature} would mix trials. Set hydra.sweeper.study_name "
                "to a new name, or unset it so that each search space gets a study of its own, or restore "
                "the original hydra.sweeper.params"
            )

    def trial_overrides(
        self, study: optuna.Study, trial: optuna.Trial, job_cfg: DictConfig, extra: list[str]
    ) -> list[str]:
        """The overrides of a trial's job: its parameters, fixed ones too, and for a sweeplab job the
        trial it reports to; the fixed parameters and this worker are recorded on the trial."""
        # As in the official plugin, the custom search space sees the fixed parameters as user attributes
        # (recorded like everything else: passwords redacted); sweeplab's own are set after it.
        fixed = self.fixed
        for name, value in fixed.items():
            trial.set_user_attr(name, redact(value))
        if self.extend is not None:
            self.extend(job_cfg, trial)
        trial.set_user_attr(Attr.WORKER, self.worker)
        overlap = set(trial.params) & set(fixed)
        if overlap:
            raise ConfigError(f"hydra.sweeper: {sorted(overlap)} are both fixed and searched")
        params = {**trial.params, **fixed}
        identity = []
        if "study" in job_cfg:  # a sweeplab job: it reports epochs to this trial and may be pruned
            identity = [
                *study_overrides(study.study_name, self.storage.url, trial_id(trial), trial.number),
                *extra,
            ]
        return [*(f"{name}={value}" for name, value in params.items()), *identity]
