"""The test images and their ids, in submission order: the sample's ids (else test.csv's) looked up in
an image folder (test-like folders first), or without either a test folder's images in natural order."""

import os
from dataclasses import dataclass
from pathlib import Path

from sweeplab.data.keys import DataKeys
from sweeplab.data.labels_csv import HEAD_ROWS, read_csv
from sweeplab.data.layout import EXPECTED_LAYOUT, MATCH_SHARE, ImageFolder, Layout, is_test_like
from sweeplab.errors import DataError
from sweeplab.offline import SAMPLE_VALUES, natural_key

SHOWN = 5


@dataclass(frozen=True)
class TestImages:
    files: list[Path]
    ids: list[str]
    folder: ImageFolder
    sample_header: list[str]  # [] without a sample submission
    sample_values: tuple[str, ...]
    also_in: tuple[str, ...] = ()  # further test folders holding some of the ids (Planet's -additional)

    @property
    def where(self) -> str:
        return " and ".join([self.folder.name, *self.also_in])


def read_sample(layout: Layout) -> tuple[list[str], list[list[str]]]:
    """The competition's sample submission's header and rows; ([], []) without one."""
    return ([], []) if layout.sample is None else read_sample_file(layout.sample)


def read_sample_file(path: Path) -> tuple[list[str], list[list[str]]]:
    """A sample submission's header and rows; refused without an id and a value column."""
    header, rows = read_csv(path)
    if len(header) < 2:
        raise DataError(f"{path} must have a header with an id column and a label column, e.g. 'id,label'")
    return header, rows


def _candidates(layout: Layout, keys: DataKeys, train: ImageFolder | None) -> list[ImageFolder]:
    """Where test ids are looked up: data.test_dir; else test-like folders, the training images' folder
    (Plant Pathology keeps both in images/), then any other folder of images."""
    if keys.test_dir is not None:
        return [layout.keyed_folder("test_dir", keys.test_dir)]
    folders = layout.image_folders()
    ordered = [f for f in folders if is_test_like(f.name)]
    ordered += [f for f in folders if train is not None and f.path == train.path]
    return ordered + [f for f in folders if f not in ordered]


def _empty_test_folder(layout: Layout) -> None:
    for name in layout.dirs:
        folder = layout.folder(name)
        if is_test_like(name) and not folder.images and not folder.subfolders:
            raise DataError(f"{folder.path} holds no images; {EXPECTED_LAYOUT}")


def _without_ids(layout: Layout, keys: DataKeys) -> TestImages:
    """No sample and no test.csv: the test folder's images, ids their names without the extension."""
    folders = _candidates(layout, keys, None)
    folders = folders if keys.test_dir is not None else [f for f in folders if is_test_like(f.name)]
    if len(folders) != 1:
        _empty_test_folder(layout)
        found = ", ".join(f.name for f in folders) or "none"
        raise DataError(
            f"cannot tell the test images of {layout.root}: no sample_submission.csv or test.csv lists "
            f"them and the test folders are {found} ({layout.root / 'test'} is missing?); set "
            f"data.test_dir=; {EXPECTED_LAYOUT}"
        )
    folder = folders[0]
    if not folder.images:
        raise DataError(f"{folder.path} holds no images; {EXPECTED_LAYOUT}")
    ids = sorted(folder.stems, key=natural_key)
    return TestImages([folder.path / folder.stems[i] for i in ids], ids, folder, [], ())


def check_all_found(ids, paths, folder: ImageFolder, source: str, dedicated: bool) -> None:
    """There are ids, every id has an image (its path, None where there is none), and a folder of test
    images only (not shared with training) has no image without an id."""
    missing = [i for i, path in zip(ids, paths, strict=True) if path is None]
    named = {p.name for p in paths if p is not None and p.parent == folder.path}
    extra = sorted(set(folder.images) - named, key=natural_key) if dedicated else []
    if ids and not missing and not extra:
        return
    with_extension = bool(ids) and ids[0] in folder.names  # show the extra images as the ids are written
    extra = [name if with_extension else os.path.splitext(name)[0] for name in extra]
    problems = (
        [f"{len(missing)} ids without an image (first: {', '.join(missing[:SHOWN])})"] if missing else []
    )
    if extra:
        problems.append(f"{len(extra)} images without an id (first: {', '.join(extra[:SHOWN])})")
    counts = f"{len(ids)} ids vs {len(folder.images)} images" if dedicated else f"{len(ids)} ids"
    raise DataError(f"{source} and {folder.path} disagree: {'; '.join([counts, *problems])}")


def _resolve_all(ids, folder: ImageFolder, others: list[ImageFolder], suffix) -> tuple[list, tuple]:
    """Each id's image path (None where there is none): in `folder`, else in another test folder (Planet
    keeps 40,669 test images in test-jpg/ and 20,522 more in test-jpg-additional/)."""
    paths, used = [], []
    for i in ids:
        name = folder.resolve(i, suffix)
        if name is not None:
            paths.append(folder.path / name)
            continue
        found = next(((o, o.resolve(i, suffix)) for o in others if o.resolve(i, suffix) is not None), None)
        paths.append(None if found is None else found[0].path / found[1])
        if found is not None and found[0].name not in used:
            used.append(found[0].name)
    return paths, tuple(used)


def read_test_images(layout: Layout, keys: DataKeys, train: ImageFolder | None) -> TestImages:
    """The test images in the sample's order (or test.csv's, or natural order without either)."""
    header, rows = read_sample(layout)
    if not header and layout.test_csv is not None:
        _, rows = read_csv(layout.test_csv)
    if not header and layout.test_csv is None:
        return _without_ids(layout, keys)
    source = layout.sample or layout.test_csv
    ids = [row[0].strip() for row in rows]
    candidates = _candidates(layout, keys, train)
    head = ids[:HEAD_ROWS]
    folder = next((f for f in candidates if f.share(head, keys.image_suffix) > MATCH_SHARE), None)
    if folder is None:
        _empty_test_folder(layout)
        tests = [f for f in candidates if is_test_like(f.name) or keys.test_dir is not None]
        if not tests:
            raise DataError(
                f"no folder of {layout.root} holds the test images {source.name} lists (first ids: "
                f"{', '.join(ids[:SHOWN])}); set data.test_dir= to their folder"
            )
        folder = tests[0]
    shared = train is not None and folder.path == train.path
    others = [f for f in candidates if f is not folder and is_test_like(f.name) and keys.test_dir is None]
    others = [f for f in others if train is None or f.path != train.path]
    paths, also_in = _resolve_all(ids, folder, others, keys.image_suffix)
    dedicated = not shared and (is_test_like(folder.name) or keys.test_dir is not None)
    check_all_found(ids, paths, folder, str(source), dedicated)
    values = tuple(row[1] for row in rows[:SAMPLE_VALUES] if len(row) > 1) if header else ()
    return TestImages(paths, ids, folder, header, values, also_in)
