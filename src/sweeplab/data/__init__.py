"""The `data` config group: a competition folder turned into cached uint8 tensors and a split.

The stages, one module each: `competition` (the folder's layout and labels, discovered by `layout`,
`labels_csv`, `row_images`, `folder_labels`, `test_images` and `label_forms`), `images` and `cache`
(decode once, memory-map after), `splits` (holdout, folds, subset), `loading` (all of it for a job),
`batches` and `augment` (uint8 batches on the device, flipped and cropped there).

The face re-exports on first use (PEP 562): `sweeplab cache` lists the caches through `data.cache_listing`
without importing what decoding needs (torch, through sweeplab.offline: ~1 s on two cores).
"""

import importlib
from typing import Any

# What the face re-exports, and the module each comes from.
_HOME = {
    "ImageData": "loading",
    "channel_stats": "loading",
    "competition_root": "loading",
    "dataset_fingerprint": "loading",
    "load_data": "loading",
    "Split": "splits",
    "check_folds": "splits",
    "make_splits": "splits",
    "stratified_folds": "splits",
    "stratified_split": "splits",
    "train_subset": "splits",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
