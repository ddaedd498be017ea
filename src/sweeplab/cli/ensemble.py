"""`sweeplab ensemble`: runs' (or a study's top trials') probabilities averaged into one submission."""

import argparse
from pathlib import Path

from sweeplab.cli import common
from sweeplab.cli.run_ids import resolve_run_id
from sweeplab.errors import SweeplabError


def register(commands: common.Subparsers) -> None:
    parser = commands.add_parser("ensemble", help="average runs' predictions into one submission")
    parser.add_argument("run_ids", nargs="*", help="the runs to average (unique prefixes will do)")
    parser.add_argument("--sweep", metavar="STUDY", help="the best trials of this Optuna study")
    parser.add_argument("--top", type=int, default=3, help="with --sweep: how many (default: 3)")
    parser.add_argument("--storage", help=common.STORAGE_HELP)
    parser.add_argument("--weights", help="one weight per run, comma-separated (default: equal)")
    parser.add_argument(
        "--rank", action="store_true", help="average ranks instead of probabilities (for ROC-AUC)"
    )
    parser.add_argument(
        "--epoch", choices=("best", "last"), default="best", help="which test predictions of each run"
    )
    parser.add_argument("--out", help="folder for the submission (default: outputs/DATE/TIME-ensemble)")
    parser.add_argument("--tracking-uri", help=common.TRACKING_URI_HELP)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Average the runs' probabilities, log the ensemble as a run and say how to submit it."""
    from sweeplab.kaggle.ensemble import ensemble
    from sweeplab.study.queries import top_trial_runs

    if bool(args.run_ids) == bool(args.sweep):
        raise SweeplabError("give RUN_IDs or --sweep STUDY --top K (not both)")
    client = common.client(args)
    if args.sweep:
        run_ids = top_trial_runs(args.sweep, args.storage, args.top)
    else:
        run_ids = [resolve_run_id(client, r) for r in args.run_ids]
    weights = [float(w) for w in args.weights.split(",")] if args.weights else None
    output_dir = Path(args.out) if args.out else common.outputs_dir("ensemble")
    method = "rank" if args.rank else "mean"
    new_id, scores = ensemble(client, run_ids, output_dir, method=method, weights=weights, epoch=args.epoch)
    shown = "  ".join(f"{k}={v:.4f}" for k, v in scores.items())
    print(
        f"ensemble {new_id} of {len(run_ids)} runs ({', '.join(r[:8] for r in run_ids)}): {shown}; "
        f"submission {output_dir / 'submission_best.csv'}; "
        f"send it with `sweeplab kaggle submit {new_id[:8]} --competition SLUG`"
    )
    return 0
