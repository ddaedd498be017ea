"""What `sweeplab compare` says of each run beside its scores: the study's swept keys as the first columns
(short names: lr, batch_size), the other params that differ, and refit and ensemble rows by their role.

Keys that do not differ are left out: across the study's trials with --sweep (a refit's val_fraction=0 or
an ensemble's missing params do not make a study's constants differ), across the runs listed without.
"""

import ast
import re

from mlflow.entities import Run

from sweeplab.protocol import Role, Tag
from sweeplab.study.naming import short_names

# Params that do not change what is trained (and the data counts, which follow from the data).
HIDDEN_PARAMS = (
    "data.root",
    "data.cache_dir",
    "data.num_workers",
    "tracking.",
    "study.",
    "trainer.progress",
    "data/",
)
# The study's parent run records its search space as `key=Distribution(...) key=...`, in the study's order.
SHOWN_MEMBERS = 4  # an ensemble's members named in its row; the CSV's run ids have them all
SEARCHED_KEY = re.compile(r"(?:^| )([^\s=]+)=\w+Distribution\(")


def short(value: str) -> str:
    """A param value at 4 significant digits: [0.75, 1.3333333] and [0.75, 1.3333333333333333] are one."""
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
    if isinstance(parsed, float):
        return f"{parsed:.4g}"
    if isinstance(parsed, list | tuple):
        return "[" + ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in parsed) + "]"
    return value


def swept_keys(parent: Run | None, trials: list[Run]) -> list[str]:
    """The study's searched keys: in its search space's order (its parent run's record), then any other key
    a trial was sampled on (a custom_search_space's)."""
    recorded = SEARCHED_KEY.findall(parent.data.tags.get(Tag.SEARCH_SPACE, "")) if parent else []
    sampled = sorted(
        {
            k[len(Tag.OPTUNA_PARAM_PREFIX) :]
            for r in trials
            for k in r.data.tags
            if k.startswith(Tag.OPTUNA_PARAM_PREFIX)
        }
    )
    return list(dict.fromkeys([*recorded, *sampled]))


def swept_value(run: Run, key: str) -> str:
    """The run's value of a swept key: its param (a refit's own), else the trial's sampled value, else -."""
    value = run.data.params.get(key, run.data.tags.get(Tag.OPTUNA_PARAM_PREFIX + key))
    return "-" if value is None else short(value)


def varying_keys(runs: list[Run], leave_out: list[str] = ()) -> list[str]:
    """The params whose values differ between `runs` (a run recorded by hand may hold only a few)."""
    keys = sorted({k for r in runs for k in r.data.params if not k.startswith(HIDDEN_PARAMS)})
    return [
        k
        for k in keys
        if k not in leave_out and len({short(r.data.params[k]) for r in runs if k in r.data.params}) > 1
    ]


def params_text(run: Run, keys: list[str]) -> str:
    """`lr=0.001 batch_size=32`: each key by its short name, where the run has it."""
    labels = dict(zip(keys, short_names(keys), strict=True))
    return " ".join(f"{labels[k]}={short(run.data.params[k])}" for k in keys if k in run.data.params)


def role_name(run: Run, by_id: dict[str, Run]) -> str:
    """What a row is: `#3` for a trial, `refit of #3`, `ensemble of 3 (#1 #4 #7)`; empty for a plain run."""
    tags = run.data.tags
    role = tags.get(Tag.ROLE)
    if role == Role.TRIAL and Tag.TRIAL in tags:
        return f"#{tags[Tag.TRIAL]}"
    if role == Role.REFIT:
        return f"refit of {_trial(tags.get(Tag.REFIT_OF, ''), by_id)}"
    if role == Role.ENSEMBLE:
        members = [_trial(m, by_id) for m in tags.get(Tag.ENSEMBLE_OF, "").split(",") if m]
        more = " …" if len(members) > SHOWN_MEMBERS else ""
        return f"ensemble of {len(members)} ({' '.join(members[:SHOWN_MEMBERS])}{more})"
    return ""


def _trial(run_id: str, by_id: dict[str, Run]) -> str:
    """A run as a row names it: its trial number when it is a trial here, else its id's first 8."""
    run = by_id.get(run_id)
    number = run.data.tags.get(Tag.TRIAL) if run is not None else None
    return f"#{number}" if number is not None else run_id[:8]
