"""`sweeplab compare`'s rows: validation against Kaggle scores for every run of an experiment (or study)."""

from dataclasses import dataclass, field

from mlflow.tracking import MlflowClient

from sweeplab.errors import SweeplabError
from sweeplab.kaggle.agreement import describe, rank_agreement
from sweeplab.kaggle.shown_params import (
    params_text,
    role_name,
    swept_keys,
    swept_value,
    varying_keys,
)
from sweeplab.protocol import Role, Tag
from sweeplab.scoring.orientation import lower_is_better
from sweeplab.study.naming import resolve_study_name, short_names
from sweeplab.study.queries import existing

OVERFIT_WINDOW = 3  # epochs: val still rising while the test score falls over the last three


@dataclass
class Row:
    run_id: str
    name: str  # #3 for a trial, `refit of #3`, `ensemble of 3 (#1 #4 #7)`; else the run's name
    params: str  # the other parameters that differ (with --sweep: between the study's trials)
    best_val: float | None
    final_val: float | None
    public: float | None  # at the best-validation epoch (the submission_best.csv a user would send)
    private: float | None
    gap: float | None  # best_val - public
    best_val_epoch: int | None
    best_public_epoch: int | None
    overfits: bool | None  # None: not enough per-epoch test scores to tell
    pruned: bool  # a study's trial stopped early by the pruner: its scores are from fewer epochs
    kind: str = ""  # trial | refit | ensemble (sweeplab.role); empty for a plain run
    swept: dict[str, str] = field(default_factory=dict)  # with --sweep: the study's keys, by short name


def history(client: MlflowClient, run_id: str, key: str) -> dict[int, float]:
    """A metric's values by epoch."""
    return {m.step: m.value for m in client.get_metric_history(run_id, key)}


def overfits(
    val: dict[int, float], test: dict[int, float], window: int = OVERFIT_WINDOW, sign: int = 1
) -> bool | None:
    """Val still improving while the test score worsens over the last `window` epochs (sign -1: a metric
    where lower is better)."""
    epochs = sorted(set(val) & set(test))[-window:]
    if len(epochs) < window:
        return None
    first, last = epochs[0], epochs[-1]
    return sign * val[last] > sign * val[first] and sign * test[last] < sign * test[first]


def _best_epoch(scores: dict[int, float], sign: int) -> int:
    return max(scores, key=lambda epoch: sign * scores[epoch])


def _sign(run) -> int:
    """1 where higher is better for the run's competition metric, -1 where lower is (log_loss)."""
    return -1 if lower_is_better(run.data.params.get("data.metric", "accuracy")) else 1


def _row(client: MlflowClient, run) -> Row:
    run_id = run.info.run_id
    val = history(client, run_id, "val/score") or history(client, run_id, "val/acc")
    public = history(client, run_id, "kaggle/public")
    private = history(client, run_id, "kaggle/private")
    sign = _sign(run)
    # Without validation (a refit), the submission's epoch: the last.
    best_epoch = _best_epoch(val, sign) if val else _int(run.data.tags.get(Tag.BEST_EPOCH))
    at_best = public.get(best_epoch) if len(public) > 1 else next(iter(public.values()), None)
    private_at_best = private.get(best_epoch) if len(private) > 1 else next(iter(private.values()), None)
    return Row(
        run_id=run_id,
        name=run.info.run_name or "",
        params="",  # known once the runs listed are
        best_val=val[best_epoch] if val else None,
        final_val=val[max(val)] if val else None,
        public=at_best,
        private=private_at_best,
        gap=val[best_epoch] - at_best if val and at_best is not None else None,
        best_val_epoch=best_epoch,
        best_public_epoch=_best_epoch(public, sign) if len(public) > 1 else None,
        overfits=overfits(val, public, sign=sign),
        pruned=run.data.tags.get(Tag.PRUNED) == "true",
        kind=run.data.tags.get(Tag.ROLE, ""),
    )


def _int(value: str | None) -> int | None:
    return None if value is None else int(value)


def collect(client: MlflowClient, experiment: str, study: str | None = None, top: int | None = None):
    """(rows best-first, parent run id or None, per-run histories for the plots)."""
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        names = [e.name for e in client.search_experiments()]
        raise SweeplabError(f"no experiment {experiment!r} in {client.tracking_uri}; experiments: {names}")
    runs = [
        r
        for r in client.search_runs([exp.experiment_id], "attributes.status = 'FINISHED'")
        if r.data.tags.get(Tag.ROLE) not in (Role.STUDY, Role.COMPARISON, Role.LR_FIND)
    ]
    parent = None
    if study is not None:
        parents = client.search_runs([exp.experiment_id], f"tags.`{Tag.ROLE}` = '{Role.STUDY}'")
        by_name = {r.data.tags.get(Tag.STUDY): r.info.run_id for r in parents}
        # The printed name, or the job's name when one study (one search space) carries it.
        name = resolve_study_name(study, [n for n in by_name if n])
        if name is None:
            raise SweeplabError(
                f"no study {study!r} in experiment {experiment!r}; "
                f"{existing([n for n in by_name if n], 'studies there')}"
            )
        runs = [r for r in runs if r.data.tags.get(Tag.STUDY) == name]
        parent = by_name[name]
    if not runs:
        raise SweeplabError(f"no finished runs to compare in experiment {experiment!r}")
    sign = _sign(runs[0])  # one experiment, one competition: best first, its metric's way
    rows = sorted(
        (_row(client, r) for r in runs),
        key=lambda row: -sign * row.best_val if row.best_val is not None else float("inf"),
    )
    rows = rows[:top] if top else rows
    _describe(rows, runs, client.get_run(parent) if parent else None)
    return rows, parent


def _describe(rows: list[Row], runs: list, parent) -> None:
    """Each row's swept values, other differing params and role name. With a study: its swept keys first,
    the params that differ between its trials after; without: the params that differ between those listed."""
    by_id = {r.info.run_id: r for r in runs}
    listed = [by_id[row.run_id] for row in rows]
    swept: list[str] = []
    basis = listed
    if parent is not None:
        basis = [r for r in runs if r.data.tags.get(Tag.ROLE) == Role.TRIAL] or listed
        swept = swept_keys(parent, basis)
    varying = varying_keys(basis, leave_out=swept)
    for row, run in zip(rows, listed, strict=True):
        row.swept = {n: swept_value(run, k) for k, n in zip(swept, short_names(swept), strict=True)}
        row.params = params_text(run, varying)
        if parent is not None or row.kind in (Role.REFIT, Role.ENSEMBLE):  # trial numbers: one study's
            row.name = role_name(run, by_id) or row.name


def agreement_lines(client: MlflowClient, rows: list[Row]) -> list[str]:
    """Rank agreement of the study's finished (unpruned) trials' val with public and private scores."""
    trials = [r for r in rows if r.kind == Role.TRIAL and not r.pruned]
    scored = [r for r in trials if r.best_val is not None and r.public is not None]
    metric = client.get_run(scored[0].run_id).data.params.get("data.metric") if scored else None
    found = rank_agreement(
        [r.best_val for r in scored],
        [r.public for r in scored],
        [r.private for r in scored],
        higher_is_better=not lower_is_better(metric or "accuracy"),
    )
    return describe(found, [r.run_id[:8] for r in scored], len(scored))


def comparison_run(client: MlflowClient, experiment: str) -> str:
    """The experiment's one `comparison` run: made by the first `compare --log`, reused after."""
    exp = client.get_experiment_by_name(experiment)
    found = client.search_runs([exp.experiment_id], f"tags.`{Tag.ROLE}` = '{Role.COMPARISON}'", max_results=1)
    if found:
        return found[0].info.run_id
    run_id = client.create_run(
        exp.experiment_id, run_name="comparison", tags={Tag.ROLE: Role.COMPARISON}
    ).info.run_id
    client.set_terminated(run_id)
    return run_id
