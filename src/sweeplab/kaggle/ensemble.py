"""Ensembles: the test probabilities of several runs averaged into one submission, logged as a run.

Every training run stores its test probabilities (best and last epoch) and its validation ones (out of
fold with folds); the ensemble averages both, so it gets a validation score on the rows every member
predicted as well as local Kaggle scores. Its artifacts carry a training run's names, so `sweeplab kaggle
submit` and `record` take it as they take any run.
"""

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from sweeplab.data import competition_root
from sweeplab.data.competition import Competition, read_competition
from sweeplab.errors import SweeplabError
from sweeplab.kaggle.ensemble_model import log_ensemble_model, member_models
from sweeplab.kaggle.ensemble_selection import Candidates, best_of, better, draggers, greedy_counts
from sweeplab.protocol import Artifact, Role, Tag
from sweeplab.runs.naming import MAX_NAME
from sweeplab.runs.predictions import (
    ValProbs,
    log_thresholds,
    read_test_probs,
    read_val_probs,
    write_test_probs,
    write_val_probs,
)
from sweeplab.runs.recorded import load_recorded
from sweeplab.runs.tracking import Tracker
from sweeplab.scoring.averaging import check_weights, combine
from sweeplab.scoring.metrics import leaderboard_metrics, validation_metrics
from sweeplab.scoring.solution import read_solution
from sweeplab.scoring.submission import Submission, SubmissionFormat, submission_format, write_submission
from sweeplab.scoring.thresholds import tune_thresholds


@dataclass
class Ensembled:
    """What `ensemble` made: its run, its scores, the runs it averaged, and what to tell the user."""

    run_id: str
    scores: dict[str, float]
    members: list[str]  # run ids
    notes: list[str]  # one line each: the selection made, or the members that drag the average down
    no_model: str | None  # why it logged no MLflow model (model/), or None: it did


@dataclass
class Member:
    run_id: str
    experiment: str
    tags: dict[str, str]
    config: DictConfig
    test: np.ndarray  # (test images, classes), test-id order
    ids: np.ndarray
    val: ValProbs | None  # None: trained without validation (a refit)


def load_member(client: MlflowClient, run_id: str, epoch: str) -> Member:
    """A run's recorded config and stored probabilities; refused when it has none."""
    try:
        role = client.get_run(run_id).data.tags.get(Tag.ROLE)
    except MlflowException:
        role = None  # load_recorded says which store lacks it
    if role == Role.ENSEMBLE:
        raise SweeplabError(
            f"run {run_id[:8]} is an ensemble: an ensemble's members are training or refit runs "
            f"(its own are in its tag {Tag.ENSEMBLE_OF})"
        )
    recorded = load_recorded(client, run_id)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            probs, ids = read_test_probs(
                client.download_artifacts(run_id, Artifact.TEST_PROBS.format(epoch=epoch), tmp)
            )
        except (MlflowException, OSError) as e:
            raise SweeplabError(
                f"run {run_id} has no {Artifact.TEST_PROBS.format(epoch=epoch)} (recorded before sweeplab "
                "stored probabilities?): `sweeplab rerun` it first"
            ) from e
        try:
            val = read_val_probs(client.download_artifacts(run_id, Artifact.VAL_PROBS, tmp))
        except (MlflowException, OSError):
            val = None  # trained without validation (a refit)
    experiment = client.get_experiment(client.get_run(run_id).info.experiment_id).name
    return Member(run_id, experiment, recorded.tags, recorded.config, probs, ids, val)


def check_members(members: list[Member]) -> None:
    """One competition, one test set, one metric: refused before anything is recorded."""
    if len(members) < 2:
        raise SweeplabError(f"an ensemble needs at least 2 runs, got {len(members)}")
    first = members[0]
    for m in members[1:]:
        if m.tags.get(Tag.DATA_FINGERPRINT) != first.tags.get(Tag.DATA_FINGERPRINT):
            raise SweeplabError(
                f"runs {first.run_id[:8]} and {m.run_id[:8]} are from different competitions (data "
                "fingerprints differ: other files, or files changed since): an ensemble averages one "
                "competition's predictions"
            )
        if m.ids.shape != first.ids.shape or (m.ids != first.ids).any() or m.test.shape != first.test.shape:
            raise SweeplabError(
                f"runs {first.run_id[:8]} and {m.run_id[:8]} predicted different test ids: "
                "they cannot be averaged"
            )
        if m.config.data.metric != first.config.data.metric:
            raise SweeplabError(
                f"runs {first.run_id[:8]} and {m.run_id[:8]} are scored by different metrics "
                f"({first.config.data.metric}, {m.config.data.metric})"
            )


def combine_validation(members: list[Member], method: str, weights: list[float] | None) -> ValProbs | None:
    """The members' validation probabilities on the rows all of them predicted, combined."""
    aligned = _aligned(members)
    if aligned is None:
        return None
    probs, rows, labels = aligned
    return ValProbs(combine(probs, method, weights, labels.ndim == 2), rows, labels)


def _aligned(members: list[Member]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray] | None:
    """(each member's validation probabilities, the rows all of them predicted, their labels), or None
    when a member has none (a refit) or they share no row."""
    if any(m.val is None for m in members):
        return None
    common = members[0].val.rows
    for m in members[1:]:
        common = np.intersect1d(common, m.val.rows)
    if not len(common):
        return None
    labels = _at(members[0].val.rows, members[0].val.labels, common)
    return [_at(m.val.rows, m.val.probs, common) for m in members], common, labels


def _at(rows: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """values (one per row of `rows`) at the rows `wanted`, in that order."""
    order = np.argsort(rows)
    return values[order[np.searchsorted(rows, wanted, sorter=order)]]


def ensemble(
    client: MlflowClient,
    run_ids: list[str],
    output_dir: Path,
    *,
    method: str = "mean",
    weights: list[float] | None = None,
    epoch: str = "best",
    select: bool = False,
    require_model: bool = False,
) -> Ensembled:
    """Average the runs' probabilities (with `select`, those greedy selection picks), write the submission
    and log it as a run, with an MLflow model of its members' models when they have one (refused before
    anything is recorded when `require_model` and they cannot)."""
    members = [load_member(client, r, epoch) for r in run_ids]
    check_members(members)
    check_weights(weights, len(members))
    first = members[0]
    competition = read_competition(competition_root(first.config.data), first.config.data)
    if list(competition.test_ids) != first.ids.tolist():
        raise SweeplabError(
            f"the competition folder {competition.root} now has other test ids than run "
            f"{first.run_id[:8]} predicted: its files changed since"
        )
    metric = str(first.config.data.metric)
    if select:
        members, weights, notes = _select(members, method, metric)
    else:
        notes = _dragging(members, method, weights, metric)
    answer = submission_format(
        competition, metric, first.config.data.get("submission_format"), first.config.data.get("top_k", 5)
    )
    test = combine([m.test for m in members], method, weights, competition.multilabel)
    val = combine_validation(members, method, weights)
    thresholds = _thresholds(members, val, metric, answer.top_k) if competition.multilabel else None
    notes += _validation_notes(members, val, epoch)
    submission = Submission.of(competition, answer)
    metrics = validation_metrics(val.labels, val.probs, metric, submission, thresholds) if val else {}
    if competition.solution_path is not None:
        solution = read_solution(competition.solution_path, competition)
        metrics |= leaderboard_metrics(solution, metric, submission, test, metrics, thresholds)
    tracker = Tracker(client.tracking_uri, first.experiment)
    name = ensemble_name(members, method + (", greedy selection" if select else ""))
    with tempfile.TemporaryDirectory(prefix="sweeplab-ensemble-") as tmp:
        models, no_model = member_models(client, members, weights, epoch, Path(tmp))
        if no_model and require_model:
            raise SweeplabError(f"the ensemble cannot be registered: {no_model}")
        with tracker.run(name, _tags(members, (method, weights, select), answer)):
            tracker.log_params({"data.metric": metric, "data/val_images": len(val.rows) if val else 0})
            _write_outputs(tracker, output_dir, competition, answer, thresholds, (test, val))
            if thresholds is not None:  # one model: its best epoch is its last
                log_thresholds(tracker, output_dir, competition.classes, metric, thresholds, thresholds)
            tracker.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)}, step=1)
            if models:
                shown = None if thresholds is None else [float(t) for t in thresholds]
                no_model = log_ensemble_model(tracker, models, method, answer, shown)
    return Ensembled(tracker.run_id, metrics, [m.run_id for m in members], notes, no_model)


def _validation_notes(members: list[Member], val: ValProbs | None, epoch: str) -> list[str]:
    """Why the ensemble has no validation score, or what its validation score is of."""
    refits = [m.run_id[:8] for m in members if m.val is None]
    if val is None and refits:
        return [f"no validation score: {', '.join(refits)} trained without validation (a refit)"]
    if val is not None and epoch == "last":
        return [
            "val/* scores the members' best epochs (only their validation predictions are stored); "
            "the submission and kaggle/* are their last epochs'"
        ]
    return []


def _thresholds(members: list[Member], val: ValProbs | None, metric: str, top_k: int) -> np.ndarray:
    """A multi-label ensemble's per-class thresholds: tuned on its own validation predictions (the
    average's probabilities are not any member's), else the members' recorded ones averaged."""
    if val is not None:
        return tune_thresholds(val.labels, val.probs, metric, top_k)
    recorded = [json.loads(m.tags[Tag.THRESHOLDS]) for m in members if Tag.THRESHOLDS in m.tags]
    if not recorded:
        return np.full(members[0].test.shape[1], 0.5)
    return np.mean(recorded, axis=0)


def _candidates(members: list[Member], method: str, metric: str) -> Candidates | None:
    """The members' validation probabilities on common rows, mixed as this ensemble mixes them."""
    aligned = _aligned(members)
    if aligned is None:
        return None
    probs, _, labels = aligned
    multilabel = labels.ndim == 2
    return Candidates(probs, labels, metric, lambda p, w: combine(p, method, w, multilabel))


def _select(members: list[Member], method: str, metric: str) -> tuple[list[Member], list[float], list[str]]:
    """Greedy selection's members, their weights (times selected) and the line that says what it did."""
    candidates = _candidates(members, method, metric)
    if candidates is None:
        raise SweeplabError(
            "greedy selection needs validation predictions on common rows from every run (a refit has "
            "none): name the runs to average instead"
        )
    counts = greedy_counts(candidates)
    chosen = [int(i) for i in np.flatnonzero(counts)]
    shown = ", ".join(members[i].run_id[:8] + (f" x{counts[i]}" if counts[i] > 1 else "") for i in chosen)
    score = candidates.score(counts)
    chance = [members[i].run_id[:8] for i in range(len(members)) if candidates.at_chance(i)]
    notes = (
        [f"{len(chance)} runs at chance on validation, never selected: {', '.join(chance)}"] if chance else []
    )
    if len(chosen) == 1:
        notes.append(
            f"greedy selection kept one run, {shown} ({metric} {score:.4g} on validation): no other run "
            "improved it, so the ensemble is that run's predictions"
        )
    else:
        _, best = best_of(chosen, candidates.alone, metric)
        notes.append(
            f"greedy selection from {len(members)} runs: {shown}; {metric} {score:.4g} on validation, "
            f"its best member alone {best:.4g}"
        )
    return [members[i] for i in chosen], [float(counts[i]) for i in chosen], notes


def _dragging(members: list[Member], method: str, weights: list[float] | None, metric: str) -> list[str]:
    """One warning line when the average scores below its best member on validation, naming the members
    that drag it down."""
    candidates = _candidates(members, method, metric)
    if candidates is None:
        return []
    w = np.ones(len(members)) if weights is None else np.asarray(weights, dtype=np.float64)
    whole = candidates.score(w)
    best, alone = best_of([int(i) for i in np.flatnonzero(w)], candidates.alone, metric)
    if not better(alone, whole, metric):
        return []
    dragging = ", ".join(members[i].run_id[:8] for i in draggers(candidates, w)) or "none alone"
    return [
        f"warning: the average scores {metric} {whole:.4g} on validation, below its best member "
        f"{members[best].run_id[:8]} ({alone:.4g}); dragging it down: {dragging}. Drop "
        "them, or let `sweeplab ensemble --sweep STUDY` (no --top) select members greedily"
    ]


def ensemble_name(members: list[Member], how: str) -> str:
    """`ensemble of 3 (mean): planet-lr-batch_size #1 #4 #7`, the members by their trial numbers when they
    are trials of one study, else by their run ids."""
    studies = {m.tags.get(Tag.STUDY) for m in members}
    numbers = [m.tags.get(Tag.TRIAL) for m in members]
    if len(studies) == 1 and None not in studies and None not in numbers:
        which = f"{studies.pop()} " + " ".join(f"#{n}" for n in numbers)
    else:
        which = " ".join(m.run_id[:8] for m in members)
    return f"ensemble of {len(members)} ({how}): {which}"[:MAX_NAME]


def _tags(
    members: list[Member], mixing: tuple[str, list[float] | None, bool], answer: SubmissionFormat
) -> dict[str, str]:
    """`mixing`: the method, the weights and whether greedy selection chose them."""
    method, weights, select = mixing
    first = members[0]
    how = ", greedy selection" if select else "" if weights is None else ", weighted"
    tags = {
        Tag.ROLE: Role.ENSEMBLE,
        Tag.ENSEMBLE_OF: ",".join(m.run_id for m in members),
        Tag.ENSEMBLE_METHOD: method + how,
        Tag.BEST_EPOCH: "1",  # one "epoch": what `sweeplab kaggle record` logs its scores at
        Tag.DATA_FINGERPRINT: first.tags.get(Tag.DATA_FINGERPRINT, ""),
        Tag.SUBMISSION_FORMAT: answer.kind,
    }
    if weights is not None:
        tags[Tag.ENSEMBLE_WEIGHTS] = ",".join(f"{w:g}" for w in weights)
    studies = {m.tags.get(Tag.STUDY) for m in members}
    if len(studies) == 1 and None not in studies:  # shown in `sweeplab compare --sweep STUDY`
        tags[Tag.STUDY] = studies.pop()
    return tags


def _write_outputs(
    tracker: Tracker,
    folder: Path,
    competition: Competition,
    answer: SubmissionFormat,
    thresholds: np.ndarray | None,
    predictions: tuple[np.ndarray, ValProbs | None],
) -> None:
    """The submission (at the thresholds, multi-label) and the probabilities (test, validation) under a
    training run's artifact names."""
    test, val = predictions
    (folder / "predictions").mkdir(parents=True, exist_ok=True)
    for name in ("best", "last"):  # one model: its best epoch is its last
        path = write_submission(folder / f"submission_{name}.csv", competition, test, answer, thresholds)
        tracker.log_artifact(path, "submissions")
        path = folder / Artifact.TEST_PROBS.format(epoch=name)
        tracker.log_artifact(write_test_probs(path, test, competition.test_ids), "predictions")
    if val is not None:
        path = write_val_probs(folder / Artifact.VAL_PROBS, val.probs, val.rows, val.labels)
        tracker.log_artifact(path, "predictions")
