"""Reads a competition folder laid out as Kaggle hands it out."""

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sweeplab.errors import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
EXPECTED_LAYOUT = (
    "expected a competition folder with train/ (one sub-folder per class, or files named "
    "LABEL.N.jpg such as cat.123.jpg), test/ (unlabelled images) and optionally "
    "sample_submission.csv and solution.csv"
)
# A flat train/ file's label is its name up to the first '.', '_' or '-': cat.123.jpg -> cat.
_LABEL_PREFIX = re.compile(r"^(.+?)[._-]")


@dataclass(frozen=True)
class Competition:
    root: Path
    classes: list[str]
    train_files: list[Path]
    # multiclass: (N,) int64 indices into classes; multilabel: (N, len(classes)) uint8 0/1 rows
    train_labels: np.ndarray | list[int]
    test_files: list[Path]
    test_ids: list[str]  # submission ids, in the order the submission lists them
    id_column: str = "id"
    label_column: str = "label"  # the submission's first column after the id
    solution_path: Path | None = None
    task: str = "multiclass"  # multiclass | multilabel
    submission_columns: tuple[str, ...] = ()  # the sample submission's header after its id column
    sample_values: tuple[str, ...] = ()  # the sample's first value column, its first 100 rows
    description: str = ""  # one line: where the labels, the training and the test images came from

    @property
    def multilabel(self) -> bool:
        return self.task == "multilabel"


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _natural_key(text: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def _read_train(train_dir: Path) -> tuple[list[str], list[Path], list[int]]:
    class_dirs = sorted(d for d in train_dir.iterdir() if d.is_dir() and _images_in(d))
    loose = _images_in(train_dir)
    if class_dirs and loose:
        raise DataError(
            f"{train_dir} mixes class folders ({', '.join(d.name for d in class_dirs[:3])}) with "
            f"loose images ({loose[0].name}); {EXPECTED_LAYOUT}"
        )
    if class_dirs:
        classes = [d.name for d in class_dirs]
        files, labels = [], []
        for index, class_dir in enumerate(class_dirs):
            images = _images_in(class_dir)
            files += images
            labels += [index] * len(images)
        return classes, files, labels
    if not loose:
        raise DataError(
            f"{train_dir} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); {EXPECTED_LAYOUT}"
        )
    names = [_LABEL_PREFIX.match(p.name) for p in loose]
    unlabelled = [p.name for p, m in zip(loose, names, strict=True) if m is None]
    label_names = [m.group(1) for m in names if m]
    classes = sorted(set(label_names))
    # Files named 1.jpg, 2.jpg ... have no label prefix: every "label" would be unique.
    if unlabelled or len(classes) < 2 or len(classes) > len(loose) // 2:
        example = unlabelled[0] if unlabelled else loose[0].name
        raise DataError(
            f"cannot read labels from the file names in {train_dir} (e.g. {example}, "
            f"{len(classes)} distinct prefixes); {EXPECTED_LAYOUT}"
        )
    return classes, loose, [classes.index(name) for name in label_names]


def _read_csv_column(path: Path, column_index: int) -> tuple[list[str], list[str]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows or len(rows[0]) < 2:
        raise DataError(f"{path} must have a header with an id column and a label column, e.g. 'id,label'")
    return rows[0], [row[column_index] for row in rows[1:] if row]


def _order_test(root: Path, test_files: list[Path]) -> tuple[list[Path], list[str], str, str]:
    """Match test images to the sample submission's ids (which fix id format, order and columns)."""
    sample = root / "sample_submission.csv"
    by_stem = {p.stem: p for p in test_files}
    if not sample.is_file():
        ids = sorted(by_stem, key=_natural_key)
        return [by_stem[i] for i in ids], ids, "id", "label"
    header, ids = _read_csv_column(sample, 0)
    by_name = {p.name: p for p in test_files}
    lookup = by_name if ids and ids[0] in by_name and ids[0] not in by_stem else by_stem
    missing = [i for i in ids if i not in lookup]
    extra = sorted(set(lookup) - set(ids), key=_natural_key)
    if missing or extra:
        raise DataError(
            f"{sample} and {root / 'test'} disagree: {len(ids)} ids vs {len(test_files)} images; "
            f"ids without an image: {missing[:5]}; images without an id: {extra[:5]}"
        )
    return [lookup[i] for i in ids], ids, header[0], header[1]


def read_competition(root: str | Path) -> Competition:
    """Index a competition folder; raise DataError naming the path and the expected layout."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(
            f"competition folder {root} does not exist; set data.root to a folder: {EXPECTED_LAYOUT}"
        )
    train_dir, test_dir = root / "train", root / "test"
    for folder in (train_dir, test_dir):
        if not folder.is_dir():
            raise DataError(f"{folder} is missing; {EXPECTED_LAYOUT}")
    classes, train_files, train_labels = _read_train(train_dir)
    test_files = _images_in(test_dir)
    if not test_files:
        raise DataError(f"{test_dir} holds no images; {EXPECTED_LAYOUT}")
    test_files, test_ids, id_column, label_column = _order_test(root, test_files)
    solution = root / "solution.csv"
    return Competition(
        root=root,
        classes=classes,
        train_files=train_files,
        train_labels=train_labels,
        test_files=test_files,
        test_ids=test_ids,
        id_column=id_column,
        label_column=label_column,
        solution_path=solution if solution.is_file() else None,
    )
