"""The Optuna study loop behind `hydra/sweeper=optuna`: keep every slot busy, tell results as they come.

With a pool (sweeplab.study.slots.Pooled, which the launcher side hands over for hydra/launcher=pool and
joblib) the loop keeps every slot busy: the moment a trial ends, the next is asked and launched into its
slot. With any other launcher, or hydra.sweeper.batched=true, it asks a batch of n_jobs, launches it
through Hydra and waits for its slowest trial. The study it runs is opened by sweeplab.study.opening
(search space, storage, sampler, pruner, resume checks).
"""

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import optuna
from hydra.core.utils import JobReturn
from omegaconf import DictConfig
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from sweeplab.errors import SweepFailed
from sweeplab.protocol import Attr
from sweeplab.study.opening import StudyOpening
from sweeplab.study.optuna_compat import trial_id
from sweeplab.study.outcome import lost_job, outcome_of
from sweeplab.study.plateau import Plateau
from sweeplab.study.pool_loop import PoolRun, fail_interrupted
from sweeplab.study.slots import Pooled, Slot, plan_slots, slot_overrides
from sweeplab.study.storage import Heartbeat

log = logging.getLogger(__name__)

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
WAIT_POLL_S = 1.0  # how often a worker with nothing to ask looks at the shared study again

Launch = Callable[[list[list[str]], int], Sequence[JobReturn]]
OnStart = Callable[[optuna.Study], list[str]]
OnTrial = Callable[[optuna.Study, FrozenTrial], None]


@dataclass
class Failures:
    """The sweep's failed trials, against hydra.sweeper.max_failure_rate x n_trials."""

    rate: float
    n_trials: int
    reasons: list[str] = field(default_factory=list)
    said: bool = False

    def add(self, number: int, reason: str) -> None:
        self.reasons.append(f"trial {number}: {reason}")

    def check(self) -> None:
        """Stop the sweep once more trials failed than the rate allows (at 1.0 they only count)."""
        if self.rate < 1.0 and len(self.reasons) > self.rate * self.n_trials:
            raise SweepFailed(
                f"{len(self.reasons)} trials failed, more than hydra.sweeper.max_failure_rate="
                f"{self.rate} of n_trials={self.n_trials}; first: {self.reasons[0]}"
            )

    def say(self) -> None:
        """The sweep's one line about its failures, once, as it ends."""
        if self.reasons and not self.said:
            self.said = True
            log.warning(
                "%d trials of this sweep failed (hydra.sweeper.max_failure_rate=%s); first: %s",
                len(self.reasons),
                self.rate,
                self.reasons[0],
            )


class StudyLoop:
    """Runs a study to n_trials finished trials; `launch` is the Hydra launcher's launch."""

    def __init__(
        self,
        sweeper_cfg: DictConfig,
        job_cfg: DictConfig,
        launch: Launch,
        arguments: list[str],
        *,
        parallel: bool = True,  # whether the launcher runs a batch of jobs at once (not Hydra's basic one)
        pool: Pooled | None = None,  # one job at a time into a slot: the loop keeps every slot busy
        local: bool = True,  # the launcher runs jobs on this machine (its GPUs and cores are theirs)
    ) -> None:
        cfg = sweeper_cfg
        self.opening = StudyOpening(cfg, job_cfg, arguments)
        self.sweeper_cfg, self.job_cfg, self.launch, self.parallel = cfg, job_cfg, launch, parallel
        self.batched = bool(cfg.get("batched", False))
        self.pool = pool
        self.slots: list[Slot] = plan_slots(cfg, job_cfg, sequential=not parallel, local=local)
        grid = self.opening.grid
        # Failed trials take a slot of n_trials: a grid point is tried once, and max_failure_rate=1.0
        # means, as in the official plugin, n_trials attempts whatever their outcome.
        self.failures_count = grid is not None or cfg.max_failure_rate >= 1.0
        # The grid sampler tries every point once: the study is never longer than the grid.
        self.n_trials = min(cfg.n_trials, math.prod(map(len, grid.values()))) if grid else cfg.n_trials
        # Changed while the study runs:
        self.grid_exhausted = False
        self.job_idx = 0  # Hydra's numbering of launched jobs
        self.failures = Failures(cfg.max_failure_rate, self.n_trials)
        self.waiting = False  # already said that it waits for other workers
        self.plateau: Plateau | None = None  # set once the study's directions are known
        self.stop_reason: str | None = None  # why the study ended before n_trials (plateau)

    @property
    def study_name(self) -> str:
        return self.opening.study_name

    @property
    def created(self) -> bool:
        """Whether this worker created the study (and so its MLflow parent run); known once it runs."""
        return self.opening.created

    def counts(self, study: optuna.Study) -> tuple[int, int]:
        """(finished, running) over all workers: each counts from the shared storage, not locally."""
        done = (*FINISHED, TrialState.FAIL) if self.failures_count else FINISHED
        trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(Attr.SURPLUS)]
        finished = sum(t.state in done for t in trials)
        return finished, sum(t.state == TrialState.RUNNING for t in trials)

    def _is_surplus(self, study: optuna.Study, trial: optuna.Trial) -> bool:
        """Whether n_trials finished or running trials were asked before this one (by any worker).

        Workers count, then ask: two can ask for the last open slot at once. Trial numbers are unique
        and ordered, so the later trial is the one to drop, and every worker agrees on which it is.
        """
        taken = (*FINISHED, TrialState.RUNNING) + ((TrialState.FAIL,) if self.failures_count else ())
        earlier = [
            t
            for t in study.get_trials(deepcopy=False, states=taken)
            if t.number < trial.number and not t.user_attrs.get(Attr.SURPLUS)
        ]
        return len(earlier) >= self.n_trials

    def ask(self, study: optuna.Study, count: int) -> list[optuna.Trial]:
        """Up to `count` trials for this worker; a trial asked in a race for the last slot never runs."""
        trials = []
        for _ in range(count):
            trial = study.ask(fixed_distributions=self.opening.distributions)
            # A first heartbeat now: a sweep killed before the job starts leaves no orphan.
            self.opening.storage.record_heartbeat(trial_id(trial))
            if self._is_surplus(study, trial):
                trial.set_user_attr(Attr.SURPLUS, True)
                trial.set_user_attr(Attr.REASON, "not run: other workers had taken every trial")
                study.tell(trial, state=TrialState.FAIL)
                log.info("Trial %d not run: other workers took the last of n_trials", trial.number)
                break
            trials.append(trial)
        return trials

    def wait_for_others(self, running: int) -> None:
        """Every open trial runs in another worker: wait, since one may still fail and need replacing."""
        if not self.waiting:
            log.info("%d trials running in other workers; waiting for them to finish", running)
        self.waiting = True
        time.sleep(WAIT_POLL_S)

    def run(self, on_start: OnStart | None = None, on_trial: OnTrial | None = None) -> optuna.Study:
        # Refused before the storage is opened: a refused sweep leaves no empty study behind.
        self.plateau = Plateau.from_config(self.sweeper_cfg, self.opening.directions)
        study = self.opening.open()
        optuna.storages.fail_stale_trials(study)  # trials whose process died while running
        extra = on_start(study) if on_start else []
        finished = self.counts(study)[0]
        _log_start(study, self.opening, self.n_trials, finished)
        if finished >= self.n_trials:  # a study that is done: said in one line, no worker started
            return study
        _log_slots(self.slots, self.pool is not None and not self.batched)
        if self.pool is not None and not self.batched:
            return PoolRun(self, self.pool).run(study, extra, on_trial)
        if self.pool is not None:  # batches through the pool's launch(), on the slots' own workers
            self.pool.start(self.slots)
            try:
                return self._run_batches(study, extra, on_trial)
            finally:
                self.pool.shutdown()
        return self._run_batches(study, extra, on_trial)

    def _run_batches(self, study: optuna.Study, extra: list[str], on_trial: OnTrial | None) -> optuna.Study:
        """Today's batches of n_jobs (a sequential launcher: one at a time), each waiting for its slowest."""
        while True:
            optuna.storages.fail_stale_trials(study)  # a dead worker's trial frees its slot
            finished, running = self.counts(study)
            if self.done(study, finished):
                return study
            open_slots = self.n_trials - finished - running
            if open_slots <= 0:
                self.wait_for_others(running)
                continue
            self.waiting = False
            # A sequential launcher gets one trial at a time: a trial asked ahead would sit RUNNING,
            # holding a slot other workers could use and dying with this worker if it is killed.
            batch = len(self.slots) if self.parallel else 1
            trials = self.ask(study, min(batch, open_slots))
            if trials:
                self._run_batch(study, trials, extra, on_trial)

    def done(self, study: optuna.Study, finished: int) -> bool:
        """Whether the study is over: n_trials finished, the grid tried, or a plateau reached."""
        if self.stop_reason is None and self.plateau is not None:
            self.stop_reason = self.plateau.reason(study)
            if self.stop_reason:
                log.info("Study %s %s", study.study_name, self.stop_reason)
        if self.grid_exhausted or finished >= self.n_trials or self.stop_reason:
            self.failures.say()
            return True
        return False

    def _run_batch(
        self, study: optuna.Study, trials: list[optuna.Trial], extra: list[str], on_trial: OnTrial | None
    ) -> None:
        overrides = [
            self.opening.trial_overrides(
                study, t, self.job_cfg, extra + slot_overrides(slot, False, self.job_cfg)
            )
            for t, slot in zip(trials, self.slots, strict=False)
        ]
        results = _launch(self.launch, self.opening.storage, study, trials, overrides, self.job_idx)
        self.job_idx += len(results)
        for trial, result in zip(trials, results, strict=True):
            self.tell(study, trial, result, on_trial)
        self.failures.check()

    def tell(
        self, study: optuna.Study, trial: optuna.Trial, result: JobReturn, on_trial: OnTrial | None
    ) -> None:
        if not isinstance(result, JobReturn):  # RQ returns None for a job whose worker died
            result = lost_job(f"the launcher returned no result for this job ({result!r}): its worker died?")
        outcome = outcome_of(result, len(self.opening.directions), self.sweeper_cfg.diverged_as)
        # Only a sweeplab job tells the study itself; other apps' trials are not read back (a storage read
        # per trial that the official plugin's sphere would pay for nothing).
        told = self.opening.storage.get_trial(trial_id(trial)).state if "study" in self.job_cfg else None
        if told is not None and told.is_finished() and told != TrialState.FAIL:
            # Its job told the study itself (so that a sweep killed meanwhile still counts it).
            if outcome.state == TrialState.FAIL:
                self.failures.add(trial.number, outcome.reason)
            if on_trial:
                on_trial(study, study.get_trials(deepcopy=False)[trial.number])
            return
        if outcome.reason:
            trial.set_user_attr(Attr.REASON, outcome.reason[:2000])
        if outcome.state == TrialState.FAIL:
            self.failures.add(trial.number, outcome.reason)
            log.warning("Trial %d failed: %s", trial.number, outcome.reason)
        try:
            study.tell(trial, values=outcome.values, state=outcome.state)
        except RuntimeError as e:  # the grid sampler stops the study once every point was tried
            if "Study.stop" not in str(e):
                raise
            self.grid_exhausted = True
        except ValueError:  # "Cannot tell a FAIL trial"
            if study.get_trials(deepcopy=False)[trial.number].state != TrialState.FAIL:
                raise
            # Another worker marked it FAIL: its heartbeats stopped for longer than grace_period.
            log.warning(
                "Trial %d was marked failed elsewhere while it ran (no heartbeat for %d s); its result is "
                "dropped. Raise hydra.sweeper.grace_period if the workers' machines are this busy",
                trial.number,
                self.sweeper_cfg.grace_period,
            )
        if on_trial:
            on_trial(study, study.get_trials(deepcopy=False)[trial.number])


def _log_start(study: optuna.Study, opening: StudyOpening, n_trials: int, finished: int) -> None:
    # The official plugin's lines first: scripts written for it read them.
    log.info(f"Study name: {study.study_name}")
    log.info(f"Storage: {opening.storage_url}")
    log.info(f"Sampler: {type(study.sampler).__name__}")
    log.info(f"Directions: {opening.directions}")
    if opening.grid is not None:
        log.info(f"Updating num of trials to {n_trials} due to using GridSampler.")
    log.info(
        "Study %s in %s: %d of %d trials finished, sampler %s, pruner %s, directions %s",
        study.study_name,
        opening.storage_url,
        finished,
        n_trials,
        type(study.sampler).__name__,
        type(study.pruner).__name__,
        opening.directions,
    )
    if finished >= n_trials:  # the same command again: resuming a study that is done runs nothing
        log.info(
            "Study %s is done (%d of %d trials finished): nothing to run; raise hydra.sweeper.n_trials for "
            "more trials, or give hydra.sweeper.study_name=NAME for a new study",
            study.study_name,
            finished,
            n_trials,
        )


def _launch(
    launch: Launch,
    storage: BaseStorage,
    study: optuna.Study,
    trials: list[optuna.Trial],
    overrides: list[list[str]],
    job_idx: int,
) -> Sequence[JobReturn]:
    """One batch through the launcher, its trials beating meanwhile; a lost batch is a failed result each."""
    # The sweep beats for its trials too: a job's own heartbeat starts only once it has loaded.
    with Heartbeat(storage, [trial_id(t) for t in trials]):
        try:
            return launch(overrides, job_idx)
        except KeyboardInterrupt:
            fail_interrupted(trials)
            raise
        except Exception as e:  # noqa: BLE001 - the launcher lost its batch, not the sweep its study
            # A Slurm job killed at its time limit (submitit's UncompletedJobError) or a Ray worker
            # that died raise here, for the whole batch: each of its trials fails, the sweep goes on.
            lost = f"the launcher lost this job's batch: {type(e).__name__}: {e}"
            log.warning("hydra/launcher lost a batch of %d jobs; %s", len(trials), lost)
            return [lost_job(lost)] * len(trials)


def _log_slots(slots: list[Slot], pool: bool) -> None:
    if len(slots) < 2:
        return
    devices = sorted({s.visible_devices for s in slots if s.visible_devices is not None})
    on = f"GPUs {', '.join(devices)}" if devices else "the CPU"
    threads = slots[0].threads
    log.info(
        "%d slots (%s), %d thread%s each, on %s",
        len(slots),
        "a pool: a trial starts as soon as one ends" if pool else "batches of n_jobs",
        threads,
        "" if threads == 1 else "s",
        on,
    )
