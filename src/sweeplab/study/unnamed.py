"""Which stored study a sweep opens under which name, decided alone by every worker that runs the command.

Workers started together (several terminals, a Slurm array) must agree without talking to each other; the
jobs of a pool, joblib, RQ, submitit or Ray are handed the name by their sweep (`study.name=`) and derive
nothing. So a worker of an unnamed study
1. resumes the study this job already has for this search space and these directions: a default-named one
   whose recorded search space (the `sweeplab.search_space` attribute) and directions are these, keys in
   any order, or an earlier sweeplab's `<base>-<8 hex>` for them;
2. else takes the first of `readable`, `readable-<4 hex>`, `readable-<8 hex>` (naming.default_study_names:
   the hex from the search space, the same in every worker of it) that is free or already holds this search
   space. The storage's unique study name decides which worker creates a study; its creator records the
   search space in its next call, and a worker that finds the name taken waits for that record (up to
   CLAIM_WAIT_S) before deciding: the same search space joins, another moves on to the suffixed name. Two
   search spaces over the same keys thus get two studies, the second a suffix, however the workers race.
A study named by hydra.sweeper.study_name is that name, whatever it holds (the resume guards check it).
"""

import time
from collections.abc import Iterable

from optuna.exceptions import DuplicatedStudyError
from optuna.storages import BaseStorage
from optuna.study import StudyDirection

from sweeplab.protocol import Attr
from sweeplab.study.naming import hashed_study_name, is_default_name

CLAIM_WAIT_S = 30  # a creator records the search space in the call after creating: ms, seconds if locked
CLAIM_POLL_S = 0.1


def recorded_study(
    studies: Iterable, bases: list[str], keys: list[str], signature: str, ways: list[list[str]]
) -> tuple[str, str | None, list[str]] | None:
    """(name, the base it is an earlier sweeplab's hash of or None, its directions) of the stored study this
    search space resumes, or None. `studies`: the storage's (get_all_studies); `ways`: the directions it
    may have been made with (this sweep's first)."""
    earlier = {hashed_study_name(b, signature, d): b for b in bases for d in ways}
    found = []
    for study in studies:
        name = study.study_name
        directions = [d.name.lower() for d in study.directions]
        if name in earlier:
            found.append(
                (ways.index(directions) if directions in ways else 0, 1, name, earlier[name], directions)
            )
        elif (
            study.user_attrs.get(Attr.SEARCH_SPACE) == signature
            and directions in ways
            and any(is_default_name(name, b, keys) for b in bases)
        ):
            found.append((ways.index(directions), 0, name, None, directions))
    return min(found)[2:] if found else None  # this sweep's directions first, then today's names


def open_first(
    storage: BaseStorage, names: list[str], directions: list[StudyDirection], signature: str
) -> tuple[str, bool]:
    """(name, whether this worker created it): the first of `names` that is free or holds this search space
    and these directions; the last is taken whatever it holds (the resume guards refuse it then)."""
    for name in names[:-1]:
        created = _create(storage, name, directions, signature)
        if created or _holds(storage, name, directions, signature):
            return name, created
    return names[-1], _create(storage, names[-1], directions, signature)


def _create(storage: BaseStorage, name: str, directions: list[StudyDirection], signature: str) -> bool:
    """Whether this worker created the study `name` (and recorded its search space at once: others wait
    for it); False when it was there."""
    try:
        study_id = storage.create_new_study(directions, name)
    except DuplicatedStudyError:
        return False
    storage.set_study_user_attr(study_id, Attr.SEARCH_SPACE, signature)
    return True


def _holds(storage: BaseStorage, name: str, directions: list[StudyDirection], signature: str) -> bool:
    """Whether the study `name` is this search space's, once its creator has recorded what it holds."""
    study_id = storage.get_study_id_from_name(name)
    if storage.get_study_directions(study_id) != directions:
        return False
    deadline = time.monotonic() + CLAIM_WAIT_S
    while True:
        stored = storage.get_study_user_attrs(study_id).get(Attr.SEARCH_SPACE)
        # A study with trials and no record is not being created: a foreign one (or a creator that died).
        if stored is not None or storage.get_n_trials(study_id) or time.monotonic() > deadline:
            return stored == signature
        time.sleep(CLAIM_POLL_S)
