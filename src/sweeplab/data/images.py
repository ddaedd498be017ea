"""Decode and resize images once, streamed into a memory-mapped uint8 NCHW array on disk."""

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sweeplab.data.cache import cached_array
from sweeplab.errors import ConfigError
from sweeplab.offline import decode, usable_cores

CACHE_FORMAT = 2  # bump when the stored layout, its metadata or the resize method changes
CHUNK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class ImageArray:
    pixels: np.ndarray  # (N, 3, img_size, img_size) uint8, memory-mapped when cached
    corrupt: list[Path]  # files that could not be decoded (their rows are zeros)
    cache_key: str


def file_stamps(files: list[Path]) -> list[bytes]:
    """Every file's resolved path, size and modification time: any change to a file changes its stamp."""
    stamps = []
    for path in files:
        stat = path.stat()
        stamps.append(f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return stamps


def hash_stamps(stamps: list[bytes]) -> str:
    digest = hashlib.sha256()
    for stamp in stamps:
        digest.update(stamp)
    return digest.hexdigest()


def fingerprint(files: list[Path]) -> str:
    """Hash of every file's path, size and modification time: any change gives a new key."""
    return hash_stamps(file_stamps(files))


def decode_threads(num_workers: int | None) -> int:
    """Decoding threads: data.num_workers, or (None) every core this process may run on."""
    if num_workers is None:
        return usable_cores()
    if num_workers < 1:
        raise ConfigError(
            f"data.num_workers={num_workers} must be at least 1, or null for every core this process may use"
        )
    return num_workers


def chunk_rows(img_size: int) -> int:
    """Images per chunk: what is written, flushed and recorded (for a resume) at a time."""
    # ~64 MB a chunk (113 images at 444 px): dirty pages stay few, a resume loses under a second of work.
    return max(1, min(512, CHUNK_BYTES // (3 * img_size * img_size)))


def _filler(files: list[Path], img_size: int, pool: ThreadPoolExecutor):
    """Decode files[start:start+len(out)] into out's rows; return the paths that cannot be decoded."""

    def decode_row(out: np.ndarray, row: int, path: Path) -> bool:
        image = decode(path, img_size)
        out[row] = 0 if image is None else image  # rows of a resumed chunk may hold old bytes
        return image is not None

    def fill(out: np.ndarray, start: int) -> list[str]:
        # PIL releases the GIL while decoding and resizing, so threads scale without pickling arrays;
        # each thread writes its row in place, so no more than one image per thread is held in RAM.
        rows = range(len(out))
        ok = pool.map(lambda row: decode_row(out, row, files[start + row]), rows)
        return [str(files[start + row]) for row, good in zip(rows, ok, strict=True) if not good]

    return fill


def _folder_of(files: list[Path]) -> str:
    """The folder the files share (train/, test/ or the competition), for messages and `sweeplab cache`."""
    return os.path.commonpath([str(p.parent) for p in files]) if files else "-"


def load_images(
    files: list[Path],
    img_size: int,
    cache_dir: Path | None,
    num_workers: int | None = None,
    stamps: list[bytes] | None = None,
    show_progress: bool | None = None,
) -> ImageArray:
    """Decoded images, from the cache when its key (file fingerprint + img_size) matches."""
    files_hash = hash_stamps(file_stamps(files) if stamps is None else stamps)
    key = hashlib.sha256(f"{files_hash}:{img_size}:{CACHE_FORMAT}".encode()).hexdigest()[:24]
    shape, rows = (len(files), 3, img_size, img_size), chunk_rows(img_size)
    with ThreadPoolExecutor(max_workers=decode_threads(num_workers)) as pool:
        fill = _filler(files, img_size, pool)
        if cache_dir is None:
            pixels, corrupt = np.zeros(shape, dtype=np.uint8), []
            for start in range(0, len(files), rows):
                corrupt += fill(pixels[start : start + rows], start)
            return ImageArray(pixels, [Path(p) for p in corrupt], key)
        pixels, corrupt = cached_array(
            Path(cache_dir).expanduser() / "images",
            key,
            shape,
            np.uint8,
            fill,
            chunk_rows=rows,
            desc=f"{len(files)} images of {_folder_of(files)} at {img_size} px",
            show_progress=show_progress,
            hint=(
                f"point data.cache_dir= at a disk with room, or lower data.img_size= "
                f"(now {img_size}: {3 * img_size * img_size / 1e3:.0f} KB an image)"
            ),
        )
    return ImageArray(pixels, [Path(p) for p in corrupt], key)
