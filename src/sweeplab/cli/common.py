"""What the commands share: the help of shared flags, the MLflow store, the chosen run, the outputs folder."""

import argparse
import logging
import time
from pathlib import Path

from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from sweeplab.cli.run_ids import resolve_run_id
from sweeplab.errors import SweeplabError

Subparsers = argparse._SubParsersAction  # what add_subparsers returns; argparse has no public name for it
TRACKING_URI_HELP = "the MLflow store (default: $MLFLOW_TRACKING_URI or ./mlruns)"
STORAGE_HELP = "the study's storage (default: ./mlruns/optuna.db)"


def client(args: argparse.Namespace) -> MlflowClient:
    """The MLflow store named by --tracking-uri, else $MLFLOW_TRACKING_URI, else ./mlruns."""
    from sweeplab.runs.tracking import check_tracking_server, resolve_tracking_uri

    check_tracking_server(args.tracking_uri, "--tracking-uri ")
    uri = resolve_tracking_uri(args.tracking_uri)
    return MlflowClient(uri)


def add_run_choice(parser: argparse.ArgumentParser, verb: str, run_help: str, example: str) -> None:
    """RUN_ID or --best STUDY, key=value overrides, and the stores: what rerun and refit both take."""
    parser.add_argument("run_id", nargs="?", help=run_help)
    parser.add_argument("overrides", nargs="*", help=f"key=value changes, e.g. {example}")
    parser.add_argument("--best", metavar="STUDY", help=f"{verb} the best trial of this Optuna study")
    parser.add_argument("--storage", help=STORAGE_HELP)
    parser.add_argument("--tracking-uri", help=TRACKING_URI_HELP)


def chosen_run(args: argparse.Namespace, client: MlflowClient) -> str:
    """The run a rerun or refit starts from: RUN_ID (any unique prefix) or the best trial of --best STUDY."""
    from sweeplab.study.queries import best_trial_run

    if args.best and args.run_id and "=" in args.run_id:  # `rerun --best S key=value`: no RUN_ID given
        args.overrides, args.run_id = [args.run_id, *args.overrides], None
    if bool(args.run_id) == bool(args.best):
        raise SweeplabError("give a RUN_ID or --best STUDY (not both)")
    return resolve_run_id(client, args.run_id) if args.run_id else best_trial_run(args.best, args.storage)


def model_uri(client: MlflowClient, given: str) -> str:
    """A model as a command names it: models:/NAME@ALIAS as is, a run (any unique id prefix) as
    runs:/ID/model."""
    from sweeplab.runs.model_source import run_model_uri

    if given.startswith("models:/"):
        return given
    return run_model_uri(client, resolve_run_id(client, given))


def outputs_dir(kind: str, run_id: str | None = None) -> Path:
    """Where a command's outputs go (Hydra's outputs/DATE/TIME), named by what made them."""
    suffix = f"{kind}-{run_id[:8]}" if run_id else kind
    return Path("outputs") / time.strftime("%Y-%m-%d") / time.strftime(f"%H-%M-%S-{suffix}")


def train_again(
    client: MlflowClient,
    run_id: str,
    config: DictConfig,
    *,
    link: str,
    tags: dict[str, str],
    overrides: list[str],
    output_dir: Path,
    name: str | None = None,
) -> str:
    """Train a recorded run's config as a new run beside it, tagged `link`=run_id; the new run's id.
    `name`: the new run's name, else what its overrides change."""
    from sweeplab.training.job import run

    config.tracking.uri = client.tracking_uri  # the new run lands beside the one it came from
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # the epochs and the summary, as train.py
    run(config, output_dir=output_dir, overrides=overrides, tags={link: run_id, **tags}, name=name)
    (newest,) = client.search_runs(
        [client.get_run(run_id).info.experiment_id],
        f"tags.`{link}` = '{run_id}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return newest.info.run_id
