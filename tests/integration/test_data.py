"""Competition folders, the image cache, corrupt files and the split."""

import os
import shutil

import numpy as np
import pytest
from omegaconf import OmegaConf

from helpers import compose_config, make_competition
from sweeplab.data import cache, channel_stats, dataset_fingerprint, load_data, stratified_split, train_subset
from sweeplab.data.competition import read_competition
from sweeplab.data.demo import materialise_demo
from sweeplab.data.images import decode_threads, load_images
from sweeplab.errors import ConfigError, DataError
from sweeplab.runs.migrate import migrate


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
    assert "2 ids without an image (first: 9, 3)" in str(info.value)
    assert "1 images without an id (first: 99)" in str(info.value)


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


def test_corrupt_images_are_skipped_with_one_warning(competition, tmp_path, caplog):
    bad = competition / "train" / "cat" / "0.png"
    bad.write_bytes(b"not an image")
    data = load_data(data_cfg(competition, tmp_path / "c", "data.max_corrupt_fraction=0.1"))
    # A log line, not a Python warning with a file and line number.
    messages = [r.getMessage() for r in caplog.records if "cannot be decoded" in r.getMessage()]
    assert all(r.levelname == "WARNING" for r in caplog.records if "cannot be decoded" in r.getMessage())
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


@pytest.mark.parametrize("fraction", [1.0, -0.1])
def test_bad_val_fraction(fraction):
    with pytest.raises(ConfigError, match="data.val_fraction"):
        stratified_split(np.array([0, 1, 0, 1]), fraction, seed=0)


def test_no_validation_trains_on_every_image():
    train, val = stratified_split(np.array([0, 1, 0, 1]), 0.0, seed=0)
    assert train.tolist() == [0, 1, 2, 3] and len(val) == 0


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


def test_a_cache_that_does_not_fit_is_refused_in_one_line(competition, tmp_path, monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(cache.shutil, "disk_usage", lambda path: usage._replace(free=10_000))
    with pytest.raises(DataError) as info:
        load_data(data_cfg(competition, tmp_path / "c", "data.img_size=64"))
    message = str(info.value)
    assert "\n" not in message
    assert "the cache entry needs 295.0 KB but" in message and "has 10.0 KB free" in message
    assert "data.cache_dir=" in message and "data.img_size= (now 64: 12 KB an image)" in message
    assert not (tmp_path / "c" / "images").exists()  # refused before anything was written


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    def fill(out, start):
        if start:
            raise OSError(28, "No space left on device")
        out[:] = 1
        return []

    with pytest.raises(OSError, match="No space left"):
        cache.cached_array(tmp_path, "k", (10, 4), np.uint8, fill, chunk_rows=5, desc="test")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.lock"]  # 0 bytes, locked by no one

    def no_room(fd, offset, length):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache.os, "posix_fallocate", no_room)
    with pytest.raises(DataError, match=r"needs 168 bytes but .* free; point data.cache_dir="):
        cache.cached_array(
            tmp_path, "k", (10, 4), np.uint8, fill, chunk_rows=5, desc="test", hint="point data.cache_dir="
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.lock"]


def test_decoding_threads_default_to_the_cores_this_process_may_use():
    assert compose_config([]).data.num_workers is None  # recorded as null: portable across machines
    assert decode_threads(None) == len(os.sched_getaffinity(0))
    assert decode_threads(3) == 3
    with pytest.raises(ConfigError, match="data.num_workers=0 must be at least 1, or null"):
        decode_threads(0)


@pytest.mark.parametrize(
    ("counts", "fraction", "kept"),
    [
        ((50, 30, 20), 0.2, (10, 6, 4)),
        ((50, 30, 20), 0.5, (25, 15, 10)),
        ((50, 3, 1), 0.1, (5, 1, 1)),  # at least one image of every class
        ((50, 30, 20), 1.0, (50, 30, 20)),
    ],
)
def test_train_subset_is_stratified_seeded_and_nested(counts, fraction, kept):
    labels = np.repeat(np.arange(len(counts)), counts)
    index = np.arange(0, len(labels))
    subset = train_subset(index, labels, fraction, seed=3)
    assert tuple(np.bincount(labels[subset])) == kept
    assert np.all(np.diff(subset) > 0) and set(subset) <= set(index)
    np.testing.assert_array_equal(subset, train_subset(index, labels, fraction, seed=3))  # every trial
    assert set(train_subset(index, labels, fraction / 2, seed=3)) <= set(subset)
    if fraction < 1:
        assert not np.array_equal(subset, train_subset(index, labels, fraction, seed=4))


def test_train_subset_leaves_validation_whole(competition, tmp_path):
    full = load_data(data_cfg(competition, tmp_path / "c"))
    part = load_data(data_cfg(competition, tmp_path / "c", "data.train_subset=0.5"))
    np.testing.assert_array_equal(part.val_index, full.val_index)
    assert set(part.train_index) < set(full.train_index)
    assert np.bincount(part.labels[part.train_index]).tolist() == [5, 5]  # 10 cats, 10 dogs train


@pytest.mark.parametrize("fraction", [0.0, 1.5, -0.2])
def test_train_subset_out_of_range_is_refused(competition, tmp_path, fraction):
    with pytest.raises(ConfigError, match=rf"data.train_subset={fraction} must be in \(0, 1\]"):
        load_data(data_cfg(competition, tmp_path / "c", f"data.train_subset={fraction}"))


def test_channel_stats_in_batches_match_one_float_copy(competition, tmp_path):
    data = load_data(data_cfg(competition, tmp_path / "c"))
    mean, std = channel_stats(data, batch_size=3)
    pixels = np.asarray(data.images[np.sort(data.train_index)], dtype=np.float32) / 255.0
    np.testing.assert_allclose(mean, pixels.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(std, pixels.std(axis=(0, 2, 3)) + 1e-6, rtol=1e-4)


def test_a_config_recorded_before_train_subset_trains_on_everything(competition, tmp_path):
    recorded = OmegaConf.create({"data": OmegaConf.to_container(data_cfg(competition, tmp_path / "c"))})
    del recorded.data["train_subset"]  # as an older run's config.yaml; `sweeplab rerun` migrates it
    migrated = migrate(recorded)
    assert migrated.data.train_subset == 1.0
    assert len(load_data(migrated.data).train_index) == 20


def test_the_demo_is_never_written_into_nor_trained_as_another_competition(competition, tmp_path):
    """data=demo data.root=DIR says where the demo is written: a folder holding a competition is refused."""
    before = sorted(p.relative_to(competition) for p in competition.rglob("*"))
    with pytest.raises(ConfigError, match="that folder holds something other than the demo; to train on it"):
        materialise_demo(competition)
    assert sorted(p.relative_to(competition) for p in competition.rglob("*")) == before
    assert not list(tmp_path.glob("*.tmp-*"))  # no half-written demo beside it
