"""`sweeplab cache`: every cache entry listed with its size and use; removal spares entries being built."""

import fcntl
import os
import time

from helpers import compose_config
from sweeplab.cli import main as sweeplab
from sweeplab.data import load_data
from sweeplab.data.cache_listing import entries


def test_cache_lists_removes_old_entries_and_spares_one_being_built(competition, tmp_path, capsys):
    cache_dir = tmp_path / "cache"
    overrides = ["data=kaggle", f"data.root={competition}", f"data.cache_dir={cache_dir}", "data.img_size=16"]
    load_data(compose_config(overrides).data)
    assert sweeplab(["cache", "--cache-dir", str(cache_dir)]) == 0
    out = capsys.readouterr().out
    train, test = sorted(entries(cache_dir), key=lambda e: "test" in e.what)
    assert out.startswith(f"{cache_dir}: 2 entries") and "used 0 min ago" in out
    assert f"images/{train.key}" in out and f"24 images of {competition / 'train'} at 16 px" in out
    old = time.time() - 40 * 86_400
    os.utime(cache_dir / "images" / f"{test.key}.json", (old, old))
    os.utime(cache_dir / "images" / f"{test.key}.npy", (old, old))
    assert sweeplab(["cache", "--cache-dir", str(cache_dir), "--older-than", "30"]) == 0
    assert "removed 1 entries" in capsys.readouterr().out
    assert [e.key for e in entries(cache_dir)] == [train.key]
    with (cache_dir / "images" / f"{train.key}.lock").open("a") as lock:  # a builder at work
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert sweeplab(["cache", "--cache-dir", str(cache_dir), "--clear"]) == 0
        out = capsys.readouterr().out
    assert "being built" in out and "kept 1 entries that a running process is building" in out
    assert [e.key for e in entries(cache_dir)] == [train.key]
    assert sweeplab(["cache", "--cache-dir", str(cache_dir), "--clear"]) == 0
    assert not entries(cache_dir) and "removed 1 entries" in capsys.readouterr().out
    assert sweeplab(["cache", "--cache-dir", str(cache_dir), "--older-than", "-1"]) == 2
