"""`sweeplab kaggle submit|record`: Kaggle scores onto a run, through Kaggle's API or read off by hand."""

import argparse

from sweeplab.cli import common
from sweeplab.cli.run_ids import resolve_run_id


def register(commands: common.Subparsers) -> None:
    parser = commands.add_parser("kaggle", help="Kaggle scores beside validation scores")
    kaggle_commands = parser.add_subparsers(dest="kaggle_command", required=True)
    submit = kaggle_commands.add_parser("submit", help="upload a run's submission, wait for its score")
    submit.add_argument("run_id")
    submit.add_argument("--competition", required=True, help="the competition's slug, e.g. dogs-vs-cats")
    submit.add_argument("--message", default="", help="submission description (the run id is appended)")
    submit.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the score")
    submit.add_argument("--poll-interval", type=float, default=10.0)
    record = kaggle_commands.add_parser("record", help="record a score read off the leaderboard")
    record.add_argument("run_id")
    record.add_argument("--public", type=float)
    record.add_argument("--private", type=float)
    for sub in (submit, record):
        sub.add_argument("--epoch", choices=("best", "last"), default="best", help="which submission file")
        sub.add_argument("--tracking-uri", help=common.TRACKING_URI_HELP)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Kaggle scores onto a run: submitted through Kaggle's API, or recorded by hand."""
    from sweeplab.kaggle.runs import record_scores
    from sweeplab.kaggle.submit import submit_run

    client = common.client(args)
    args.run_id = resolve_run_id(client, args.run_id)
    if args.kaggle_command == "submit":
        scores = submit_run(
            client, args.run_id, args.competition, args.message, args.epoch, args.timeout, args.poll_interval
        )
    else:
        scores = record_scores(client, args.run_id, args.public, args.private, args.epoch)
    print(f"run {args.run_id}: " + "  ".join(f"{k}={v:.4f}" for k, v in scores.items()))
    return 0
