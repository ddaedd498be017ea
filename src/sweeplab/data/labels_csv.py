"""The labels CSV: which root CSV names the training images, its id and label columns, and its rows
matched to image files (rows without an image and images without a row counted, warned once)."""

import csv
import itertools
import logging
from dataclasses import dataclass
from pathlib import Path

from sweeplab.data.keys import DataKeys
from sweeplab.data.label_forms import ONE_HOT_VALUES
from sweeplab.data.layout import MATCH_SHARE, ImageFolder, Layout, is_test_like
from sweeplab.errors import ConfigError, DataError

log = logging.getLogger(__name__)

HEAD_ROWS = 50  # rows read to tell whether a CSV's column names image files; the chosen CSV is read whole


def read_csv(path: Path, limit: int | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and rows (the first `limit` only); the csv module reads 25,000 rows in ~20 ms."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: drop a byte-order mark
            reader = csv.reader(f)
            header = [name.strip() for name in next(reader, [])]
            rows = [row for row in itertools.islice(reader, limit) if row]
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(
            f"{path} cannot be read as a UTF-8 CSV ({e}); convert it, or move it out of the folder"
        ) from e
    return header, rows


@dataclass(frozen=True)
class LabelsTable:
    path: Path
    header: list[str]
    rows: list[list[str]]
    id_index: int
    folder: ImageFolder  # the folder the ids name files of

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def id_column(self) -> str:
        return self.header[self.id_index]

    def column(self, name: str) -> list[str]:
        index = self.header.index(name)
        return [row[index].strip() for row in self.rows]


def _id_columns(header: list[str], keys: DataKeys, name: str, explicit: bool) -> list[int]:
    if keys.id_column is None:
        return list(range(len(header)))
    if keys.id_column in header:
        return [header.index(keys.id_column)]
    if explicit:
        raise ConfigError(
            f"data.id_column={keys.id_column} is not a column of {name}; its columns: {', '.join(header)}"
        )
    return []


def _match(header, head, folders, keys: DataKeys, name: str, explicit: bool):
    """The first column whose sampled values name images of one folder, with that folder; or None."""
    for index in _id_columns(header, keys, name, explicit):
        ids = [row[index].strip() for row in head if index < len(row)]
        shares = [(folder.share(ids, keys.image_suffix), folder) for folder in folders]
        share, folder = max(shares, key=lambda s: s[0], default=(0.0, None))
        if share > MATCH_SHARE:
            return index, folder
    return None


def _train_folders(layout: Layout, keys: DataKeys) -> list[ImageFolder]:
    if keys.train_dir is not None:
        return [layout.keyed_folder("train_dir", keys.train_dir)]
    return [f for f in layout.image_folders() if not is_test_like(f.name)]


def find_labels_csv(layout: Layout, keys: DataKeys) -> LabelsTable | None:
    """The root CSV whose id column names the images of one folder (data.labels_csv: that one)."""
    if keys.labels_csv is not None and not (layout.root / keys.labels_csv).is_file():
        raise ConfigError(
            f"data.labels_csv={keys.labels_csv}: {layout.root / keys.labels_csv} is not a file; "
            f"the CSVs there: {', '.join(layout.csvs) or 'none'}"
        )
    names = [keys.labels_csv] if keys.labels_csv is not None else layout.label_candidates
    folders = _train_folders(layout, keys)
    found, headers = [], {}
    for name in names:
        header, head = read_csv(layout.root / name, HEAD_ROWS)
        headers[name] = header
        match = _match(header, head, folders, keys, name, keys.labels_csv is not None)
        if match is not None:
            found.append((name, match))
    if keys.id_column is not None and headers and not any(keys.id_column in h for h in headers.values()):
        shown = "; ".join(f"{n}: {', '.join(h)}" for n, h in headers.items())
        raise ConfigError(f"data.id_column={keys.id_column} is not a column of any CSV here ({shown})")
    if keys.labels_csv is not None and not found:
        raise DataError(
            f"no column of {keys.labels_csv} names the images of a folder "
            f"({', '.join(f.name for f in folders) or 'no image folder'}); set data.id_column=, "
            "data.train_dir= or data.image_suffix="
        )
    if len(found) > 1:
        raise DataError(
            f"several CSVs in {layout.root} could be the labels: {', '.join(n for n, _ in found)}; "
            "set data.labels_csv= to one of them"
        )
    if not found:
        return None
    name, (id_index, folder) = found[0]
    header, rows = read_csv(layout.root / name)
    short = next((i for i, row in enumerate(rows) if len(row) < len(header)), None)
    if short is not None:
        raise DataError(
            f"row {short + 2} of {layout.root / name} has {len(rows[short])} fields but its header "
            f"{len(header)} ({', '.join(header)}); fix the file"
        )
    return LabelsTable(layout.root / name, header, rows, id_index, folder)


def _one_hot_like(table: LabelsTable, column: str) -> bool:
    return set(table.column(column)) <= ONE_HOT_VALUES


def label_columns(table: LabelsTable, keys: DataKeys, sample_header: list[str]) -> list[str]:
    """The label column, or the one-hot columns: data.label_column; else the sample's value columns
    when the CSV has them all; else the only other column; else every other column, when all are 0/1."""
    if keys.label_column is not None:
        wanted = [keys.label_column] if isinstance(keys.label_column, str) else list(keys.label_column)
        missing = [c for c in wanted if c not in table.header]
        if missing:
            raise ConfigError(
                f"data.label_column: {', '.join(missing)} is not a column of {table.name}; its columns: "
                f"{', '.join(table.header)}"
            )
        return wanted
    others = [c for i, c in enumerate(table.header) if i != table.id_index]
    from_sample = sample_header[1:]
    if from_sample and all(c in others for c in from_sample):
        return from_sample
    if len(others) == 1:
        return others
    if len(others) > 1 and all(_one_hot_like(table, c) for c in others):
        return others
    raise DataError(
        f"the label column of {table.name} is not found: its columns are {', '.join(table.header)} "
        f"(ids in {table.id_column}); set data.label_column= to the label column, or to a list of "
        "one-hot columns"
    )
