"""Labels without a CSV, as the lab's own competitions give them: class folders or LABEL.N.jpg names."""

import re
from dataclasses import dataclass
from pathlib import Path

from sweeplab.data.label_forms import Labels, indexed
from sweeplab.data.layout import EXPECTED_LAYOUT, ImageFolder
from sweeplab.errors import DataError
from sweeplab.offline import IMAGE_SUFFIXES

# A flat train/ file's label is its name up to the first '.', '_' or '-': cat.123.jpg -> cat.
_LABEL_PREFIX = re.compile(r"^(.+?)[._-]")


@dataclass(frozen=True)
class FolderLabels:
    files: list[Path]
    labels: Labels
    kind: str  # "class folders" or "file names"


def _class_folders(train: ImageFolder, class_dirs: list[ImageFolder]) -> FolderLabels:
    # Files in folder-name order, as before integer classes sorted as numbers: the dataset fingerprint
    # and cache keys of existing runs stay the same.
    files = [d.path / name for d in class_dirs for name in d.images]
    names = [d.path.name for d in class_dirs for _ in d.images]
    return FolderLabels(files, indexed(names), "class folders")


def _file_names(train: ImageFolder) -> FolderLabels:
    matches = [_LABEL_PREFIX.match(name) for name in train.images]
    unlabelled = [n for n, m in zip(train.images, matches, strict=True) if m is None]
    names = [m.group(1) for m in matches if m]
    distinct = len(set(names))
    # Files named 1.jpg, 2.jpg ... have no label prefix: every "label" would be unique.
    if unlabelled or distinct < 2 or distinct > len(train.images) // 2:
        example = unlabelled[0] if unlabelled else train.images[0]
        raise DataError(
            f"cannot read labels from the file names in {train.path} (e.g. {example}, "
            f"{distinct} distinct prefixes); {EXPECTED_LAYOUT}"
        )
    files = [train.path / name for name in train.images]
    return FolderLabels(files, indexed(names), "file names")


def read_folder_labels(train: ImageFolder) -> FolderLabels:
    """Labels from train/'s class folders, or from its file names (cat.123.jpg)."""
    subfolders = (ImageFolder(train.path / name, f"{train.name}{name}/") for name in train.subfolders)
    class_dirs = [d for d in subfolders if d.images]
    if class_dirs and train.images:
        raise DataError(
            f"{train.path} mixes class folders ({', '.join(d.path.name for d in class_dirs[:3])}) with "
            f"loose images ({train.images[0]}); {EXPECTED_LAYOUT}"
        )
    if class_dirs:
        return _class_folders(train, class_dirs)
    if not train.images:
        raise DataError(
            f"{train.path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); {EXPECTED_LAYOUT}"
        )
    return _file_names(train)
