"""`sweeplab cache`: what the caches under data.cache_dir hold, and removing what is not used."""

import argparse
from pathlib import Path

from sweeplab.cli.common import Subparsers
from sweeplab.errors import SweeplabError


def register(commands: Subparsers) -> None:
    parser = commands.add_parser("cache", help="list the image and feature caches; remove entries")
    parser.add_argument(
        "--cache-dir", default="~/.cache/sweeplab", help="data.cache_dir (default: %(default)s)"
    )
    parser.add_argument("--clear", action="store_true", help="remove every entry not being built")
    parser.add_argument(
        "--older-than", type=float, metavar="DAYS", help="remove the entries not used for DAYS days"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """List the cache entries (images, features) with size, last use and what they hold; remove some."""
    if args.older_than is not None and args.older_than < 0:
        raise SweeplabError("--older-than takes a number of days >= 0, e.g. 30")
    from sweeplab.data.cache_listing import cache  # the data package imports torch: not for --help

    print(cache(Path(args.cache_dir), clear=args.clear, older_than=args.older_than))
    return 0
