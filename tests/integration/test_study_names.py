"""Unnamed studies: named after the experiment and the swept keys, found by their recorded search space, and
agreed on by workers that start together without talking to each other (sweeplab.study.unnamed)."""

import threading

import optuna
import pytest
from omegaconf import OmegaConf

from helpers.study import sweeper_cfg
from sweeplab.protocol import Attr
from sweeplab.study.naming import is_default_name, readable_name, short_names
from sweeplab.study.opening import StudyOpening
from sweeplab.study.unnamed import open_first

SPACE = {"optimizer.lr": "tag(log, interval(1e-4, 1e-1))", "trainer.batch_size": "choice(16, 32)"}
JOB = OmegaConf.create({"name": "planet"})


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["optimizer.lr", "trainer.batch_size", "trainer.epochs"], "planet-lr-batch_size-epochs"),
        (["optimizer.lr", "scheduler.lr"], "planet-optimizer.lr-scheduler.lr"),  # a shared last part
        (["+model.drop-rate", "model"], "planet-drop_rate-model"),  # `-` parts the name: made `_`
        ([], "planet"),  # nothing swept (a custom_search_space only)
    ],
)
def test_readable_name(keys, expected):
    assert readable_name("planet", keys) == expected
    assert is_default_name(expected, "planet", keys) and is_default_name(f"{expected}-3f2a", "planet", keys)
    assert not is_default_name(f"{expected}-extra", "planet", keys) or not keys


def test_short_names_of_the_swept_keys():
    assert short_names(["optimizer.lr", "trainer.batch_size"]) == ["lr", "batch_size"]


def opening(tmp_path, params=SPACE, **changes) -> StudyOpening:
    return StudyOpening(sweeper_cfg(tmp_path, params=params, **{"study_name": None, **changes}), JOB, [])


def test_workers_started_together_open_one_study_and_another_range_gets_a_suffix(tmp_path):
    # Every worker decides its names before any has created the study, as workers starting together do.
    first, second = opening(tmp_path), opening(tmp_path)
    wider = opening(tmp_path, params={**SPACE, "trainer.batch_size": "choice(16, 32, 64)"})
    assert first.open().study_name == second.open().study_name == "planet-lr-batch_size"
    assert first.created and not second.created
    other = wider.open().study_name
    assert other.startswith("planet-lr-batch_size-") and len(other) == len("planet-lr-batch_size-") + 4
    # Each comes back to its own study, the keys listed in either order.
    again = opening(tmp_path, params=dict(reversed(list(SPACE.items()))))
    assert again.study_name == "planet-lr-batch_size" and again.open().study_name == "planet-lr-batch_size"
    assert opening(tmp_path, params={**SPACE, "trainer.batch_size": "choice(16, 32, 64)"}).names == [other]
    assert opening(tmp_path, study_name="mine").open().study_name == "mine"  # the user's name wins


def test_a_worker_waits_for_the_creator_to_record_the_search_space(tmp_path):
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}")
    directions = [optuna.study.StudyDirection.MINIMIZE]
    study_id = storage.create_new_study(directions, "planet-x")  # created, not yet recorded
    later = threading.Timer(0.3, storage.set_study_user_attr, (study_id, Attr.SEARCH_SPACE, "{other}"))
    later.start()
    assert open_first(storage, ["planet-x", "planet-x-3f2a"], directions, "{mine}") == ("planet-x-3f2a", True)
    later.join()
    assert open_first(storage, ["planet-x", "planet-x-3f2a"], directions, "{other}") == ("planet-x", False)
