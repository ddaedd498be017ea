"""The image cache at full size: bounded memory, one builder per entry, kills, resumes, a full disk."""

import hashlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import CATS_DOGS, ROOT
from sweeplab.data.images import load_images

TESTS = ROOT / "tests"  # on the builder's path: it imports helpers.cache_pauses

# Builds in a fresh process, so its peak anonymous memory is the build's alone. argv: a file listing
# the images, the cache folder, img_size, rows per chunk, and the test's pauses (helpers.cache_pauses:
# after the lock is taken, after chunk K is written); prints the peak, the shape and a digest.
BUILDER = """
import hashlib, json, logging, sys
from pathlib import Path
import numpy as np
from helpers.cache_pauses import install_pauses
from sweeplab.data import images
from sweeplab.data.memory import PeakAnon

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
listing, cache_dir, img_size, rows, after_lock, after_chunk = sys.argv[1:]
install_pauses(after_lock, after_chunk)
files = [Path(line) for line in Path(listing).read_text().splitlines()]
if int(rows):
    images.CHUNK_BYTES = int(rows) * 3 * int(img_size) ** 2
with PeakAnon() as memory:
    pixels = images.load_images(files, int(img_size), Path(cache_dir), num_workers=2).pixels
    digest = hashlib.sha256()
    for start in range(0, len(pixels), 64):  # read in slices: no whole-array copy
        digest.update(np.ascontiguousarray(pixels[start : start + 64]).tobytes())
print(json.dumps({"growth": memory.growth, "shape": list(pixels.shape), "sha": digest.hexdigest()}))
"""


def make_photos(folder: Path, count: int, size: tuple[int, int] = (320, 240), seed: int = 0) -> list[Path]:
    """JPEGs that compress like photos (gradients plus noise), not like pure noise."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    files = []
    for i in range(count):
        base = np.linspace(0, 255, w)[None, :, None] * rng.random(3)[None, None, :]
        pixels = np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)
        files.append(folder / f"{i:05d}.jpg")
        Image.fromarray(pixels).save(files[-1], quality=85)
    return files


def listing(tmp_path: Path, files: list[Path], name: str = "files.txt") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(str(p) for p in files))
    return path


def start_builder(
    listing: Path, cache_dir: Path, img_size: int, rows: int = 0, after_lock: str = "", after_chunk: str = ""
) -> subprocess.Popen:
    """A builder process; after_lock=PATH or after_chunk=K:PATH pause it until PATH exists."""
    return subprocess.Popen(
        [
            sys.executable,
            "-u",
            "-c",
            BUILDER,
            *map(str, (listing, cache_dir, img_size, rows)),
            after_lock,
            after_chunk,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])),
        },
    )


class Lines:
    """A process's stderr, line by line, so a test can wait for a line (with a generous deadline)."""

    def __init__(self, proc: subprocess.Popen):
        self.seen: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, args=(proc.stderr,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, deadline_s: float = 120) -> str:
        while True:
            line = self._queue.get(timeout=deadline_s)
            assert line is not None, f"process ended before printing {text!r}:\n{''.join(self.seen)}"
            self.seen.append(line)
            if text in line:
                return line

    def rest(self) -> str:
        while (line := self._queue.get(timeout=120)) is not None:
            self.seen.append(line)
        return "".join(self.seen)


def finish(proc: subprocess.Popen, lines: Lines) -> tuple[dict, str]:
    out = proc.stdout.read()
    stderr = lines.rest()
    assert proc.wait(timeout=120) == 0, stderr
    return json.loads(out), stderr


def digest(pixels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()


@pytest.mark.slow  # ~10 s: builds 60 and 600 photos in subprocesses
def test_peak_memory_of_a_build_does_not_grow_with_the_number_of_images(tmp_path):
    files = make_photos(tmp_path / "photos", 600)  # ~4 s in all on two cores
    results = {}
    for n in (60, 600):
        proc = start_builder(listing(tmp_path, files[:n], f"{n}.txt"), tmp_path / "cache", 256)
        results[n], _ = finish(proc, Lines(proc))
        assert results[n]["shape"] == [n, 3, 256, 256]
    array_growth = (600 - 60) * 3 * 256 * 256  # 106 MB more pixels; the old in-RAM build held them all
    memory_growth = results[600]["growth"] - results[60]["growth"]
    assert memory_growth < array_growth / 10, (results, array_growth)
    # And the streamed build holds exactly what an in-RAM decode of the same files gives.
    assert results[600]["sha"] == digest(load_images(files, 256, None).pixels)


def test_streamed_chunks_equal_the_in_ram_decode_of_real_photos(tmp_path, monkeypatch):
    root = CATS_DOGS
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    files = sorted((root / "test").iterdir())[:50]
    monkeypatch.setattr("sweeplab.data.images.CHUNK_BYTES", 7 * 3 * 96 * 96)  # 8 chunks, the last short
    cached = load_images(files, 96, tmp_path / "c")
    assert isinstance(cached.pixels, np.memmap)
    np.testing.assert_array_equal(np.asarray(cached.pixels), load_images(files, 96, None).pixels)


@pytest.mark.slow  # ~5 s: two builder processes
def test_two_processes_on_a_cold_cache_decode_once(tmp_path):
    files = listing(tmp_path, make_photos(tmp_path / "photos", 30, (96, 72)))
    go = tmp_path / "go"
    first = start_builder(files, tmp_path / "cache", 64, after_lock=str(go))
    first_lines = Lines(first)
    first_lines.wait_for("paused until")  # the first process holds the lock
    second = start_builder(files, tmp_path / "cache", 64)
    second_lines = Lines(second)
    second_lines.wait_for(f"waiting for process {first.pid}")
    go.touch()
    first_out, first_err = finish(first, first_lines)
    second_out, second_err = finish(second, second_lines)
    assert "building cache entry" in first_err
    assert "building cache entry" not in second_err  # it waited, then read what the first built
    assert first_out["sha"] == second_out["sha"]


@pytest.mark.slow  # ~5 s: a builder killed and resumed
def test_a_killed_build_publishes_nothing_blocks_nothing_and_resumes(tmp_path):
    photos = make_photos(tmp_path / "photos", 40, (96, 72))
    files, go, folder = listing(tmp_path, photos), tmp_path / "never", tmp_path / "cache" / "images"
    builder = start_builder(files, tmp_path / "cache", 64, rows=8, after_chunk=f"2:{go}")
    lines = Lines(builder)
    lines.wait_for("chunk 2 written")
    builder.send_signal(signal.SIGKILL)
    builder.wait(timeout=60)
    assert not list(folder.glob("*.npy")) and not list(folder.glob("*[0-9a-f].json"))
    (progress,) = folder.glob("*.progress.json")
    assert json.loads(progress.read_text())["done"] == 16

    resumed = start_builder(files, tmp_path / "cache", 64, rows=8)  # would hang on a lock left held
    out, stderr = finish(resumed, Lines(resumed))
    assert "resuming cache entry" in stderr and "at row 16 of 40" in stderr
    assert "built cache entry" in stderr and ": 24 rows in" in stderr  # only what was left
    assert out["sha"] == digest(load_images(photos, 64, None).pixels)
    assert sorted(p.suffix for p in folder.iterdir()) == [".json", ".lock", ".npy"]
