"""Every slot busy: the study loop's pool mode. The moment a trial ends its result is told and the next trial
is asked and launched into the free slot (sweeplab.study.slots.Pooled: hydra/launcher=pool, joblib).

The asking, telling and stopping rules are the study loop's own (sweeplab.study.loop.StudyLoop), so that a
pool and batches count n_trials, failures and the plateau alike.
"""

from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import TYPE_CHECKING

import optuna
from hydra.core.utils import JobReturn
from optuna.trial import TrialState

from sweeplab.errors import SweepFailed
from sweeplab.protocol import Attr
from sweeplab.study.optuna_compat import trial_id
from sweeplab.study.outcome import lost_job
from sweeplab.study.slots import Pooled, Slot, slot_overrides
from sweeplab.study.storage import Heartbeat

if TYPE_CHECKING:
    from sweeplab.study.loop import OnTrial, StudyLoop


class PoolRun:
    """One sweep's pool: the free slots, the running trials (by their job's future), the heartbeats."""

    def __init__(self, loop: "StudyLoop", pool: Pooled) -> None:
        self.loop, self.pool = loop, pool
        self.free: list[Slot] = list(loop.slots)
        self.running: dict[Future, tuple[optuna.Trial, Slot]] = {}
        self.beating: set[int] = set()  # the running trials' ids: the sweep beats for them
        self.asked: optuna.Trial | None = None  # asked, not yet launched: Ctrl-C may land in between
        self.pins_devices = bool(getattr(pool, "pins_devices", False))

    def run(self, study: optuna.Study, extra: list[str], on_trial: "OnTrial | None") -> optuna.Study:
        loop = self.loop
        self.pool.start(loop.slots)
        try:
            with Heartbeat(loop.opening.storage, self.beating):
                while True:
                    self._fill(study, extra)
                    if not self.running:
                        finished, elsewhere = loop.counts(study)
                        if loop.done(study, finished):
                            return study
                        loop.wait_for_others(elsewhere)  # the open trials run in other workers
                        optuna.storages.fail_stale_trials(study)
                        continue
                    ended = self._collect(study)
                    # The sampler has seen the results: the next trials start before MLflow mirrors them.
                    self._fill(study, extra)
                    for trial in ended if on_trial else ():
                        on_trial(study, study.get_trials(deepcopy=False)[trial.number])
        except SweepFailed:
            self._drain(study)  # as a batch does, the running trials finish and are told
            raise
        except KeyboardInterrupt:
            self.pool.interrupt()
            unlaunched = [self.asked] if self.asked is not None else []
            fail_interrupted([trial for trial, _ in self.running.values()] + unlaunched)
            raise
        finally:
            self.pool.shutdown()

    def _collect(self, study: optuna.Study) -> list[optuna.Trial]:
        """Wait for the first jobs to end; tell their results and free their slots."""
        done, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
        ended = []
        for future in sorted(done, key=lambda f: self.running[f][0].number):
            trial, slot = self.running[future]
            self.loop.tell(study, trial, _result_of(future), None)
            del self.running[future]  # after the tell: Ctrl-C during it still fails the trial
            self.beating.discard(trial_id(trial))
            self.free.append(slot)
            ended.append(trial)
        self.loop.failures.check()
        return ended

    def _drain(self, study: optuna.Study) -> None:
        """Wait for every running trial and tell it; nothing new starts."""
        for future in list(self.running):
            trial, _ = self.running[future]
            self.loop.tell(study, trial, _result_of(future), None)
            del self.running[future]

    def _fill(self, study: optuna.Study, extra: list[str]) -> None:
        """Ask a trial for each free slot while the study wants more, and launch it there."""
        loop = self.loop
        while self.free:
            finished, running_anywhere = loop.counts(study)
            if loop.done(study, finished) or loop.n_trials - finished - running_anywhere <= 0:
                return
            loop.waiting = False
            trials = loop.ask(study, 1)
            if not trials:
                return
            self.asked, slot = trials[0], self.free.pop(0)
            told = slot_overrides(slot, self.pins_devices, loop.job_cfg)
            overrides = loop.opening.trial_overrides(study, self.asked, loop.job_cfg, extra + told)
            self.beating.add(trial_id(self.asked))
            self.running[self.pool.submit(overrides, loop.job_idx, slot)] = (self.asked, slot)
            self.asked = None
            loop.job_idx += 1


def fail_interrupted(trials: list[optuna.Trial]) -> None:
    """Ctrl-C: its running trials are told FAIL now, not left RUNNING until grace_period passes, so that a
    resume re-runs them at once (a trial its job already told keeps its result)."""
    for trial in trials:
        if trial.storage.get_trial(trial_id(trial)).state.is_finished():
            continue
        trial.set_user_attr(Attr.REASON, "interrupted (Ctrl-C)")
        trial.study.tell(trial, state=TrialState.FAIL)


def _result_of(future: Future) -> JobReturn:
    """A pool's result; a future that raised (it should not) is a failed job, not a failed sweep."""
    error = future.exception()
    if error is None:
        return future.result()
    return lost_job(f"the launcher lost this job: {type(error).__name__}: {error}")
