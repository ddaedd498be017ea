"""A labels CSV's rows matched to its folder's files: rows without an image and images without a row
are counted and warned once, and stop the read above data.max_corrupt_fraction."""

import logging
from pathlib import Path

from sweeplab.data.keys import DataKeys
from sweeplab.data.labels_csv import LabelsTable
from sweeplab.data.test_images import TestImages
from sweeplab.errors import DataError

log = logging.getLogger(__name__)

SHOWN = 3


def _unmatched_text(table: LabelsTable, missing: list[str], orphans: list[str]) -> str:
    parts = []
    if missing:
        parts.append(
            f"{len(missing):,} of {len(table.rows):,} rows of {table.name} name no image in "
            f"{table.folder.name} (first: {', '.join(missing[:SHOWN])})"
        )
    if orphans:
        parts.append(
            f"{len(orphans):,} images in {table.folder.name} have no row "
            f"(first: {', '.join(orphans[:SHOWN])})"
        )
    return "; ".join(parts)


def match_rows(table: LabelsTable, keys: DataKeys, test: TestImages) -> tuple[list[int], list[Path]]:
    """The rows whose image exists and their files; images of the folder that are test images (Plant
    Pathology's images/ holds both) are not counted as lacking a row."""
    ids = table.column(table.id_column)
    names = [table.folder.resolve(i, keys.image_suffix) for i in ids]
    keep = [row for row, name in enumerate(names) if name is not None]
    missing = [ids[row] for row, name in enumerate(names) if name is None]
    tests = {p.name for p in test.files} if test.folder.path == table.folder.path else set()
    used = set(names)
    orphans = [n for n in table.folder.images if n not in used and n not in tests]
    if missing or orphans:
        images = max(1, len(table.folder.images) - len(tests))
        share = max(len(missing) / len(table.rows), len(orphans) / images)
        text = _unmatched_text(table, missing, orphans)
        if share > keys.max_corrupt_fraction:
            raise DataError(
                f"{text}: {share:.0%}, more than data.max_corrupt_fraction={keys.max_corrupt_fraction}; "
                "fix the CSV or the folder (or set data.labels_csv=, data.train_dir=, data.image_suffix=)"
            )
        log.warning("%s; training on the %s rows with an image", text, f"{len(keep):,}")
    return keep, [table.folder.path / names[row] for row in keep]
