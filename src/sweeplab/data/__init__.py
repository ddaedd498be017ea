"""The `data` config group: a competition folder turned into cached uint8 tensors and a split.

The stages, one module each: `competition` (the folder's layout and labels, discovered by `layout`,
`labels_csv`, `row_images`, `folder_labels`, `test_images` and `label_forms`), `images` and `cache`
(decode once, memory-map after), `splits` (holdout, folds, subset), `loading` (all of it for a job),
`batches` and `augment` (uint8 batches on the device, flipped and cropped there).
"""

from sweeplab.data.loading import ImageData, channel_stats, competition_root, dataset_fingerprint, load_data
from sweeplab.data.splits import (
    Split,
    check_folds,
    make_splits,
    stratified_folds,
    stratified_split,
    train_subset,
)

__all__ = [
    "ImageData",
    "Split",
    "channel_stats",
    "check_folds",
    "competition_root",
    "dataset_fingerprint",
    "load_data",
    "make_splits",
    "stratified_folds",
    "stratified_split",
    "train_subset",
]
