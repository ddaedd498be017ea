"""`sweeplab register`: a run's MLflow model as a version in the Model Registry, with an alias."""

import argparse

from sweeplab.cli import common
from sweeplab.cli.run_ids import resolve_run_id

ALIAS_HELP = "the alias moved to the new version (default: champion)"


def add_register_options(parser: argparse.ArgumentParser) -> None:
    """--register NAME and --alias: what refit and ensemble take to register the run they make."""
    parser.add_argument(
        "--register", metavar="NAME", help="register the new run's model as a version of NAME"
    )
    parser.add_argument("--alias", default="champion", help=ALIAS_HELP)


def check_register(args: argparse.Namespace) -> None:
    """Before refit or ensemble records anything: the name --register gives, and the alias."""
    from sweeplab.runs.registry import check_name

    if args.register is not None:
        check_name(args.register, args.alias)


def register_made(args: argparse.Namespace, client, run_id: str, move_alias: bool = True) -> None:
    """After refit or ensemble: register the run they made, when --register asked for it; move_alias
    False records the version and leaves the alias where it was (a refit under its agreement floor)."""
    from sweeplab.runs.registry import describe, register_run

    if args.register:
        registered = register_run(client, run_id, args.register, args.alias, move_alias)
        print(describe(registered, client.tracking_uri))


def register(commands: common.Subparsers) -> None:
    parser = commands.add_parser("register", help="a run's model as a version in the Model Registry")
    parser.add_argument("run_id", help="the run whose model to register (a unique prefix will do)")
    parser.add_argument("name", help="the registered model's name, e.g. cactus-cnn")
    parser.add_argument("--alias", default="champion", help=ALIAS_HELP)
    parser.add_argument("--tracking-uri", help=common.TRACKING_URI_HELP)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sweeplab.runs.registry import describe, register_run

    client = common.client(args)
    registered = register_run(client, resolve_run_id(client, args.run_id), args.name, args.alias)
    print(describe(registered, client.tracking_uri))
    return 0
