"""Reads a competition folder laid out as Kaggle hands it out.

Discovery, one module a step: `layout` lists the root (its CSVs by role, its image folders),
`labels_csv` finds the CSV whose id column names the training images, `folder_labels` reads class
folders or LABEL.N names when there is none, `test_images` orders the test images as the sample does,
`row_images` matches CSV rows to files and `label_forms` turns label values into classes and arrays.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sweeplab.data.folder_labels import read_folder_labels
from sweeplab.data.keys import DataKeys, tag_metric_task
from sweeplab.data.label_forms import Labels, from_names, from_one_hot, one_hot
from sweeplab.data.labels_csv import LabelsTable, find_labels_csv, label_columns
from sweeplab.data.layout import EXPECTED_LAYOUT, Layout
from sweeplab.data.row_images import match_rows
from sweeplab.data.test_images import TestImages, read_test_images
from sweeplab.errors import DataError
from sweeplab.offline import IMAGE_SUFFIXES

__all__ = ["EXPECTED_LAYOUT", "IMAGE_SUFFIXES", "Competition", "read_competition"]


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


@dataclass(frozen=True)
class _Train:
    files: list[Path]
    labels: Labels
    source: str  # "train.csv (id -> has_cactus: 2 classes)", "class folders in train/ (2 classes)"
    folder: str  # "train/"
    id_column: str = "id"
    label_column: str = "label"


def _classes_text(labels: Labels) -> str:
    n = len(labels.classes)
    if labels.form == "tags":
        return f"{n} tags, multi-label"
    kind = "one-hot " if labels.form == "one-hot" else ""
    if labels.task == "multilabel":
        return f"{n} {kind}tags, multi-label"
    return f"{n} {kind}classes"


def _columns_text(columns: list[str]) -> str:
    if len(columns) <= 4:
        return ", ".join(columns)
    return f"{', '.join(columns[:3])}, ... ({len(columns)} columns)"


def _csv_train(table: LabelsTable, keys: DataKeys, test: TestImages) -> _Train:
    columns = label_columns(table, keys, test.sample_header)
    rows, files = match_rows(table, keys, test)
    all_ids = table.column(table.id_column)
    ids = [all_ids[r] for r in rows]
    values = [[table.rows[r][table.header.index(c)].strip() for r in rows] for c in columns]
    if len(columns) == 1:
        labels = from_names(values[0], ids, keys.task, keys.label_delim, table.name, test.sample_values)
    else:
        labels = from_one_hot(values, columns, ids, keys.task, table.name)
    source = f"{table.name} ({table.id_column} -> {_columns_text(columns)}: {_classes_text(labels)})"
    return _Train(files, labels, source, table.folder.name, table.id_column, columns[0])


def _folder_train(layout: Layout, keys: DataKeys) -> _Train:
    if keys.train_dir is not None:
        train = layout.keyed_folder("train_dir", keys.train_dir)
    elif (layout.root / "train").is_dir():
        train = layout.folder("train")
    else:
        checked = ", ".join(layout.label_candidates)
        also = f" and no CSV at its root names the images of a folder (checked: {checked})" if checked else ""
        raise DataError(f"{layout.root / 'train'} is missing{also}; {EXPECTED_LAYOUT}")
    found = read_folder_labels(train)
    labels = one_hot(found.labels) if keys.task == "multilabel" else found.labels
    pattern = "LABEL.N: " if found.kind == "file names" else ""  # file names: cat.123.jpg
    source = f"{found.kind} in {train.name} ({pattern}{_classes_text(labels)})"
    return _Train(found.files, labels, source, train.name)


def read_competition(root: str | Path, cfg=None) -> Competition:
    """Index a competition folder (cfg: the `data` config, whose keys settle what discovery cannot);
    raise DataError/ConfigError in one line naming the path or key and the fix."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(
            f"competition folder {root} does not exist; set data.root to a folder: {EXPECTED_LAYOUT}"
        )
    keys = tag_metric_task(DataKeys.from_cfg(cfg))
    layout = Layout(root)
    table = find_labels_csv(layout, keys)
    test = read_test_images(layout, keys, table.folder if table else None)
    train = _csv_train(table, keys, test) if table else _folder_train(layout, keys)
    header = test.sample_header
    id_column, label_column = header[:2] if header else (train.id_column, train.label_column)
    if not header and train.labels.form == "one-hot":  # no sample: a probability column per class
        header = [id_column, *train.labels.classes]
    description = (
        f"labels from {train.source}, {len(train.files):,} images in {train.folder}, "
        f"{len(test.files):,} test images in {test.where}"
    )
    solution = root / "solution.csv"
    return Competition(
        root=root,
        classes=train.labels.classes,
        train_files=train.files,
        train_labels=train.labels.values,
        test_files=test.files,
        test_ids=test.ids,
        id_column=id_column,
        label_column=label_column,
        solution_path=solution if solution.is_file() else None,
        task=train.labels.task,
        submission_columns=tuple(header[1:]),
        sample_values=test.sample_values,
        description=description,
    )
