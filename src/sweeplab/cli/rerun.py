"""`sweeplab rerun`: run a recorded MLflow run again from its own config and say whether it matched."""

import argparse
import sys

from sweeplab.cli import common
from sweeplab.errors import SweeplabError
from sweeplab.protocol import Tag


def register(commands: common.Subparsers) -> None:
    parser = commands.add_parser("rerun", help="run a recorded run again and compare")
    common.add_run_choice(
        parser, "rerun", "the MLflow run to reproduce (any unique prefix)", "trainer.epochs=10"
    )
    parser.add_argument(
        "--strict", action="store_true", help="refuse to run when code, data or packages differ"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run a recorded run again (a new run tagged with the one it reproduces) and compare the two."""
    from sweeplab.runs.recorded import apply_overrides, load_recorded
    from sweeplab.runs.rerun import compare_runs, differences

    client = common.client(args)
    run_id = common.chosen_run(args, client)
    recorded = load_recorded(client, run_id)
    config = apply_overrides(recorded.config, args.overrides)
    found = differences(recorded)
    for line in found:
        print(f"warning: {line}", file=sys.stderr)
    if found and args.strict:
        raise SweeplabError(f"--strict: {len(found)} difference(s) from run {run_id}; nothing was run")
    output_dir = common.outputs_dir("rerun", run_id)
    new_id = common.train_again(
        client,
        run_id,
        config,
        link=Tag.RERUN_OF,
        tags={Tag.RERUN_OVERRIDES: " ".join(args.overrides)},
        overrides=list(args.overrides),
        output_dir=output_dir,
    )
    print(f"outputs of the rerun (submissions, curves, model): {output_dir.resolve()}")
    table, identical = compare_runs(client, run_id, new_id)
    print(table)
    if args.overrides:
        verdict = "overrides given: differences are expected"
    else:
        verdict = "identical to the original" if identical else "DIFFERENT from the original"
    print(f"rerun {new_id} of {run_id}: {verdict}")
    return 0
