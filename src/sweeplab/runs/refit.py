"""A refit: a trial's recorded config for every labelled image and the epoch count where it peaked."""

from sweeplab.errors import SweeplabError
from sweeplab.protocol import Role, Tag
from sweeplab.runs.recorded import Recorded


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
