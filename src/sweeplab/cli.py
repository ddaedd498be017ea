"""The `sweeplab` command, and the clean exit for user mistakes shared with train.py."""

import argparse
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from sweeplab.errors import SweeplabError
from sweeplab.tracking import DEFAULT_STORE, artifact_root_for, default_tracking_uri


def exit_cleanly_on_user_error(task: Callable) -> Callable:
    """A single run prints a SweeplabError as one line and exits 2; in a sweep the job fails alone."""

    @functools.wraps(task)
    def wrapper(*args, **kwargs):
        try:
            return task(*args, **kwargs)
        except SweeplabError as e:
            if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
                raise  # the launcher records this job as failed and the sweep goes on
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)

    return wrapper


def ui(args: argparse.Namespace) -> int:
    """Start `mlflow ui` on the project's store, bound to loopback unless --host says otherwise."""
    store = Path(args.store)
    if not (store / "mlflow.db").is_file():
        print(
            f"error: no MLflow store at {store / 'mlflow.db'}; run `python train.py` first or pass --store",
            file=sys.stderr,
        )
        return 2
    uri = default_tracking_uri(store)
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--default-artifact-root",
        artifact_root_for(uri),
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    print(" ".join(command), flush=True)
    os.execvp(command[0], command)
    return 0  # not reached: exec replaced this process


def rerun(args: argparse.Namespace) -> int:
    """Run a recorded run again (a new run tagged with the one it reproduces) and compare the two."""
    from mlflow.tracking import MlflowClient

    from sweeplab.job import run
    from sweeplab.rerun import apply_overrides, best_trial_run, compare_runs, differences, load_recorded
    from sweeplab.tracking import resolve_tracking_uri

    if args.best and args.run_id and "=" in args.run_id:  # `rerun --best S key=value`: no RUN_ID given
        args.overrides, args.run_id = [args.run_id, *args.overrides], None
    if bool(args.run_id) == bool(args.best):
        print("error: give a RUN_ID or --best STUDY (not both)", file=sys.stderr)
        return 2
    uri = resolve_tracking_uri(args.tracking_uri)
    client = MlflowClient(uri)
    run_id = args.run_id or best_trial_run(args.best, args.storage)
    recorded = load_recorded(client, run_id)
    config = apply_overrides(recorded.config, args.overrides)
    config.tracking.uri = uri  # the rerun lands beside the run it reproduces
    found = differences(recorded)
    for line in found:
        print(f"warning: {line}", file=sys.stderr)
    if found and args.strict:
        print(
            f"error: --strict: {len(found)} difference(s) from run {run_id}; nothing was run", file=sys.stderr
        )
        return 2
    tags = {"sweeplab.rerun_of": run_id, "sweeplab.rerun_overrides": " ".join(args.overrides)}
    run(config, overrides=list(args.overrides), tags=tags)
    (newest,) = client.search_runs(
        [client.get_run(run_id).info.experiment_id],
        f"tags.`sweeplab.rerun_of` = '{run_id}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    new_id = newest.info.run_id
    table, identical = compare_runs(client, run_id, new_id)
    print(table)
    if args.overrides:
        verdict = "overrides given: differences are expected"
    else:
        verdict = "identical to the original" if identical else "DIFFERENT from the original"
    print(f"rerun {new_id} of {run_id}: {verdict}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sweeplab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    ui_parser = commands.add_parser("ui", help="browse and compare runs in the MLflow UI")
    ui_parser.add_argument("--store", default=str(DEFAULT_STORE), help="store folder (default: ./mlruns)")
    ui_parser.add_argument("--host", default="127.0.0.1")
    ui_parser.add_argument("--port", type=int, default=5000)
    ui_parser.set_defaults(handler=ui)
    rerun_parser = commands.add_parser("rerun", help="run a recorded run again and compare")
    rerun_parser.add_argument("run_id", nargs="?", help="the MLflow run to reproduce")
    rerun_parser.add_argument("overrides", nargs="*", help="key=value changes, e.g. trainer.epochs=10")
    rerun_parser.add_argument("--best", metavar="STUDY", help="rerun the best trial of this Optuna study")
    rerun_parser.add_argument("--storage", help="the study's storage (default: ./mlruns/optuna.db)")
    rerun_parser.add_argument(
        "--tracking-uri", help="the MLflow store (default: $MLFLOW_TRACKING_URI or ./mlruns)"
    )
    rerun_parser.add_argument(
        "--strict", action="store_true", help="refuse to run when code, data or packages differ"
    )
    rerun_parser.set_defaults(handler=rerun)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except SweeplabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
