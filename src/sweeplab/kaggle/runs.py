"""Kaggle scores written onto an MLflow run, under the same names whichever way they came."""

import time

from mlflow.entities import Metric, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from sweeplab.errors import SweeplabError
from sweeplab.protocol import Tag


def submission_epoch(client: MlflowClient, run_id: str, epoch: str) -> int:
    """The epoch whose submission file `best` or `last` names."""
    try:
        run = client.get_run(run_id)
    except MlflowException as e:
        raise SweeplabError(
            f"run {run_id} is not in the MLflow store {client.tracking_uri}; pass --tracking-uri"
        ) from e
    if epoch == "best" and Tag.BEST_EPOCH in run.data.tags:
        return int(run.data.tags[Tag.BEST_EPOCH])
    steps = [
        m.step
        for m in client.get_metric_history(run_id, "val/score")
        or client.get_metric_history(run_id, "val/acc")
    ]
    if not steps:
        raise SweeplabError(f"run {run_id} has no per-epoch validation metrics: was it logged by sweeplab?")
    return max(steps)


def record_scores(
    client: MlflowClient,
    run_id: str,
    public: float | None,
    private: float | None = None,
    epoch: str = "best",
    source: str = "manual",
    tags: dict[str, str] | None = None,
) -> dict[str, float]:
    """Log kaggle/public, kaggle/private and gap/val_minus_public at the submitted epoch; return them."""
    if public is None and private is None:
        raise SweeplabError("give --public and/or --private")
    step = submission_epoch(client, run_id, epoch)
    val = {m.step: m.value for m in client.get_metric_history(run_id, "val/score")}
    metrics = {}
    if public is not None:
        metrics["kaggle/public"] = float(public)
        if step in val:
            metrics["gap/val_minus_public"] = val[step] - float(public)
    if private is not None:
        metrics["kaggle/private"] = float(private)
    now = int(time.time() * 1000)
    all_tags = {Tag.KAGGLE_SOURCE: source, Tag.KAGGLE_EPOCH: str(step), **(tags or {})}
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, now, step) for k, v in metrics.items()],
        tags=[RunTag(k, v) for k, v in all_tags.items()],
    )
    return metrics
