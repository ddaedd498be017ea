"""`sweeplab export`: a run's (or a registered) model as an offline bundle for a Kaggle code competition."""

import argparse
import tempfile
from pathlib import Path

from sweeplab.cli import common


def register(commands: common.Subparsers) -> None:
    parser = commands.add_parser(
        "export", help="a run's model as a folder that predicts offline with torch, numpy and pillow"
    )
    parser.add_argument(
        "model", metavar="RUN|MODEL_URI", help="a run id (any unique prefix) or models:/NAME@ALIAS"
    )
    parser.add_argument("out", metavar="DIR", help="the bundle's folder (new or empty)")
    parser.add_argument("--tracking-uri", help=common.TRACKING_URI_HELP)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sweeplab.models.bundle import export_bundle
    from sweeplab.models.packaged import load_packaged
    from sweeplab.runs.model_source import download_model

    client = common.client(args)
    uri = common.model_uri(client, args.model)
    with tempfile.TemporaryDirectory(prefix="sweeplab-export-") as tmp:
        packaged = load_packaged(download_model(client, uri, Path(tmp)))
    out = export_bundle(packaged, Path(args.out))
    files = ", ".join(sorted(p.name for p in out.iterdir()))
    print(
        f"bundle of {uri} in {out}: {files}; on Kaggle (no internet): "
        "!python /kaggle/input/BUNDLE/predict.py --images /kaggle/input/COMP/test --out submission.csv "
        "--sample /kaggle/input/COMP/sample_submission.csv"
    )
    return 0
