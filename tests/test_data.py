"""Competition folders, the image cache, corrupt files and the split."""

import os
import shutil
import warnings

import numpy as np
import pytest

from conftest import compose_config, make_competition
from sweeplab.data import dataset_fingerprint, load_data, stratified_split
from sweeplab.data.competition import read_competition
from sweeplab.data.demo import materialise_demo
from sweeplab.data.images import load_images
from sweeplab.errors import ConfigError, DataError


def data_cfg(root, cache_dir, *extra):
    return compose_config(
        ["data=kaggle", f"data.root={root}", f"data.cache_dir={cache_dir}", "data.img_size=16", *extra]
    ).data


@pytest.mark.parametrize("layout", ["folders", "flat"])
def test_both_train_layouts_read_the_same_labels(tmp_path, layout):
    comp = read_competition(make_competition(tmp_path / layout, layout=layout))
    assert comp.classes == ["cat", "dog"]
    assert len(comp.train_files) == 24
    assert sorted(comp.train_labels) == [0] * 12 + [1] * 12
    for path, label in zip(comp.train_files, comp.train_labels, strict=True):
        assert comp.classes[label] in str(path.relative_to(comp.root / "train"))


def test_test_ids_follow_the_sample_submission(competition):
    comp = read_competition(competition)
    assert comp.test_ids == [str(i) for i in range(10, 0, -1)]
    assert [p.stem for p in comp.test_files] == comp.test_ids
    assert (comp.id_column, comp.label_column) == ("id", "label")
    assert comp.solution_path == competition / "solution.csv"


def test_without_sample_submission_ids_sort_naturally(competition):
    (competition / "sample_submission.csv").unlink()
    assert read_competition(competition).test_ids == [str(i) for i in range(1, 11)]


def test_sample_submission_mismatch_names_ids(competition):
    (competition / "test" / "3.jpg").unlink()
    (competition / "test" / "9.jpg").rename(competition / "test" / "99.jpg")
    with pytest.raises(DataError) as info:
        read_competition(competition)
    assert "ids without an image: ['9', '3']" in str(info.value)
    assert "images without an id: ['99']" in str(info.value)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda root: shutil.rmtree(root), "does not exist; set data.root"),
        (lambda root: shutil.rmtree(root / "train"), "train is missing"),
        (lambda root: [p.unlink() for p in (root / "test").iterdir()], "test holds no images"),
        (lambda root: [shutil.rmtree(p) for p in (root / "train").iterdir()], "train holds no images"),
    ],
)
def test_bad_folders_name_the_path_and_layout(competition, breakage, message):
    breakage(competition)
    with pytest.raises(DataError) as info:
        read_competition(competition)
    assert message in str(info.value) and str(competition) in str(info.value)
    assert "expected a competition folder with train/" in str(info.value)


def test_unlabelled_flat_names_are_an_unknown_layout(tmp_path):
    root = make_competition(tmp_path / "c", layout="flat")
    for i, path in enumerate(sorted((root / "train").iterdir())):
        path.rename(path.with_name(f"{i}.jpg"))
    with pytest.raises(DataError, match="cannot read labels from the file names"):
        read_competition(root)


def test_mixed_layout_is_refused(competition):
    shutil.copy(next((competition / "train" / "cat").iterdir()), competition / "train" / "cat.999.jpg")
    with pytest.raises(DataError, match="mixes class folders"):
        read_competition(competition)


def test_missing_root_for_kaggle_data():
    cfg = compose_config(["data=kaggle"]).data
    with pytest.raises(ConfigError, match="data.root is not set: pass data.root="):
        load_data(cfg)


def test_cache_is_reused_then_invalidated_by_a_changed_file(competition, tmp_path):
    cache = tmp_path / "cache"
    first = load_data(data_cfg(competition, cache))
    cached = sorted((cache / "images").glob("*.npy"))
    assert len(cached) == 2  # train and test
    stamps = {p: p.stat().st_mtime_ns for p in cached}
    second = load_data(data_cfg(competition, cache))
    assert second.cache_keys == first.cache_keys
    assert {p: p.stat().st_mtime_ns for p in cached} == stamps  # read, not rewritten
    assert isinstance(second.images, np.memmap)
    np.testing.assert_array_equal(np.asarray(second.images), np.asarray(first.images))

    changed = next((competition / "train" / "dog").iterdir())
    changed.write_bytes(changed.read_bytes())  # same bytes, new mtime
    os.utime(changed, ns=(1, 1))
    third = load_data(data_cfg(competition, cache))
    assert third.cache_keys[0] != first.cache_keys[0]
    assert third.cache_keys[1] == first.cache_keys[1]  # test images untouched
    assert len(list((cache / "images").glob("*.npy"))) == 3
    assert third.fingerprint != first.fingerprint
    # What a rerun recomputes to compare with the recorded fingerprint:
    assert third.fingerprint == dataset_fingerprint(third.competition)


def test_img_size_is_part_of_the_cache_key(competition, tmp_path):
    a = load_data(data_cfg(competition, tmp_path / "c"))
    b = load_data(data_cfg(competition, tmp_path / "c", "data.img_size=24"))
    assert a.cache_keys != b.cache_keys and b.images.shape[1:] == (3, 24, 24)


def test_uncached_decoding_matches_the_cache(competition, tmp_path):
    comp = read_competition(competition)
    cached = load_images(comp.test_files, 16, tmp_path / "c")
    fresh = load_images(comp.test_files, 16, None)
    np.testing.assert_array_equal(np.asarray(cached.pixels), fresh.pixels)
    assert fresh.pixels.dtype == np.uint8 and fresh.pixels.shape == (10, 3, 16, 16)


def test_corrupt_images_are_skipped_with_one_warning(competition, tmp_path):
    bad = competition / "train" / "cat" / "0.png"
    bad.write_bytes(b"not an image")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_data(data_cfg(competition, tmp_path / "c", "data.max_corrupt_fraction=0.1"))
    messages = [str(w.message) for w in caught if "cannot be decoded" in str(w.message)]
    assert len(messages) == 1 and "1 of 24 train images" in messages[0] and str(bad) in messages[0]
    assert data.corrupt == [bad]
    assert len(data.train_index) + len(data.val_index) == 23
    bad_row = read_competition(competition).train_files.index(bad)
    assert bad_row not in set(data.train_index) | set(data.val_index)


def test_too_many_corrupt_images_stop_the_run(competition, tmp_path):
    for path in list((competition / "train" / "cat").iterdir())[:3]:
        path.write_bytes(b"\xff\xd8 truncated jpeg")
    with pytest.raises(DataError) as info:
        load_data(data_cfg(competition, tmp_path / "c", "data.max_corrupt_fraction=0.05"))
    assert "3 of 24 train images" in str(info.value) and "data.max_corrupt_fraction=0.05" in str(info.value)


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5])
def test_split_is_stratified_seeded_and_disjoint(fraction):
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    train, val = stratified_split(labels, fraction, seed=3)
    assert not set(train) & set(val) and len(train) + len(val) == 100
    for label, count in ((0, 50), (1, 30), (2, 20)):
        assert (labels[val] == label).sum() == round(count * fraction)
    again, _ = stratified_split(labels, fraction, seed=3)
    other, _ = stratified_split(labels, fraction, seed=4)
    np.testing.assert_array_equal(train, again)
    assert not np.array_equal(train, other)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_bad_val_fraction(fraction):
    with pytest.raises(ConfigError, match="data.val_fraction"):
        stratified_split(np.array([0, 1, 0, 1]), fraction, seed=0)


def test_demo_is_a_complete_competition(tmp_path):
    root = materialise_demo(tmp_path / "digits")
    comp = read_competition(root)
    assert comp.classes == [str(d) for d in range(10)]
    assert len(comp.train_files) + len(comp.test_files) == 1797
    assert 0.28 < len(comp.test_files) / 1797 < 0.32
    solution = (root / "solution.csv").read_text().splitlines()
    assert solution[0] == "id,label,Usage" and len(solution) == len(comp.test_files) + 1
    assert {line.rsplit(",", 1)[1] for line in solution[1:]} == {"Public", "Private"}
    assert materialise_demo(root) == root  # second call reuses it
