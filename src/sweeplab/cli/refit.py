"""`sweeplab refit`: a trial's config trained again on every labelled image, for its best epoch count."""

import argparse

from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from sweeplab.cli import common
from sweeplab.cli.register import add_register_options, check_register, register_made
from sweeplab.protocol import Tag


def register(commands: common.Subparsers) -> None:
    parser = commands.add_parser("refit", help="train a trial's config on all labelled images")
    common.add_run_choice(
        parser, "refit", "the trial run to refit (a unique prefix will do)", "trainer.seed=1"
    )
    add_register_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """A trial's config on every labelled image for its best epoch count: a submission, logged as a run."""
    from sweeplab.runs.recorded import apply_overrides, load_recorded
    from sweeplab.runs.refit import refit_overrides, refit_tags

    check_register(args)
    client = common.client(args)
    run_id = common.chosen_run(args, client)
    output_dir = common.outputs_dir("refit", run_id)
    recorded = load_recorded(client, run_id)
    given = [*refit_overrides(recorded), *args.overrides]  # the user's own overrides win
    if args.register and OmegaConf.select(recorded.config, "tracking.log_model") is False:
        given.append("tracking.log_model=true")  # --register needs the refit's model
    new_id = common.train_again(
        client,
        run_id,
        apply_overrides(recorded.config, given),
        link=Tag.REFIT_OF,
        tags=refit_tags(recorded, args.overrides),
        overrides=given,
        output_dir=output_dir,
    )
    scores = _scores(client, new_id)
    print(
        f"refit {new_id} of {run_id}: submission {output_dir / 'submission_best.csv'}"
        + (f"; {scores}" if scores else "")
        + f"; send it with `sweeplab kaggle submit {new_id[:8]} --competition SLUG`"
    )
    register_made(args, client, new_id)
    return 0


def _scores(client: MlflowClient, run_id: str) -> str:
    metrics = client.get_run(run_id).data.metrics
    return "  ".join(f"{k}={metrics[k]:.4g}" for k in ("kaggle/public", "kaggle/private") if k in metrics)
