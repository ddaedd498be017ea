"""`sweeplab compare`: validation against Kaggle scores for every run, as a table and an HTML report."""

import argparse
from pathlib import Path

from sweeplab.cli import common


def register(commands: common.Subparsers) -> None:
    parser = commands.add_parser("compare", help="validation vs Kaggle scores of every run")
    parser.add_argument("experiment", nargs="?", default="demo", help="MLflow experiment (default: demo)")
    parser.add_argument("--sweep", metavar="STUDY", help="only this Optuna study's trials")
    parser.add_argument("--top", type=int, help="only the N best runs by validation score")
    parser.add_argument(
        "--out", help="folder for compare.html and compare.csv (default: compare/EXPERIMENT[-STUDY])"
    )
    parser.add_argument(
        "--log",
        action="store_true",
        help="also log the report to MLflow without --sweep: on the experiment's one comparison run",
    )
    parser.add_argument("--tracking-uri", help=common.TRACKING_URI_HELP)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Validation against Kaggle scores for every run of an experiment (or one sweep)."""
    from sweeplab.kaggle.report import compare

    client = common.client(args)
    # One folder per experiment (and study): comparing another does not overwrite this report.
    out = (
        Path(args.out)
        if args.out
        else Path("compare") / "-".join(filter(None, (args.experiment, args.sweep)))
    )
    print(compare(client, args.experiment, args.sweep, args.top, out, log=args.log))
    return 0
