"""`sweeplab ui`: the MLflow UI on the project's store, with a link to each experiment's runs."""

import argparse
import os
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient

from sweeplab.cli.common import Subparsers
from sweeplab.errors import SweeplabError
from sweeplab.runs.tracking import (
    DEFAULT_STORE,
    artifact_root_for,
    default_tracking_uri,
    run_url,
    set_runs_view,
)
from sweeplab.scoring.orientation import lower_is_better


def register(commands: Subparsers) -> None:
    parser = commands.add_parser("ui", help="browse and compare runs in the MLflow UI")
    parser.add_argument("--store", default=str(DEFAULT_STORE), help="store folder (default: ./mlruns)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Start `mlflow ui` on the project's store, bound to loopback unless --host says otherwise."""
    store = Path(args.store)
    if not (store / "mlflow.db").is_file():
        raise SweeplabError(
            f"no MLflow store at {store / 'mlflow.db'}; run `python train.py` first or pass --store"
        )
    uri = default_tracking_uri(store)
    base = f"http://{args.host}:{args.port}"
    print(f"MLflow UI on {store / 'mlflow.db'} at {base} (Ctrl-C stops it); the runs of each experiment:")
    for name, url in experiment_urls(uri, base):
        print(f"  {name}: {url}")
    command = [
        *(sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri),
        *("--registry-store-uri", uri, "--default-artifact-root", artifact_root_for(uri)),
        *("--host", args.host, "--port", str(args.port)),
        # One worker: a UI for one user on a 2-core machine does not need MLflow's default of 4 processes,
        # and one stops at once on Ctrl-C.
        *("--workers", "1", "--uvicorn-opts", "--log-level warning"),
    ]
    os.environ["PYTHONWARNINGS"] = "ignore"  # MLflow's deprecation warnings are not the user's business
    # No job runner and its 7 queue consumers (GenAI scoring and trace archival): nothing sweeplab uses.
    os.environ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    sys.stdout.flush()
    os.execvp(command[0], command)
    return 0  # not reached: exec replaced this process


def experiment_urls(uri: str, base: str) -> list[tuple[str, str]]:
    """(name, URL of its runs table) for every experiment with runs, newest first; sets the table's view."""
    client = MlflowClient(uri)
    urls = []
    for experiment in client.search_experiments(order_by=["last_update_time DESC"]):
        if experiment.name == "Default" and not client.search_runs([experiment.experiment_id], max_results=1):
            continue
        newest = client.search_runs([experiment.experiment_id], max_results=1)
        metric = newest[0].data.params.get("data.metric", "accuracy") if newest else "accuracy"
        # Experiments made before sweeplab set the view get it; its order follows the competition metric.
        set_runs_view(client, experiment.experiment_id, lower_is_better(metric))
        urls.append((experiment.name, run_url(base, experiment.experiment_id)))
    return urls
