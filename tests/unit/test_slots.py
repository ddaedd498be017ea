"""The sweep's slots: how many, on which devices, with how many threads; what a job is told of its slot."""

import pytest
from omegaconf import OmegaConf

from sweeplab.errors import ConfigError
from sweeplab.study.slots import Slot, plan_slots, slot_overrides, usable_cores

JOB = OmegaConf.create({"study": {}, "trainer": {"device": "auto"}, "hydra": {"launcher": {}}})


def sweeper(**changes):
    return OmegaConf.create({"n_jobs": 4, "devices": None, "trials_per_device": 1, **changes})


def test_slots_are_the_smallest_of_n_jobs_the_launchers_n_jobs_and_devices_x_trials_per_device():
    two_gpus = sweeper(n_jobs=8, devices=[0, 1], trials_per_device=2)
    slots = plan_slots(two_gpus, JOB, sequential=False)
    # Round robin: with 2 GPUs the first two slots own one each.
    assert [(s.index, s.visible_devices) for s in slots] == [(0, "0"), (1, "1"), (2, "0"), (3, "1")]
    assert {s.threads for s in slots} == {max(1, usable_cores() // 4)}
    launcher_says_3 = OmegaConf.merge(JOB, {"hydra": {"launcher": {"n_jobs": 3}}})
    assert len(plan_slots(sweeper(n_jobs=8), launcher_says_3, sequential=False)) == 3
    every_core = OmegaConf.merge(JOB, {"hydra": {"launcher": {"n_jobs": -1}}})  # joblib's "all cores"
    assert len(plan_slots(sweeper(n_jobs=2), every_core, sequential=False)) == 2
    assert len(plan_slots(sweeper(n_jobs=2), JOB, sequential=True)) == 1  # Hydra's basic launcher


def test_one_gpu_and_the_default_trials_per_device_give_one_slot_and_say_why(caplog):
    caplog.set_level("INFO")
    slots = plan_slots(sweeper(n_jobs=2, devices=[0]), JOB, sequential=False)
    assert slots == [Slot(0, "0", usable_cores(), device_index=0)]
    assert "1 slots, not hydra.sweeper.n_jobs=2: 1 GPU x hydra.sweeper.trials_per_device=1" in caplog.text


def test_a_job_is_told_its_slot_and_threads_and_joblib_its_device_by_name():
    slot = Slot(1, "3", 4, device_index=1)  # the sweep sees GPU 3 as its cuda:1
    assert slot_overrides(slot, pins_devices=True, job_cfg=JOB) == ["study.slot=1", "study.threads=4"]
    joblib = slot_overrides(slot, pins_devices=False, job_cfg=JOB)
    assert joblib == ["study.slot=1", "study.threads=4", "trainer.device=cuda:1"]
    chosen = OmegaConf.merge(JOB, {"trainer": {"device": "cpu"}})  # the user's choice stays
    assert "trainer.device=cuda:1" not in slot_overrides(slot, pins_devices=False, job_cfg=chosen)
    assert slot_overrides(slot, pins_devices=False, job_cfg=OmegaConf.create({})) == []  # not a sweeplab job


def test_trials_per_device_below_one_is_one_line():
    with pytest.raises(ConfigError, match=r"^hydra.sweeper.trials_per_device=0 must be at least 1$"):
        plan_slots(sweeper(devices=[0], trials_per_device=0), JOB, sequential=False)


def test_devices_count_the_gpus_this_process_sees_and_pin_the_physical_ones(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")  # Slurm gave this job GPUs 2 and 3
    slots = plan_slots(sweeper(n_jobs=2, devices=[0, 1]), JOB, sequential=False)
    assert [(s.visible_devices, s.device_index) for s in slots] == [("2", 0), ("3", 1)]
    with pytest.raises(
        ConfigError, match=r"sees 2 GPU\(s\) \(CUDA_VISIBLE_DEVICES=2,3\); use indices below 2$"
    ):
        plan_slots(sweeper(devices=[2]), JOB, sequential=False)
    with pytest.raises(ConfigError, match=r"must list GPU indices, e.g. \[0, 1\]"):
        plan_slots(sweeper(devices=["cpu"]), JOB, sequential=False)


def test_launchers_that_run_jobs_elsewhere_get_n_jobs_slots_and_choose_their_own_threads():
    slots = plan_slots(sweeper(n_jobs=8, devices=[0]), JOB, sequential=False, local=False)
    assert len(slots) == 8 and {(s.visible_devices, s.threads, s.device_index) for s in slots} == {
        (None,) * 3
    }
    assert slot_overrides(slots[3], pins_devices=False, job_cfg=JOB) == ["study.slot=3"]
    on_cpu = OmegaConf.merge(JOB, {"trainer": {"device": "cpu"}})  # CPU trials are not capped by GPUs
    assert len(plan_slots(sweeper(n_jobs=4), on_cpu, sequential=False)) == 4
