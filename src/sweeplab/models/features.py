"""A frozen backbone's features, computed once per key into the cache and memory-mapped by every trial.

When the backbone is frozen for the whole run and the training augmentation is deterministic, the
backbone sees the same normalised pixels every epoch of every trial: its output is computed once per
(weights, arch, kwargs, img_size, normalisation, images, AMP, device) with the image cache's machinery
(sweeplab.data.cache: keyed, locked, atomic, resumable) and only the head trains on it. A head trained
on the cached rows matches one trained through the frozen backbone to float tolerance.
"""

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch

from sweeplab.data import ImageData
from sweeplab.data.augment import BatchAugment, is_random
from sweeplab.data.cache import CacheEntry, cached_array
from sweeplab.device import autocast
from sweeplab.models.builders import TransferModel

log = logging.getLogger(__name__)
FEATURE_FORMAT = 1  # bump when what is stored (or how it is computed) changes
CHUNK_ROWS = 64  # images per backbone forward and per flushed chunk (a resume loses at most this many)
_said: set[str] = set()  # reasons the cache is off, said once per process (a sweep runs many jobs)


class FeatureInput:
    """Stands in for BatchAugment when the rows are features: float32, nothing random, no normalisation."""

    def __call__(self, x: torch.Tensor, train: bool) -> torch.Tensor:
        return x.float()


def frozen_all_run(model_cfg) -> bool:
    """The backbone is frozen from the first epoch to the last (no model.unfreeze_at_epoch)."""
    return bool(model_cfg.get("freeze_backbone")) and model_cfg.get("unfreeze_at_epoch") is None


def off_reason(cfg) -> str | None:
    """Why a frozen run cannot use cached features, or None when it can."""
    if not cfg.model.feature_cache:
        return "model.feature_cache=false"
    if not cfg.data.cache:
        return "data.cache=false"
    if cfg.trainer.get("tta"):  # cached rows are of the upright image only; flipped views are not kept
        return f"trainer.tta={[str(v) for v in cfg.trainer.tta]} needs the flipped images"
    random = is_random(cfg.augmentation)
    return f"the training augmentation is random ({random})" if random else None


def feature_key(
    cfg, model: TransferModel, augment: BatchAugment, image_key: str, device: torch.device
) -> str:
    """Everything the backbone's output depends on; any change gives a new entry."""
    weights = model.weights
    fields = {
        "format": FEATURE_FORMAT,
        "library": str(cfg.model.name),
        "arch": cfg.model.arch,
        "kwargs": dict(cfg.model.kwargs),
        "weights": weights and [weights.name, weights.sha256],
        "normalisation": augment.stats and [list(augment.stats[0]), list(augment.stats[1])],
        "images": image_key,  # the image cache's key: every file's stamp and data.img_size
        "amp": bool(cfg.trainer.amp and device.type == "cuda"),
        "device": device.type,
        "torch": torch.__version__,
    }
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()
    return f"features-{digest[:24]}"


def _entry(cfg, folder: Path, key: str, images: np.ndarray, model, augment, device, kind: str) -> np.ndarray:
    backbone = model.backbone.to(device).eval()

    @torch.no_grad()
    def fill(out: np.ndarray, start: int) -> list:
        rows = np.array(images[start : start + len(out)])  # a copy: the memory map is read-only
        x = torch.from_numpy(rows).to(device)
        with autocast(cfg.trainer.amp, device):
            out[:] = backbone(augment(x, train=False)).float().cpu().numpy()
        return []

    array, _ = cached_array(
        folder,
        key,
        (len(images), model.head.in_features),
        np.float32,
        fill,
        chunk_rows=CHUNK_ROWS,
        desc=f"backbone features ({kind})",
        show_progress=cfg.trainer.progress,
        hint="set data.cache_dir to a larger disk, or model.feature_cache=false",
    )
    return array


def cached_features(
    cfg, data: ImageData, model: torch.nn.Module, augment: BatchAugment, device: torch.device
) -> tuple[str, ImageData | None]:
    """("hit" | "miss", the data with features in place of pixels), or ("off", None)."""
    if not isinstance(model, TransferModel) or not frozen_all_run(cfg.model):
        return "off", None
    reason = off_reason(cfg)
    if reason is not None:
        if reason not in _said:
            _said.add(reason)
            log.info("feature cache off: %s, so the frozen backbone runs on every batch", reason)
        return "off", None
    folder = Path(cfg.data.cache_dir).expanduser() / "features"
    keys = [feature_key(cfg, model, augment, image_key, device) for image_key in data.cache_keys]
    hit = all(CacheEntry(folder, key).complete() for key in keys)
    train, test = (
        _entry(cfg, folder, key, images, model, augment, device, kind)
        for key, images, kind in zip(keys, (data.images, data.test_images), ("train", "test"), strict=True)
    )
    return ("hit" if hit else "miss"), dataclasses.replace(data, images=train, test_images=test)
