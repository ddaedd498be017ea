"""`sweeplab refit`: a trial's config trained again on every labelled image, for its best epoch count, and
checked against the trial before it counts (the agreement of their submissions)."""

import argparse
from dataclasses import dataclass

from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from sweeplab.cli import common
from sweeplab.cli.register import add_register_options, check_register, register_made
from sweeplab.errors import ConfigError, SweeplabError
from sweeplab.protocol import Metric, Tag

FLOOR_HELP = (
    "the least refit/agreement with the trial's submission for --register to move the alias "
    "(default: 0.7 for labels and tags, a share of rows; 0.75 for probabilities, a rank correlation)"
)


def register(commands: common.Subparsers) -> None:
    parser = commands.add_parser("refit", help="train a trial's config on all labelled images")
    common.add_run_choice(
        parser, "refit", "the trial run to refit (a unique prefix will do)", "trainer.seed=1"
    )
    add_register_options(parser)
    parser.add_argument("--min-agreement", type=float, metavar="FLOOR", help=FLOOR_HELP)
    parser.add_argument(
        "--force", action="store_true", help="with --register: move the alias even under the floor"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """A trial's config on every labelled image for its best epoch count: a submission, logged as a run."""
    from sweeplab.runs.recorded import apply_overrides, load_recorded
    from sweeplab.runs.refit import refit_name, refit_overrides, refit_tags

    check_register(args)
    check_floor(args)
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
        name=refit_name(client.get_run(run_id).info.run_name or run_id[:8]),
    )
    check = _check(args, client, run_id, new_id)
    scores = "; ".join(s for s in (_scores(client, new_id, run_id), check.said) if s)
    print(
        f"refit {new_id} of {run_id}: submission {output_dir / 'submission_best.csv'}"
        + (f"; {scores}" if scores else "")
        + f"; send it with `sweeplab kaggle submit {new_id[:8]} --competition SLUG`"
    )
    if check.note:
        print(check.note)
    register_made(args, client, new_id, move_alias=not check.held)
    if check.held:
        print(check.held)
    return 0


def check_floor(args: argparse.Namespace) -> None:
    """Before anything trains: a floor that is a share or a correlation, and --force with --register."""
    if args.min_agreement is not None and not 0 <= args.min_agreement <= 1:
        raise ConfigError(
            f"--min-agreement {args.min_agreement:g}: give a floor in [0, 1] (a share of rows, or a rank "
            "correlation for probabilities), e.g. --min-agreement 0.7"
        )
    if args.force and not args.register:
        raise SweeplabError(
            "--force moves the alias to the version --register makes: add --register NAME, or drop --force"
        )


@dataclass(frozen=True)
class Check:
    """What the refit's check says beside its scores, the lines after, and whether the alias stays."""

    said: str = ""
    note: str = ""  # the agreement not measured, or under the floor
    held: str = ""  # why --register leaves the alias where it is: said after the version it made


def _check(args: argparse.Namespace, client: MlflowClient, trial_id: str, refit_id: str) -> Check:
    """refit/agreement logged on the refit; under the floor a warning, and with --register (without
    --force) the alias stays. Not measurable (no trial submission, other ids): one line, nothing logged,
    and the alias moves as it did before there was a check: nothing says the refit is wrong."""
    from sweeplab.runs.refit import refit_agreement

    try:
        found = refit_agreement(client, trial_id, refit_id)
    except SweeplabError as e:
        return Check(note=f"{Metric.REFIT_AGREEMENT} not logged: {e}")
    floor = found.default_floor if args.min_agreement is None else args.min_agreement
    said = f"{Metric.REFIT_AGREEMENT}={found.value:.3f} with the trial ({found.measure}; floor {floor:g})"
    if found.value >= floor:
        return Check(said)
    warning = (
        f"warning: refit {refit_id[:8]} agrees with its trial {trial_id[:8]} at {found.value:.3f}, under the "
        f"floor {floor:g} (--min-agreement): look at both submissions before you send this one"
    )
    if not args.register or args.force:
        return Check(said, warning)
    held = (
        f"alias {args.alias} not moved: refit/agreement {found.value:.3f} is under the floor {floor:g}; once "
        f"checked, `sweeplab register {refit_id[:8]} {args.register}` moves it (or refit with --force)"
    )
    return Check(said, warning, held)


def _scores(client: MlflowClient, refit_id: str, trial_id: str) -> str:
    """The refit's Kaggle scores, each beside the trial's at its best epoch (what its submission was), and
    the trial's val/score there: a refit has none, and without a solution file it is all there is."""
    metrics = client.get_run(refit_id).data.metrics
    best = client.get_run(trial_id).data.tags.get(Tag.BEST_EPOCH, "")
    shown = []
    for key in (Metric.KAGGLE_PUBLIC, Metric.KAGGLE_PRIVATE, Metric.VAL_SCORE):
        trial = {m.step: m.value for m in client.get_metric_history(trial_id, key)}
        at_best = trial.get(int(best)) if best.isdigit() else None
        if key in metrics:
            shown.append(f"{key}={metrics[key]:.4g}" + ("" if at_best is None else f" (trial {at_best:.4g})"))
        elif at_best is not None:
            shown.append(f"trial {key}={at_best:.4g} at epoch {best}")
    return "  ".join(shown)
