"""Competition folders in the shapes Kaggle hands out, discovered without keys: one tiny folder of real
JPEG/PNG/TIFF files per shape, the keys that settle what discovery cannot, and each bad input's line."""

import csv
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image

from helpers import make_competition
from sweeplab.data.competition import read_competition
from sweeplab.data.images import decode
from sweeplab.data.label_forms import sort_classes
from sweeplab.data.layout import is_test_like
from sweeplab.errors import ConfigError, DataError


def image(path: Path, shade: int = 0) -> None:
    """A 4x4 picture; the suffix picks the format (JPEG, PNG, TIFF)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (shade, 80, 160)).save(path)


def write_csv(path: Path, header: list[str], rows) -> None:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])


def keys(**values):
    """A `data` config holding only the given keys, as an old recorded config would."""
    return OmegaConf.create(values)


def names(files: list[Path]) -> list[str]:
    return [p.name for p in files]


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


CACTUS_TRAIN = ["3fa2c1.jpg", "a0b9e7.jpg", "c11d2f.jpg", "0d5e44.jpg", "9f00aa.jpg", "e7e7e7.jpg"]
CACTUS_TEST = ["ff01.jpg", "0a02.jpg", "5b03.jpg"]  # the sample's order, deliberately not sorted


def cactus(root: Path, n_train: int = 6) -> Path:
    """Aerial Cactus: train.csv (ids with the extension, has_cactus 0/1), hashed names in train/."""
    train = CACTUS_TRAIN if n_train == 6 else [f"{i:06x}.jpg" for i in range(n_train)]
    for name in train:
        image(root / "train" / name)
    for name in CACTUS_TEST:
        image(root / "test" / name)
    write_csv(
        root / "train.csv", ["id", "has_cactus"], [(n, "1" if i % 3 else "0") for i, n in enumerate(train)]
    )
    write_csv(root / "sample_submission.csv", ["id", "has_cactus"], [(n, "0.5") for n in CACTUS_TEST])
    return root


def plant(root: Path, rows=None, sample: bool = True) -> Path:
    """Plant Pathology: one-hot columns, test.csv, and one images/ folder holding train and test."""
    columns = ["healthy", "multiple_diseases", "rust", "scab"]
    rows = rows or ["1000", "0010", "0001", "0100", "0010", "1000"]
    for i in range(len(rows)):
        image(root / "images" / f"Train_{i}.jpg")
    test = ["Test_2", "Test_0", "Test_1"]
    for name in test:
        image(root / "images" / f"{name}.jpg")
    write_csv(root / "train.csv", ["image_id", *columns], [(f"Train_{i}", *r) for i, r in enumerate(rows)])
    write_csv(root / "test.csv", ["image_id"], [(t,) for t in sorted(test)])
    if sample:
        write_csv(root / "sample_submission.csv", ["image_id", *columns], [(t, *["0.25"] * 4) for t in test])
    return root


def planet(root: Path) -> Path:
    """Planet: train_v2.csv of space-separated tags, train-jpg/ and test-jpg/, sample_submission_v2.csv."""
    tags = ["clear primary", "haze primary road", "clear primary road", "cloudy", "partly_cloudy primary"]
    for i in range(len(tags)):
        image(root / "train-jpg" / f"train_{i}.jpg")
    for i in range(2):
        image(root / "test-jpg" / f"test_{i}.jpg")
    write_csv(root / "train_v2.csv", ["image_name", "tags"], [(f"train_{i}", t) for i, t in enumerate(tags)])
    write_csv(
        root / "sample_submission_v2.csv", ["image_name", "tags"], [("test_1", "clear"), ("test_0", "clear")]
    )
    return root


def test_aerial_cactus_shape(tmp_path):
    comp = read_competition(cactus(tmp_path))
    assert comp.classes == ["0", "1"] and comp.task == "multiclass"
    assert names(comp.train_files) == CACTUS_TRAIN  # the CSV's order; hashed names are not label prefixes
    assert comp.train_labels.dtype == np.int64 and comp.train_labels.tolist() == [0, 1, 1, 0, 1, 1]
    assert comp.test_ids == CACTUS_TEST and names(comp.test_files) == CACTUS_TEST
    assert (comp.id_column, comp.label_column) == ("id", "has_cactus")
    assert comp.submission_columns == ("has_cactus",) and comp.sample_values == ("0.5",) * 3
    assert comp.description == (
        "labels from train.csv (id -> has_cactus: 2 classes), 6 images in train/, 3 test images in test/"
    )


def test_histopathologic_shape_with_tiff_images(tmp_path):
    ids = ["f38a6374", "c18f2d88", "755db6279", "bc3f50d5"]
    for i, name in enumerate(ids):
        image(tmp_path / "train" / f"{name}.{'tif' if i % 2 else 'tiff'}", shade=60 * i)
    for name in ("00006537", "0000ec92"):
        image(tmp_path / "test" / f"{name}.tif")
    write_csv(tmp_path / "train_labels.csv", ["id", "label"], [(n, str(i % 2)) for i, n in enumerate(ids)])
    write_csv(tmp_path / "sample_submission.csv", ["id", "label"], [("0000ec92", "0"), ("00006537", "0")])
    comp = read_competition(tmp_path)
    assert [p.stem for p in comp.train_files] == ids and comp.train_labels.tolist() == [0, 1, 0, 1]
    assert comp.test_ids == ["0000ec92", "00006537"] and names(comp.test_files)[0] == "0000ec92.tif"
    assert comp.description.startswith("labels from train_labels.csv (id -> label: 2 classes), 4 images")
    pixels = decode(comp.train_files[2], 8)  # PIL decodes TIFF like any other image
    assert pixels.shape == (3, 8, 8) and pixels[0, 0, 0] == 120


def test_dog_breed_shape_with_a_column_per_class(tmp_path):
    breeds = ["beagle", "pug", "akita", "pug", "beagle", "akita"]
    ids = [f"{i:04x}e1" for i in range(len(breeds))]
    for name in ids:
        image(tmp_path / "train" / f"{name}.jpg")
    for name in ("t1", "t2"):
        image(tmp_path / "test" / f"{name}.jpg")
    write_csv(tmp_path / "labels.csv", ["id", "breed"], zip(ids, breeds, strict=True))
    header = ["id", "akita", "beagle", "pug"]
    write_csv(
        tmp_path / "sample_submission.csv", header, [("t2", "0.3", "0.3", "0.4"), ("t1", "0.3", "0.3", "0.4")]
    )
    comp = read_competition(tmp_path)
    assert comp.classes == ["akita", "beagle", "pug"] and comp.train_labels.tolist() == [1, 2, 0, 2, 1, 0]
    assert comp.submission_columns == ("akita", "beagle", "pug") and comp.label_column == "akita"
    assert comp.test_ids == ["t2", "t1"] and comp.task == "multiclass"
    assert comp.description == (
        "labels from labels.csv (id -> breed: 3 classes), 6 images in train/, 2 test images in test/"
    )


def test_plant_pathology_shape_one_hot_with_train_and_test_in_one_folder(tmp_path, caplog):
    comp = read_competition(plant(tmp_path))
    assert comp.classes == ["healthy", "multiple_diseases", "rust", "scab"]  # the CSV's column order
    assert comp.train_labels.dtype == np.int64 and comp.train_labels.tolist() == [0, 2, 3, 1, 2, 0]
    assert names(comp.train_files) == [f"Train_{i}.jpg" for i in range(6)]
    assert comp.test_ids == ["Test_2", "Test_0", "Test_1"]  # the sample's order, not test.csv's
    assert [p.relative_to(tmp_path).as_posix() for p in comp.test_files][0] == "images/Test_2.jpg"
    assert comp.submission_columns == ("healthy", "multiple_diseases", "rust", "scab")
    assert comp.description == (
        "labels from train.csv (image_id -> healthy, multiple_diseases, rust, scab: 4 one-hot classes), "
        "6 images in images/, 3 test images in images/"
    )
    assert warnings(caplog) == []  # the test images in images/ are not images without a row


def test_plant_pathology_without_a_sample_takes_test_csv(tmp_path):
    comp = read_competition(plant(tmp_path, sample=False))
    assert comp.test_ids == ["Test_0", "Test_1", "Test_2"]
    assert comp.id_column == "image_id"  # the labels CSV's names
    # No sample to copy: one probability column per one-hot class, as the CSV names them.
    assert comp.submission_columns == ("healthy", "multiple_diseases", "rust", "scab")
    assert comp.sample_values == ()


def test_one_hot_rows_with_several_ones_are_multilabel(tmp_path):
    comp = read_competition(plant(tmp_path, rows=["1000", "0011", "0001", "0100"]))
    assert comp.task == "multilabel" and comp.multilabel
    assert comp.train_labels.dtype == np.uint8 and comp.train_labels.shape == (4, 4)
    assert comp.train_labels[1].tolist() == [0, 0, 1, 1]
    assert "4 one-hot tags, multi-label" in comp.description


def test_planet_shape_tags_with_task_multilabel(tmp_path):
    comp = read_competition(planet(tmp_path), keys(task="multilabel"))
    assert comp.classes == ["clear", "cloudy", "haze", "partly_cloudy", "primary", "road"]
    assert comp.task == "multilabel" and comp.train_labels.dtype == np.uint8
    assert comp.train_labels.tolist()[1] == [0, 0, 1, 0, 1, 1]  # haze primary road
    assert comp.test_ids == ["test_1", "test_0"] and comp.submission_columns == ("tags",)
    assert (comp.id_column, comp.label_column) == ("image_name", "tags")
    assert comp.description == (
        "labels from train_v2.csv (image_name -> tags: 6 tags, multi-label), 5 images in train-jpg/, "
        "2 test images in test-jpg/"
    )


def test_few_tag_sets_stay_classes_in_one_line_naming_data_task(tmp_path, caplog):
    # 5 word sets of 6 words: read as names; the line says so and how to read tags instead.
    with caplog.at_level(logging.INFO, logger="sweeplab.data.label_forms"):
        comp = read_competition(planet(tmp_path))
    assert comp.task == "multiclass" and len(comp.classes) == 5
    (message,) = [r.getMessage() for r in caplog.records]
    assert "read as one class each" in message and "set data.task=multilabel" in message
    assert "train_v2.csv" in message and "\n" not in message
    assert warnings(caplog) == [
        "labels of train_v2.csv read as one class each, 'clear primary' included "
        "(data.task=auto: few values against their words; if they are tags, set "
        "data.task=multilabel)"
    ]  # most rows hold a space: a warning


def tagged_planet(root: Path, tags: list[str], sample: str = "clear") -> Path:
    for i in range(len(tags)):
        image(root / "train-jpg" / f"train_{i}.jpg")
    image(root / "test-jpg" / "test_0.jpg")
    write_csv(root / "train_v2.csv", ["image_name", "tags"], [(f"train_{i}", t) for i, t in enumerate(tags)])
    write_csv(root / "sample_submission_v2.csv", ["image_name", "tags"], [("test_0", sample)])
    return root


# Every set of 3 tags but the full one, in shuffled order: 6 sets of 3 tags.
MANY_SETS = ["a", "b", "c", "a b", "b c", "c a", "b a", "c b"]


@pytest.mark.parametrize(
    ("case", "tags", "sample", "metric", "task", "said"),
    [
        ("many sets of few tags", MANY_SETS, "a", None, "multilabel", "6 different sets of 3 tags"),
        ("the sample writes tags", ["x y", "z", "x"], "z y", None, "multilabel", "sample submission writes"),
        ("a metric of tag sets", ["x y", "z", "x"], "x", "mean_f2", "multilabel", "data.metric=mean_f2"),
        ("a sample naming a class", ["x y", "z", "x"], "x y", None, "multiclass", "one class each"),
        (
            "class names with spaces",
            ["golden retriever", "labrador retriever", "pug", "golden retriever"],
            "pug",
            "accuracy",
            "multiclass",
            "'golden retriever' included",
        ),
    ],
)
def test_data_task_auto_reads_tags_by_a_stated_rule(tmp_path, caplog, case, tags, sample, metric, task, said):
    cfg = OmegaConf.create({"metric": metric})
    with caplog.at_level(logging.INFO, logger="sweeplab.data"):
        comp = read_competition(tagged_planet(tmp_path, tags, sample), cfg)
    assert comp.task == task, case
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and said in messages[0] and "data.task=" in messages[0], (case, messages)


def test_imagenet_class_names_stay_classes():
    """The rule on real names: ImageNet's 1,000 classes, 416 of them with spaces, read as names."""
    from torchvision.models import ResNet18_Weights

    from sweeplab.data.label_forms import tags_evidence

    names = ResNet18_Weights.DEFAULT.meta["categories"]
    assert sum(" " in n for n in names) == 416
    assert tags_evidence(names, " ") is None and tags_evidence(names[151:269], " ") is None


def test_aptos_shape_integer_grades(tmp_path):
    grades = ["2", "4", "1", "0", "3", "2", "0"]
    for i in range(len(grades)):
        image(tmp_path / "train_images" / f"{i:03x}c0de.png")
    for name in ("ab12", "cd34"):
        image(tmp_path / "test_images" / f"{name}.png")
    write_csv(
        tmp_path / "train.csv", ["id_code", "diagnosis"], [(f"{i:03x}c0de", g) for i, g in enumerate(grades)]
    )
    write_csv(tmp_path / "test.csv", ["id_code"], [("ab12",), ("cd34",)])
    write_csv(tmp_path / "sample_submission.csv", ["id_code", "diagnosis"], [("cd34", "0"), ("ab12", "0")])
    comp = read_competition(tmp_path)
    assert comp.classes == ["0", "1", "2", "3", "4"] and comp.train_labels.tolist() == [2, 4, 1, 0, 3, 2, 0]
    assert comp.test_ids == ["cd34", "ab12"] and comp.sample_values == ("0", "0")
    assert comp.description == (
        "labels from train.csv (id_code -> diagnosis: 5 classes), 7 images in train_images/, "
        "2 test images in test_images/"
    )


def test_humpback_shape(tmp_path):
    whales = ["w_f48451c", "new_whale", "w_c3d896a", "new_whale"]
    for i in range(len(whales)):
        image(tmp_path / "train" / f"{i:04x}b7.jpg")
    image(tmp_path / "test" / "660352b03.jpg")
    write_csv(tmp_path / "train.csv", ["Image", "Id"], [(f"{i:04x}b7.jpg", w) for i, w in enumerate(whales)])
    write_csv(tmp_path / "sample_submission.csv", ["Image", "Id"], [("660352b03.jpg", "new_whale w_1 w_2")])
    comp = read_competition(tmp_path)
    assert comp.classes == ["new_whale", "w_c3d896a", "w_f48451c"] and comp.train_labels.tolist() == [
        2,
        0,
        1,
        0,
    ]
    assert (comp.id_column, comp.label_column) == ("Image", "Id") and comp.test_ids == ["660352b03.jpg"]


@pytest.mark.parametrize(
    ("layout", "description"),
    [
        (
            "folders",
            "labels from class folders in train/ (2 classes), 24 images in train/, 10 test images in test/",
        ),
        (
            "flat",
            "labels from file names in train/ (LABEL.N: 2 classes), 24 images in train/, "
            "10 test images in test/",
        ),
    ],
    ids=["folders", "flat"],
)
def test_the_labs_layouts_describe_themselves(tmp_path, layout, description):
    comp = read_competition(make_competition(tmp_path / layout, layout=layout))
    assert comp.description == description and comp.task == "multiclass"
    assert comp.submission_columns == ("label",) and comp.sample_values == ("cat",) * 10


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["2", "10", "9", "0"], ["0", "2", "9", "10"]),  # integers as numbers
        (["b", "10", "9"], ["10", "9", "b"]),  # not all integers: as strings
        (["pug", "akita"], ["akita", "pug"]),
    ],
)
def test_class_order(names, expected):
    assert sort_classes(names) == expected


def test_integer_class_folders_sort_as_numbers(tmp_path):
    for label in ("9", "10"):
        for i in range(2):
            image(tmp_path / "train" / label / f"{label}_{i}.png")
    image(tmp_path / "test" / "1.png")
    comp = read_competition(tmp_path)
    assert comp.classes == ["9", "10"]
    # Files keep the folder-name order of before ("10" first), so existing cache keys still match.
    assert [p.parent.name for p in comp.train_files] == ["10", "10", "9", "9"]
    assert comp.train_labels.tolist() == [1, 1, 0, 0]


def test_the_sample_may_be_named_sampleSubmission_or_carry_a_version(tmp_path):
    root = planet(tmp_path)
    write_csv(root / "sample_submission.csv", ["image_name", "tags"], [("test_0", "clear")])  # v1, older
    assert read_competition(root, keys(task="multilabel")).test_ids == ["test_1", "test_0"]  # _v2 wins
    (root / "sample_submission.csv").unlink()
    (root / "sample_submission_v2.csv").rename(root / "sampleSubmission.csv")
    assert read_competition(root, keys(task="multilabel")).submission_columns == ("tags",)


# Keys: only to settle what discovery cannot.


def test_several_labels_csvs_are_one_line_until_data_labels_csv_picks_one(tmp_path):
    root = cactus(tmp_path)
    shutil.copy(root / "train.csv", root / "train_extra.csv")
    with pytest.raises(DataError) as info:
        read_competition(root)
    assert "could be the labels: train.csv, train_extra.csv; set data.labels_csv=" in str(info.value)
    assert read_competition(root, keys(labels_csv="train_extra.csv")).classes == ["0", "1"]


def test_label_column_not_found_lists_the_columns_and_the_key(tmp_path):
    root = cactus(tmp_path)
    rows = [(n, "1", f"{i}.5") for i, n in enumerate(CACTUS_TRAIN)]
    write_csv(root / "train.csv", ["id", "has_cactus_v1", "height"], rows)
    with pytest.raises(DataError) as info:
        read_competition(root)
    message = str(info.value)
    assert "label column of train.csv is not found: its columns are id, has_cactus_v1, height" in message
    assert "set data.label_column=" in message and "\n" not in message
    assert read_competition(root, keys(label_column="height")).classes[:2] == ["0.5", "1.5"]
    with pytest.raises(
        ConfigError, match="data.label_column: nope is not a column of train.csv; its columns"
    ):
        read_competition(root, keys(label_column="nope"))


def test_label_columns_are_the_samples_else_data_label_column_lists_the_one_hot_ones(tmp_path):
    root = plant(tmp_path)
    header, *rows = list(csv.reader((root / "train.csv").open()))
    write_csv(root / "train.csv", [*header, "notes"], [(*r, "leaf spots") for r in rows])
    assert read_competition(root).classes == ["healthy", "multiple_diseases", "rust", "scab"]
    (root / "sample_submission.csv").unlink()  # without the sample's columns, "notes" could be a label
    with pytest.raises(DataError, match="set data.label_column="):
        read_competition(root)
    comp = read_competition(root, keys(label_column=["healthy", "multiple_diseases", "rust", "scab"]))
    assert comp.classes == ["healthy", "multiple_diseases", "rust", "scab"] and comp.task == "multiclass"


def test_id_column_image_suffix_and_folder_keys(tmp_path):
    root = cactus(tmp_path)
    with pytest.raises(
        ConfigError, match="data.id_column=file is not a column of train.csv; its columns: id"
    ):
        read_competition(root, keys(labels_csv="train.csv", id_column="file"))
    for name in CACTUS_TRAIN:  # the same ids as PNG too: the suffix key picks
        image(root / "train" / name.replace(".jpg", ".png"))
    write_csv(
        root / "train.csv",
        ["id", "has_cactus"],
        [(n[:-4], "1" if i % 2 else "0") for i, n in enumerate(CACTUS_TRAIN)],
    )
    comp = read_competition(root, keys(image_suffix="png", max_corrupt_fraction=1.0))  # JPEGs: no row
    assert {p.suffix for p in comp.train_files} == {".png"}
    with pytest.raises(
        ConfigError, match="data.train_dir=nope: .* is not a folder; its folders: test, train"
    ):
        read_competition(root, keys(train_dir="nope"))


def test_train_dir_and_test_dir_keys_name_folders_discovery_would_not(tmp_path):
    root = make_competition(tmp_path / "c")
    (root / "train").rename(root / "training")
    (root / "test").rename(root / "holdout")
    (root / "sample_submission.csv").unlink()
    with pytest.raises(DataError, match="train is missing"):
        read_competition(root, keys(test_dir="holdout"))
    with pytest.raises(DataError, match="cannot tell the test images .* set data.test_dir="):
        read_competition(root, keys(train_dir="training"))
    comp = read_competition(root, keys(train_dir="training", test_dir="holdout"))
    assert comp.test_ids == [str(i) for i in range(1, 11)] and len(comp.train_files) == 24
    assert comp.description.endswith("24 images in training/, 10 test images in holdout/")


# Bad input: one line each, before anything is recorded.


def test_rows_without_images_and_images_without_rows_warn_once(tmp_path, caplog):
    root = cactus(tmp_path, n_train=20)
    (root / "train" / "000003.jpg").unlink()
    image(root / "train" / "stray.jpg")
    comp = read_competition(root)
    assert len(comp.train_files) == 19 and "000003.jpg" not in names(comp.train_files)
    (message,) = warnings(caplog)
    assert "1 of 20 rows of train.csv name no image in train/ (first: 000003.jpg)" in message
    assert "1 images in train/ have no row (first: stray.jpg)" in message
    with pytest.raises(DataError) as info:
        read_competition(root, keys(max_corrupt_fraction=0.01))
    assert "more than data.max_corrupt_fraction=0.01" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("shape", "breakage", "message"),
    [
        (
            cactus,
            lambda r: (r / "test" / "0a02.jpg").rename(r / "test" / "0a99.jpg"),
            "1 ids without an image (first: 0a02.jpg); 1 images without an id (first: 0a99.jpg)",
        ),
        (plant, lambda r: (r / "images" / "Test_0.jpg").unlink(), "1 ids without an image (first: Test_0)"),
        (cactus, lambda r: shutil.rmtree(r / "test"), "no folder of"),
    ],
)
def test_a_test_id_without_an_image(tmp_path, shape, breakage, message):
    root = shape(tmp_path)
    breakage(root)
    with pytest.raises(DataError) as info:
        read_competition(root)
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("rows", "cfg", "message"),
    [
        (
            ["1000", "0000", "0010", "0000"],
            {},
            "2 rows of train.csv have no 1 in the one-hot columns healthy",
        ),
        (["1000", "0011", "0010"], {"task": "multiclass"}, "have several 1s in healthy, multiple_diseases"),
        (
            ["1000", "0020", "0010"],
            {"label_column": ["healthy", "multiple_diseases", "rust", "scab"]},
            "one-hot column rust of train.csv holds '2' (id Train_1)",
        ),
    ],
)
def test_bad_one_hot_rows(tmp_path, rows, cfg, message):
    with pytest.raises(DataError) as info:
        read_competition(plant(tmp_path, rows=rows), keys(**cfg))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_empty_labels_are_refused(tmp_path):
    root = cactus(tmp_path)
    write_csv(
        root / "train.csv",
        ["id", "has_cactus"],
        [(n, "" if i == 2 else "1") for i, n in enumerate(CACTUS_TRAIN)],
    )
    with pytest.raises(DataError, match=r"1 rows of train.csv have no label \(first ids: c11d2f.jpg\)"):
        read_competition(root)


def test_a_csv_that_is_not_utf8_is_named(tmp_path):
    root = cactus(tmp_path)
    (root / "metadata.csv").write_bytes("id,caption\nx.jpg,Bäume\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"metadata.csv cannot be read as a UTF-8 CSV \("):
        read_competition(root)


def test_planets_test_ids_may_sit_in_a_second_test_folder(tmp_path):
    """Planet's sample lists test_* ids (test-jpg/) and file_* ids (test-jpg-additional/)."""
    root = planet(tmp_path)
    image(root / "test-jpg-additional" / "file_0.jpg")
    write_csv(
        root / "sample_submission_v2.csv",
        ["image_name", "tags"],
        [("test_1", "clear"), ("file_0", "clear"), ("test_0", "clear")],
    )
    comp = read_competition(root, keys(task="multilabel"))
    assert comp.test_ids == ["test_1", "file_0", "test_0"]
    assert [p.parent.name for p in comp.test_files] == ["test-jpg", "test-jpg-additional", "test-jpg"]
    assert comp.description.endswith("3 test images in test-jpg/ and test-jpg-additional/")


def test_an_id_column_no_csv_has_is_one_line_listing_the_columns(tmp_path):
    with pytest.raises(
        ConfigError, match=r"data.id_column=image is not a column of any CSV here \(train.csv: id"
    ):
        read_competition(cactus(tmp_path), keys(id_column="image"))


@pytest.mark.parametrize(
    ("name", "test_like"),
    [("test", True), ("test-jpg", True), ("test_images", True), ("stage1_test", True), ("contest", False)],
)
def test_test_folders_are_named_test_as_a_word(name, test_like):
    assert is_test_like(name) is test_like
