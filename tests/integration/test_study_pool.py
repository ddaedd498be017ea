"""The study loop as a pool of slots, in process: a real Optuna storage, jobs on threads (ThreadSlots)."""

import _thread
import time

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from helpers.study import ThreadSlots, launcher, sphere, sweeper_cfg
from sweeplab.errors import ConfigError, SweepFailed
from sweeplab.protocol import Attr
from sweeplab.study.loop import StudyLoop
from sweeplab.study.plateau import Plateau

LONG_S, SHORT_S = 1.0, 0.05


def long_first(params):
    """Trial 0 is slow (a long-epochs trial), every other one quick (pruned early)."""
    time.sleep(LONG_S if float(params["x"]) == LONG_MARK else SHORT_S)
    return sphere(params)


LONG_MARK = 1.5


def enqueue_long(study_loop: StudyLoop) -> None:
    study = study_loop.opening.open()
    study.enqueue_trial({"x": LONG_MARK, "y": 0})


def test_a_pool_starts_the_next_trial_the_moment_a_slot_is_free(tmp_path):
    slots = ThreadSlots(long_first)
    loop = StudyLoop(sweeper_cfg(tmp_path, n_trials=8), OmegaConf.create({}), None, [], pool=slots)
    enqueue_long(loop)
    study = loop.run()
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 8 and loop.job_idx == 8
    (_, long_slot, long_start, long_end), *others = sorted(slots.spans)
    during = [s for s in others if long_start < s[2] < long_end]
    # The other slot ran trial after trial while the long one trained (7 of 0.05 s fit in its 1 s; 4 leave
    # room for a busy machine's slower loop); batches would have run none.
    assert len(during) >= 4 and {s[1] for s in during} == {1 - long_slot}
    assert sorted(s[0] for s in slots.spans) == list(range(8)) and slots.shut


@pytest.mark.slow  # ~1.4 s: a pool of real processes
def test_batched_true_waits_for_each_batchs_slowest_trial(tmp_path):
    spans = []

    def launch(batch, idx):
        started = time.perf_counter()
        results = launcher(long_first)(batch, idx)
        spans.append((started, time.perf_counter(), len(batch)))
        return results

    cfg = sweeper_cfg(tmp_path, n_trials=4, batched=True)
    loop = StudyLoop(cfg, OmegaConf.create({}), launch, [], pool=ThreadSlots(long_first))
    enqueue_long(loop)
    loop.run()
    assert [n for *_, n in spans] == [2, 2]  # today's batches, the pool unused
    assert spans[1][0] >= spans[0][1]


def test_failures_in_a_pool_follow_max_failure_rate(tmp_path):
    def objective(params):
        if float(params["x"]) > 0:
            raise RuntimeError("boom")
        return sphere(params)

    cfg = sweeper_cfg(tmp_path, n_trials=6, max_failure_rate=1.0)
    study = StudyLoop(cfg, OmegaConf.create({}), None, [], pool=ThreadSlots(objective)).run()
    states = [t.state for t in study.trials]
    assert len(states) == 6 and TrialState.FAIL in states  # failures count toward n_trials at 1.0
    assert all("boom" in t.user_attrs[Attr.REASON] for t in study.trials if t.state == TrialState.FAIL)


@pytest.mark.slow  # ~1.8 s: a pool of real processes
def test_a_failure_rate_stop_lets_the_running_trials_finish_and_tells_them(tmp_path):
    def objective(params):
        if float(params["x"]) == LONG_MARK:
            time.sleep(0.5)
            return 1.0
        raise RuntimeError("boom")

    loop = StudyLoop(
        sweeper_cfg(tmp_path, n_trials=4), OmegaConf.create({}), None, [], pool=ThreadSlots(objective)
    )
    enqueue_long(loop)
    with pytest.raises(SweepFailed, match="more than hydra.sweeper.max_failure_rate=0.0"):
        loop.run()
    study = optuna.load_study(study_name="loop", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert study.trials[0].state == TrialState.COMPLETE  # the long trial finished, as in a batch
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]


@pytest.mark.slow  # ~1.6 s: a pool of real processes
def test_ctrl_c_in_a_pool_fails_the_running_trials_and_stops_every_slot(tmp_path):
    calls = []

    def objective(params):
        calls.append(params)
        if len(calls) == 3:
            time.sleep(0.2)  # the sweep is waiting for its trials, as it is most of the time
            _thread.interrupt_main()  # Ctrl-C while the other slot's trial is running
        time.sleep(0.6)
        return sphere(params)

    slots = ThreadSlots(objective)
    loop = StudyLoop(sweeper_cfg(tmp_path, n_trials=10), OmegaConf.create({}), None, [], pool=slots)
    with pytest.raises(KeyboardInterrupt):
        loop.run()
    assert slots.interrupted and slots.shut
    study = optuna.load_study(study_name="loop", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed and all(t.user_attrs[Attr.REASON] == "interrupted (Ctrl-C)" for t in failed)


def test_a_study_stops_on_a_plateau_and_says_why(tmp_path):
    values = iter([5.0, 4.0, 3.95, 3.99, 3.92, 1.0, 1.0])

    def objective(params):
        return next(values)

    cfg = sweeper_cfg(tmp_path, n_trials=20, n_jobs=1, patience=3, min_delta=0.1)
    loop = StudyLoop(cfg, OmegaConf.create({}), launcher(objective), [], parallel=False)
    study = loop.run()
    # 4.0 is the best by more than 0.1; 3.95, 3.99 and 3.92 are not better by more than 0.1.
    assert len(study.trials) == 5
    assert loop.stop_reason.startswith("stopped early: 3 finished trials in a row did not beat trial 1's 4")


def finished(study, value, noise=None, state=TrialState.COMPLETE):
    attrs = {} if noise is None else {Attr.NOISE: noise}
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    study.add_trial(
        optuna.trial.create_trial(
            params={"x": 0.5},
            distributions=dist,
            value=value if state == TrialState.COMPLETE else None,
            state=state,
            user_attrs=attrs,
            intermediate_values={} if state == TrialState.COMPLETE else {1: value},
        )
    )


def test_plateau_min_delta_defaults_to_the_best_trials_noise_and_pruned_trials_count():
    cfg = OmegaConf.create({"patience": 2, "min_delta": None})
    plateau = Plateau.from_config(cfg, ["maximize"])
    study = optuna.create_study(direction="maximize")
    finished(study, 0.80, noise=0.02)
    finished(study, 0.81)  # within the best's noise (0.02): not better
    assert plateau.reason(study) is None
    finished(study, 0.5, state=TrialState.PRUNED)
    assert "did not beat trial 0's 0.8 by more than 0.02 (its noise)" in plateau.reason(study)
    finished(study, 0.9, noise=0.01)  # better by more than the noise: the count starts again
    assert plateau.reason(study) is None


@pytest.mark.parametrize(
    "changes, directions, message",
    [
        ({"patience": 0}, ["minimize"], "hydra.sweeper.patience=0 must be at least 1"),
        ({"min_delta": 0.1}, ["minimize"], "hydra.sweeper.min_delta needs hydra.sweeper.patience"),
        ({"patience": 3}, ["minimize", "maximize"], "stops a single-objective study; this one has 2"),
    ],
)
def test_plateau_bad_input_is_one_line(changes, directions, message):
    cfg = OmegaConf.create({"patience": None, "min_delta": None, **changes})
    with pytest.raises(ConfigError, match=message) as e:
        Plateau.from_config(cfg, directions)
    assert "\n" not in str(e.value)
