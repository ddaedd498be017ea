"""Questions asked of a study by the commands: its best trial's run, its top trials' runs."""

import optuna

from sweeplab.errors import SweeplabError
from sweeplab.protocol import Attr
from sweeplab.study.naming import resolve_study_name
from sweeplab.study.storage import open_storage


def best_trial_run(study_name: str, storage: str | None) -> str:
    """The MLflow run of a study's best trial."""
    try:
        study = _load_study(study_name, storage)
        best = study.best_trial
    except ValueError as e:
        raise SweeplabError(f"study {study_name!r} has no completed trial to rerun ({e})") from e
    run_id = best.user_attrs.get(Attr.RUN)
    if run_id is None:
        raise SweeplabError(f"best trial {best.number} of study {study_name!r} has no MLflow run recorded")
    return run_id


def top_trial_runs(study_name: str, storage: str | None, top: int | None) -> list[str]:
    """The MLflow runs of a study's `top` best completed trials (all with None), best first."""
    study = _load_study(study_name, storage)
    if len(study.directions) > 1:
        raise SweeplabError(f"study {study_name!r} has several objectives: name the runs to average")
    sign = -1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1
    done = [
        t for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)) if Attr.RUN in t.user_attrs
    ]
    if not done:
        raise SweeplabError(f"study {study_name!r} has no completed trial with an MLflow run")
    return [t.user_attrs[Attr.RUN] for t in sorted(done, key=lambda t: sign * t.value)[:top]]


def _load_study(study_name: str, storage: str | None) -> optuna.Study:
    opened = open_storage(storage)
    names = optuna.get_all_study_names(opened)
    # The printed name, or the job's name when one study (one search space) carries it.
    name = resolve_study_name(study_name, names) or study_name
    try:
        return optuna.load_study(study_name=name, storage=opened)
    except KeyError as e:
        raise SweeplabError(
            f"no study {study_name!r} in {storage or 'mlruns/optuna.db'}; {existing(names)}; "
            "or pass --storage for another store"
        ) from e


def existing(names: list[str], where: str = "its studies", shown: int = 10) -> str:
    """The studies there are, for a 'no study' line: their names, or that there are none."""
    if not names:
        return "there is no study there yet"
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{where}: {', '.join(sorted(names)[:shown])}{more}"
