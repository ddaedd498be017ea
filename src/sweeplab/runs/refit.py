"""`sweeplab refit`: a trial's config trained again on every labelled image, for its best epoch count."""

import logging
from pathlib import Path

from mlflow.tracking import MlflowClient

from sweeplab.errors import SweeplabError
from sweeplab.protocol import Role, Tag
from sweeplab.runs.recorded import Recorded, apply_overrides, load_recorded


def refit_overrides(recorded: Recorded) -> list[str]:
    """No validation, no folds, no subset, and the epochs where the trial's validation peaked."""
    best = recorded.tags.get(Tag.BEST_EPOCH)
    if best is None:
        raise SweeplabError(
            f"run {recorded.run_id} has no {Tag.BEST_EPOCH} tag (it stopped before its first epoch "
            "ended?): no epoch count to refit for; pass a finished trial's run"
        )
    return [
        "data.val_fraction=0",
        "data.folds=1",
        "data.fold=null",
        "data.train_subset=1.0",
        f"trainer.epochs={best}",
    ]


def refit(client: MlflowClient, run_id: str, overrides: list[str], output_dir: Path) -> str:
    """Train the refit (a new run tagged sweeplab.refit_of) and return its run id."""
    from sweeplab.training.job import run

    recorded = load_recorded(client, run_id)
    given = [*refit_overrides(recorded), *overrides]  # the user's own overrides win
    config = apply_overrides(recorded.config, given)
    config.tracking.uri = client.tracking_uri  # the refit lands beside the run it refits
    tags = {Tag.REFIT_OF: run_id, Tag.RERUN_OVERRIDES: " ".join(overrides)}
    if Tag.STUDY in recorded.tags:  # shown in `sweeplab compare --sweep STUDY`, beside its trial
        tags |= {Tag.STUDY: recorded.tags[Tag.STUDY], Tag.ROLE: Role.REFIT}
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # the epochs and the summary, as train.py
    run(config, output_dir=output_dir, overrides=given, tags=tags)
    (newest,) = client.search_runs(
        [client.get_run(run_id).info.experiment_id],
        f"tags.`{Tag.REFIT_OF}` = '{run_id}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return newest.info.run_id
