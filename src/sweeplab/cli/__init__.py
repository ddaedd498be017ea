"""sweeplab: browse, compare, rerun, refit, ensemble, register, predict with, export and submit the runs
`python train.py` records."""

import argparse
import os
import sys

from sweeplab.cli import cache, compare, ensemble, export, kaggle, predict, refit, register, rerun, ui
from sweeplab.errors import SweeplabError

# Each module owns its command's parser (register) and its run(args); `sweeplab --help` keeps this order.
COMMANDS = (ui, rerun, refit, ensemble, register, predict, export, kaggle, compare, cache)


def main(argv: list[str] | None = None) -> int:
    # The commands read a few small artifacts (config.yaml, predictions): no progress bar for each.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    parser = argparse.ArgumentParser(prog="sweeplab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(commands)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except SweeplabError as e:  # the user's mistake: one line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
