"""Image files through a model: decoded as the image cache decodes them, in batches, on the device."""

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from sweeplab.data.images import decode, decode_threads
from sweeplab.device import autocast
from sweeplab.models.packaged import EnsembleSpec, Packaged
from sweeplab.models.predictor import Predictor
from sweeplab.scoring.averaging import combine

# 64 images a batch: 38 MB of uint8 at 444 px (150 MB as floats), small beside any GPU's memory, and
# enough images for the decoding threads to work on while the model runs.
BATCH_SIZE = 64


def predict_files(
    predictor: nn.Module,
    files: list[Path],
    img_size: int,
    device: torch.device,
    batch_size: int = BATCH_SIZE,
    amp: bool = False,
    progress: bool | None = None,
) -> tuple[np.ndarray, list[Path]]:
    """(probabilities in the files' order, the files that could not be decoded: predicted as black images,
    as the cache stores them)."""
    predictor.to(device).eval()
    shown = sys.stderr.isatty() if progress is None else progress
    black = np.zeros((3, img_size, img_size), dtype=np.uint8)
    probs, corrupt = [], []
    starts = range(0, len(files), batch_size)
    with (
        ThreadPoolExecutor(max_workers=decode_threads(None)) as pool,
        tqdm(total=len(files), desc="predicting", unit="image", disable=not shown, dynamic_ncols=True) as bar,
    ):
        # pool.map submits a whole batch at once: the next batch decodes while the model runs on this one.
        pending = pool.map(lambda p: decode(p, img_size), files[:batch_size])
        for start in starts:
            batch, images = files[start : start + batch_size], list(pending)
            pending = pool.map(
                lambda p: decode(p, img_size), files[start + batch_size : start + 2 * batch_size]
            )
            corrupt += [path for path, image in zip(batch, images, strict=True) if image is None]
            x = torch.from_numpy(np.stack([black if i is None else i for i in images])).to(device)
            with torch.no_grad(), autocast(amp, device):
                probs.append(predictor(x).float().cpu())
            bar.update(len(batch))
    return torch.cat(probs).numpy(), corrupt


class Stacked(nn.Module):
    """Several Predictors on one batch: (N, P, C), one slice per predictor, so one decoding serves all."""

    def __init__(self, predictors: list[Predictor]):
        super().__init__()
        self.predictors = nn.ModuleList(predictors)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack([p(images).float() for p in self.predictors], 1)


def predict_packaged(
    packaged: Packaged,
    files: list[Path],
    device: torch.device,
    batch_size: int = BATCH_SIZE,
    progress: bool | None = None,
) -> tuple[np.ndarray, list[Path]]:
    """A model folder's probabilities for the files: one run's; an ensemble's members each at its own
    image size, mixed as `sweeplab ensemble` mixed their test predictions (scoring.averaging.combine)."""
    parts, probs, corrupt = packaged.parts, {}, {}
    for size, amp in dict.fromkeys((part.spec.img_size, part.spec.amp) for part in parts):
        chosen = [i for i, part in enumerate(parts) if (part.spec.img_size, part.spec.amp) == (size, amp)]
        stacked = Stacked([parts[i].predictor for i in chosen])
        got, bad = predict_files(stacked, files, size, device, batch_size, amp, progress)
        probs |= {i: got[:, j] for j, i in enumerate(chosen)}
        corrupt |= dict.fromkeys(bad)  # each size decodes every file: said once
    if not isinstance(packaged.spec, EnsembleSpec):
        return probs[0], list(corrupt)
    # An ensemble mixes even one member, as its submission was made: `rank` turns probabilities into ranks.
    weights = [part.weight for part in parts]
    mixed = combine([probs[i] for i in range(len(parts))], packaged.method, weights, packaged.spec.multilabel)
    return mixed, list(corrupt)
