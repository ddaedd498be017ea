"""The private Optuna APIs the study needs, each in one function with the reason.

Checked against Optuna 5.0; pyproject pins optuna<6 for them.
"""

import optuna


def trial_id(trial: optuna.Trial | optuna.trial.FrozenTrial) -> int:
    """The storage's id of a trial (heartbeats and a job's handle need it). Optuna keeps it private; the
    public way (storage.get_trial_id_from_study_id_trial_number) costs two queries per call."""
    return trial._trial_id


def trial_handle(study: optuna.Study, trial_id: int) -> optuna.Trial:
    """A live Trial for a trial that the sweep process asked: the job reports its epochs through it.
    Optuna offers no public constructor for a trial asked by another process (study.ask makes new ones)."""
    return optuna.trial.Trial(study, trial_id)
