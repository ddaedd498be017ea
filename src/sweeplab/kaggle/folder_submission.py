"""A folder of images as the test set of a submission: its ids and their order from a sample submission
(the sample's header and ids, matched to file names with or without their extension), or without one
from the file names in natural order, laid out as the run's own submissions were."""

from pathlib import Path

from sweeplab.data.competition import Competition
from sweeplab.data.layout import ImageFolder
from sweeplab.data.test_images import check_all_found, read_sample_file
from sweeplab.errors import DataError
from sweeplab.models.packaged import Answer, EnsembleSpec, ModelSpec
from sweeplab.offline import SAMPLE_VALUES, OfflineError, ids_in_natural_order, listed_images

SHOWN = 5


def image_folder(images: Path) -> ImageFolder:
    """The folder's image files, refused as the bundle's predict.py refuses it (offline.listed_images)."""
    try:
        listed_images(images)
    except OfflineError as e:
        raise DataError(str(e)) from None
    return ImageFolder(images, str(images))


def folder_competition(images: Path, sample: Path | None, spec: ModelSpec | EnsembleSpec) -> Competition:
    """The folder as a Competition that write_submission takes: ids, files, header, classes."""
    folder = image_folder(images)
    if sample is None:
        return _from_names(folder, spec)
    header, rows = read_sample_file(sample)
    ids = [row[0].strip() for row in rows]
    files = [None if name is None else folder.path / name for name in map(folder.resolve, ids)]
    check_all_found(ids, files, folder, str(sample), dedicated=True)  # the folder is the test set
    answer = spec.answer
    columns = tuple(header[1:])
    if answer.kind == "probabilities" and len(columns) > 1 and set(columns) != set(spec.classes):
        raise DataError(
            f"{sample}'s columns {list(columns[:SHOWN])} are not the model's classes "
            f"{spec.classes[:SHOWN]}: give the competition's own sample submission"
        )
    values = tuple(row[1] for row in rows[:SAMPLE_VALUES] if len(row) > 1)
    return _competition(folder, files, ids, spec, header[0], header[1], columns, values)


def _from_names(folder: ImageFolder, spec: ModelSpec | EnsembleSpec) -> Competition:
    """No sample: every image in natural order, its id its name (or stem, as the run's ids were)."""
    answer: Answer = spec.answer
    try:  # the bundle's predict.py orders a folder by the same rule
        ids = ids_in_natural_order(folder.images, answer.ids_with_extension, folder.path)
    except OfflineError as e:
        raise DataError(str(e)) from None
    files = [folder.path / (i if answer.ids_with_extension else folder.stems[i]) for i in ids]
    return _competition(
        folder, files, ids, spec, answer.id_column, answer.label_column, answer.columns, answer.sample_values
    )


def _competition(
    folder, files, ids, spec: ModelSpec | EnsembleSpec, id_column, label_column, columns, values
) -> Competition:
    return Competition(
        root=folder.path,
        classes=list(spec.classes),
        train_files=[],
        train_labels=[],
        test_files=files,
        test_ids=ids,
        id_column=id_column,
        label_column=label_column,
        task=spec.task,
        submission_columns=tuple(columns),
        sample_values=tuple(values),
    )
