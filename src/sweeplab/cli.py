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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sweeplab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    ui_parser = commands.add_parser("ui", help="browse and compare runs in the MLflow UI")
    ui_parser.add_argument("--store", default=str(DEFAULT_STORE), help="store folder (default: ./mlruns)")
    ui_parser.add_argument("--host", default="127.0.0.1")
    ui_parser.add_argument("--port", type=int, default=5000)
    ui_parser.set_defaults(handler=ui)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except SweeplabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
