"""The embedded default competition: scikit-learn's bundled digits, written as a Kaggle folder."""

import csv
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from sweeplab.errors import ConfigError

TEST_FRACTION = 0.3
DEMO_SEED = 0  # fixed: the demo competition must be the same on every machine
_VERSION = "digits-v1"


def materialise_demo(root: Path) -> Path:
    """Write the digits competition into root once (atomically, so concurrent trials agree)."""
    root = Path(root).expanduser()
    if (root / ".complete").is_file():
        return root
    _refuse_a_foreign_folder(root)
    from sklearn.datasets import load_digits  # bundled with scikit-learn: nothing is downloaded

    digits = load_digits()
    # 8x8 images with values 0..16: scale to 0..255 greyscale.
    images = np.clip(digits.images * 16, 0, 255).astype(np.uint8)
    labels = digits.target
    rng = np.random.default_rng(DEMO_SEED)
    is_test = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        is_test[members[: round(len(members) * TEST_FRACTION)]] = True

    staging = root.with_name(f"{root.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    for label in np.unique(labels):
        (staging / "train" / str(label)).mkdir(parents=True)
    (staging / "test").mkdir()
    solution = []
    test_id = 0
    for index in range(len(labels)):
        image = Image.fromarray(images[index], mode="L")
        if is_test[index]:
            test_id += 1
            image.save(staging / "test" / f"{test_id}.png")
            usage = "Public" if rng.random() < 0.5 else "Private"
            solution.append((str(test_id), str(labels[index]), usage))
        else:
            image.save(staging / "train" / str(labels[index]) / f"{index}.png")
    with (staging / "sample_submission.csv").open("w", newline="") as f:
        csv.writer(f).writerows([("id", "label")] + [(i, "0") for i, _, _ in solution])
    with (staging / "solution.csv").open("w", newline="") as f:
        csv.writer(f).writerows([("id", "label", "Usage")] + solution)
    (staging / ".complete").write_text(_VERSION)
    try:
        os.rename(staging, root)
    except OSError:  # another process finished first: its copy is identical
        shutil.rmtree(staging, ignore_errors=True)
        _refuse_a_foreign_folder(root)  # or the folder filled with something else meanwhile
    return root


def _refuse_a_foreign_folder(root: Path) -> None:
    """data=demo data.root=DIR says where the demo is written: a DIR holding anything but the demo is
    refused, not trained on as the demo (nor written into)."""
    if root.is_dir() and not (root / ".complete").is_file() and any(root.iterdir()):
        raise ConfigError(
            f"data=demo data.root={root}: that folder holds something other than the demo; to train on it "
            f"as a competition, give data.root={root} without data=demo (or with data=kaggle)"
        )
