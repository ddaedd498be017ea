"""A refit: a trial's recorded config for every labelled image and the epoch count where it peaked, and
its check against the trial (the agreement of their submissions).

What a refit replays of its trial: the learning rate per epoch up to the trial's best epoch (the recorded
config is resolved, so a cosine's T_max stays the trial's run length, not the refit's), its tuned
thresholds and its seed; what differs is the data (every labelled image) and so the steps per epoch.
"""

import tempfile
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from sweeplab.errors import SweeplabError
from sweeplab.protocol import Artifact, Metric, Role, Tag
from sweeplab.runs.naming import MAX_NAME
from sweeplab.runs.recorded import Recorded
from sweeplab.runs.submission_agreement import Agreement, submission_agreement


def refit_overrides(recorded: Recorded) -> list[str]:
    """No validation, no folds, no subset, and the epochs where the trial's validation peaked; for a
    multi-label trial, the per-class thresholds its best epoch tuned (a refit has nothing to tune on)."""
    best = recorded.tags.get(Tag.BEST_EPOCH)
    if best is None:
        raise SweeplabError(
            f"run {recorded.run_id} has no {Tag.BEST_EPOCH} tag (it stopped before its first epoch "
            "ended?): no epoch count to refit for; pass a finished trial's run"
        )
    thresholds = recorded.tags.get(Tag.THRESHOLDS)
    return [
        "data.val_fraction=0",
        "data.folds=1",
        "data.fold=null",
        "data.train_subset=1.0",
        f"trainer.epochs={best}",
        *([f"data.thresholds={thresholds.replace(' ', '')}"] if thresholds else []),
    ]


def refit_tags(recorded: Recorded, overrides: list[str]) -> dict[str, str]:
    """Besides sweeplab.refit_of: the user's overrides, and the trial's study with the refit role."""
    tags = {Tag.RERUN_OVERRIDES: " ".join(overrides)}
    if Tag.STUDY in recorded.tags:  # shown in `sweeplab compare --sweep STUDY`, beside its trial
        tags |= {Tag.STUDY: recorded.tags[Tag.STUDY], Tag.ROLE: Role.REFIT}
    return tags


def refit_name(trial_name: str) -> str:
    """The refit's run name: what it is of (its overrides would say `data.val_fraction=0 ...`)."""
    return f"refit of {trial_name}"[:MAX_NAME]


def refit_agreement(client: MlflowClient, trial_id: str, refit_id: str) -> Agreement:
    """The refit's submission_best.csv against its trial's, as the two runs logged them; logged on the
    refit as refit/agreement. A trial without one, or other test ids: one line, nothing logged."""
    kind = client.get_run(refit_id).data.tags.get(Tag.SUBMISSION_FORMAT, "label")
    path = Artifact.SUBMISSION.format(epoch="best")
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for role, run_id in (("trial", trial_id), ("refit", refit_id)):
            try:
                files.append(Path(client.download_artifacts(run_id, path, f"{tmp}/{role}")))
            except (MlflowException, OSError) as e:
                raise SweeplabError(
                    f"the {role} run {run_id[:8]} has no {path} artifact: no agreement to measure; "
                    "compare the two submissions by eye, or refit a trial that finished"
                ) from e
        agreement = submission_agreement(*files, kind)
    client.log_metric(refit_id, Metric.REFIT_AGREEMENT, agreement.value)
    return agreement
