"""A model folder's prediction of image files: one run's, or an ensemble's members each at its own image
size and precision, mixed as `sweeplab ensemble` mixed their test predictions. The decoding, batching and
mixing are sweeplab.offline's, the code the exported bundle's predict.py runs."""

import sys
from pathlib import Path

import numpy as np
import torch

from sweeplab.models.packaged import EnsembleSpec, Packaged
from sweeplab.offline import BATCH_SIZE, Part, predict_parts, progress_line
from sweeplab.scoring.averaging import combine


def predict_packaged(
    packaged: Packaged,
    files: list[Path],
    device: torch.device,
    batch_size: int = BATCH_SIZE,
    progress: bool | None = None,
) -> tuple[np.ndarray, list[Path]]:
    """(the probabilities in the files' order, the files that could not be decoded: predicted as black
    images, as the cache stores them). `progress`: a line on stderr (None: when stderr is a terminal)."""
    parts = [
        Part(part.predictor.to(device).eval(), part.spec.img_size, part.weight, part.spec.amp)
        for part in packaged.parts
    ]
    shown = sys.stderr.isatty() if progress is None else progress
    probs, corrupt = predict_parts(parts, files, device, batch_size, progress_line if shown else None)
    if not isinstance(packaged.spec, EnsembleSpec):
        return probs[0], corrupt
    # An ensemble mixes even one member, as its submission was made: `rank` turns probabilities into ranks.
    mixed = combine(probs, packaged.method, [part.weight for part in parts], packaged.spec.multilabel)
    return mixed, corrupt
