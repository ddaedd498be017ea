"""`sweeplab ensemble`: runs' (or a study's top trials') probabilities averaged into one submission."""

import argparse
import sys
from pathlib import Path

from sweeplab.cli import common
from sweeplab.cli.register import add_register_options, check_register, register_made
from sweeplab.cli.run_ids import resolve_run_id
from sweeplab.errors import SweeplabError


def register(commands: common.Subparsers) -> None:
    parser = commands.add_parser("ensemble", help="average runs' predictions into one submission")
    parser.add_argument("run_ids", nargs="*", help="the runs to average (unique prefixes will do)")
    parser.add_argument(
        "--sweep",
        metavar="STUDY",
        help="this Optuna study's trials, selected greedily on validation (never below the best alone)",
    )
    parser.add_argument("--top", type=int, help="with --sweep: average the K best trials instead")
    parser.add_argument("--storage", help=common.STORAGE_HELP)
    parser.add_argument(
        "--weights", help="one non-negative weight per run, comma-separated, e.g. 2,1,1 (default: equal)"
    )
    parser.add_argument(
        "--rank", action="store_true", help="average ranks instead of probabilities (for ROC-AUC)"
    )
    parser.add_argument(
        "--epoch", choices=("best", "last"), default="best", help="which test predictions of each run"
    )
    parser.add_argument("--out", help="folder for the submission (default: outputs/DATE/TIME-ensemble)")
    parser.add_argument("--tracking-uri", help=common.TRACKING_URI_HELP)
    add_register_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Average the runs' probabilities, log the ensemble as a run and say how to submit it."""
    from sweeplab.kaggle.ensemble import ensemble
    from sweeplab.study.queries import top_trial_runs

    if bool(args.run_ids) == bool(args.sweep):
        raise SweeplabError("give RUN_IDs or --sweep STUDY [--top K] (not both)")
    if args.top is not None and (not args.sweep or args.top < 2):
        raise SweeplabError(
            "--top K takes --sweep STUDY and K >= 2 (without it the trials are selected greedily)"
        )
    check_register(args)
    if args.register and args.epoch != "best":
        raise SweeplabError(
            "--register takes the members' best epochs, whose models they logged: drop --epoch last"
        )
    client = common.client(args)
    if args.sweep:
        run_ids = top_trial_runs(args.sweep, args.storage, args.top)
    else:
        run_ids = [resolve_run_id(client, r) for r in args.run_ids]
    weights = _weights(args.weights)
    output_dir = Path(args.out) if args.out else common.outputs_dir("ensemble")
    method = "rank" if args.rank else "mean"
    select = bool(args.sweep) and args.top is None
    made = ensemble(
        client,
        run_ids,
        output_dir,
        method=method,
        weights=weights,
        epoch=args.epoch,
        select=select,
        require_model=bool(args.register),
    )
    for note in made.notes:
        print(note, file=sys.stderr if note.startswith("warning:") else sys.stdout)
    new_id, members = made.run_id, made.members
    shown = "  ".join(f"{k}={v:.4g}" for k, v in made.scores.items())
    print(
        f"ensemble {new_id} of {len(members)} runs ({', '.join(r[:8] for r in members)}): {shown}; "
        f"submission {output_dir / 'submission_best.csv'}; "
        f"send it with `sweeplab kaggle submit {new_id[:8]} --competition SLUG`"
    )
    if made.no_model:
        print(f"no MLflow model logged for the ensemble: {made.no_model}")
    register_made(args, client, new_id)
    return 0


def _weights(given: str | None) -> list[float] | None:
    """--weights 2,1,1 as numbers; how many and their signs are checked against the runs later."""
    if not given:
        return None
    try:
        return [float(w) for w in given.split(",")]
    except ValueError:
        raise SweeplabError(
            f"--weights {given}: give one number per run, comma-separated (e.g. 2,1,1)"
        ) from None
