"""`sweeplab predict`: a run's (or a registered) model on a folder of images, written as a submission."""

import argparse
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from sweeplab.cli import common

if TYPE_CHECKING:
    from sweeplab.models.packaged import Packaged

MODEL_HELP = "a run id (any unique prefix) or a registered model, models:/NAME@ALIAS"
SAMPLE_HELP = "a sample submission: its header, ids and order (default: the run's own format, natural order)"


def register(commands: common.Subparsers) -> None:
    parser = commands.add_parser("predict", help="predict a folder of images with a run's model")
    parser.add_argument("model", metavar="RUN|MODEL_URI", help=MODEL_HELP)
    parser.add_argument("--images", required=True, metavar="DIR", help="the folder of images to predict")
    parser.add_argument("--out", default="submission.csv", help="the submission file (default: %(default)s)")
    parser.add_argument("--sample", metavar="CSV", help=SAMPLE_HELP)
    parser.add_argument("--batch-size", type=int, default=64, help="images per batch (default: %(default)s)")
    parser.add_argument("--tracking-uri", help=common.TRACKING_URI_HELP)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Everything is checked (model, folder, sample) before the model runs; the file is written last."""
    from sweeplab.device import resolve_device
    from sweeplab.kaggle.folder_submission import folder_competition
    from sweeplab.models.inference import predict_packaged
    from sweeplab.models.packaged import SPEC_FILE, load_packaged, read_spec
    from sweeplab.runs.model_source import download_model
    from sweeplab.scoring.submission import SubmissionFormat, write_submission

    client = common.client(args)
    uri = common.model_uri(client, args.model)
    sample = Path(args.sample) if args.sample else None
    with tempfile.TemporaryDirectory(prefix="sweeplab-predict-") as tmp:
        folder = download_model(client, uri, Path(tmp))
        competition = folder_competition(Path(args.images), sample, read_spec(folder / SPEC_FILE))
        packaged = load_packaged(folder)
    spec, device, described = packaged.spec, resolve_device("auto"), _models(packaged)
    probs, corrupt = predict_packaged(packaged, competition.test_files, device, args.batch_size)
    if corrupt:
        print(
            f"warning: {len(corrupt)} images could not be decoded, predicted as black: {corrupt[:3]}",
            file=sys.stderr,
        )
    answer = spec.answer
    out = write_submission(
        Path(args.out), competition, probs, SubmissionFormat(answer.kind, answer.top_k), spec.thresholds
    )
    print(
        f"{out}: {len(probs)} images of {args.images} predicted by {uri} on {device} "
        f"({described}), as {answer.kind}"
    )
    return 0


def _models(packaged: "Packaged") -> str:
    """2 models, TTA hflip; an ensemble: ensemble of 3 runs (mean, weights 2,1,1), 5 models."""
    from sweeplab.models.packaged import EnsembleSpec

    count = f"{packaged.models} model{'s' if packaged.models > 1 else ''}"
    weights = [part.weight for part in packaged.parts]
    if isinstance(packaged.spec, EnsembleSpec):
        how = packaged.method + (
            "" if len(set(weights)) == 1 else f", weights {','.join(f'{w:g}' for w in weights)}"
        )
        return f"ensemble of {len(weights)} runs ({how}), {count}"
    tta = packaged.spec.tta
    return count + (f", TTA {'+'.join(tta)}" if tta else "")
