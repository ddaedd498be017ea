"""A cache entry built once: one builder per key, streamed to disk, published by a rename.

Files of an entry `<key>` in its folder:
  <key>.npy            the array, memory-mapped by readers; present only when complete
  <key>.json           what the fill noted (e.g. rows that could not be decoded), published just before it
  <key>.lock           0 bytes; the builder holds an flock on it (the kernel drops it when the process
                       dies, so a killed builder never blocks the next one); left in place on purpose,
                       since unlinking a lock file lets two processes hold locks on different inodes
  <key>.npy.tmp        the array being written, space reserved up front (posix_fallocate)
  <key>.progress.json  rows written and flushed so far: a killed build resumes from there

Used for decoded images (sweeplab.data.images) and meant for any other per-row array (features).
"""

import contextlib
import errno
import fcntl
import io
import json
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from sweeplab.errors import DataError

log = logging.getLogger(__name__)

# A fill writes rows in place and returns notes (JSON values) about them, e.g. undecodable files.
Fill = Callable[[np.ndarray, int], list]


def size_text(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def no_room(folder: Path, needed: int, hint: str) -> DataError:
    free = shutil.disk_usage(_existing(folder)).free
    return DataError(
        f"the cache entry needs {size_text(needed)} but {folder} has {size_text(free)} free; {hint}"
    )


LOW_SPACE_SHARE = 0.10  # warn when an entry would leave less than a tenth of its disk free


def check_room(folder: Path, needed: int, hint: str) -> None:
    """Refuse in one line when the folder's disk has less free space than `needed` bytes; warn when the
    entry would leave less than 10% of the disk free."""
    usage = shutil.disk_usage(_existing(folder))
    if needed > usage.free:
        raise no_room(folder, needed, hint)
    if usage.free - needed < LOW_SPACE_SHARE * usage.total:
        log.warning(
            "the cache entry (%s) leaves %s free on the disk of %s (less than 10%%); "
            "`sweeplab cache --older-than DAYS` removes entries not used lately",
            size_text(needed),
            size_text(usage.free - needed),
            folder,
        )


def entry_bytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Size of the .npy file: header plus data."""
    header = io.BytesIO()
    descr = np.lib.format.dtype_to_descr(np.dtype(dtype))
    np.lib.format.write_array_header_1_0(header, {"descr": descr, "fortran_order": False, "shape": shape})
    return header.tell() + math.prod(shape) * np.dtype(dtype).itemsize


class CacheEntry:
    def __init__(self, folder: Path, key: str):
        self.folder, self.key = Path(folder), key
        self.array = self.folder / f"{key}.npy"
        self.meta = self.folder / f"{key}.json"
        self.lock = self.folder / f"{key}.lock"
        self.tmp = self.folder / f"{key}.npy.tmp"
        self.progress = self.folder / f"{key}.progress.json"

    def complete(self) -> bool:
        # The array is renamed into place after its metadata: a present .npy means both are complete.
        return self.array.is_file() and self.meta.is_file()

    def read(self) -> tuple[np.ndarray, list]:
        with contextlib.suppress(OSError):  # a read-only cache still reads
            os.utime(self.meta)  # last use, so `sweeplab cache --older-than` keeps what is still used
        return np.load(self.array, mmap_mode="r"), json.loads(self.meta.read_text())["notes"]

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the entry's build lock; wait (saying so) while another process holds it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.lock.open("a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or "?"
                log.info("waiting for process %s to finish cache entry %s", holder, self.key)
                fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0)
            f.truncate()
            f.write(str(os.getpid()))
            f.flush()
            try:
                yield
            finally:
                f.truncate(0)
                fcntl.flock(f, fcntl.LOCK_UN)

    def discard_partial(self) -> None:
        for path in (self.tmp, self.progress):
            path.unlink(missing_ok=True)

    def _resumable(self, shape: tuple[int, ...], dtype: np.dtype) -> tuple[np.ndarray, int, list] | None:
        """The partial array and its flushed rows, when the progress record matches this entry."""
        try:
            record = json.loads(self.progress.read_text())
            if (record["key"], tuple(record["shape"]), record["dtype"]) != (self.key, shape, str(dtype)):
                return None
            out = np.load(self.tmp, mmap_mode="r+")
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if out.shape != shape or out.dtype != dtype or not 0 <= record["done"] <= shape[0]:
            return None
        return out, record["done"], record["notes"]

    def _create(self, shape: tuple[int, ...], dtype: np.dtype, hint: str) -> np.ndarray:
        """A zeroed temp array with its disk space reserved, so a full disk is an error, not a SIGBUS."""
        check_room(self.folder, entry_bytes(shape, dtype), hint)
        out = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=dtype, shape=shape)
        size = self.tmp.stat().st_size
        fd = os.open(self.tmp, os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, size)
        except OSError as e:
            if e.errno == errno.ENOSPC:  # the free-space answer was stale or optimistic
                raise no_room(self.folder, size, hint) from None
            if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # no reservation on this filesystem
                raise
        finally:
            os.close(fd)
        return out

    def _record(self, shape: tuple[int, ...], dtype: np.dtype, done: int, notes: list) -> None:
        tmp = self.progress.with_suffix(".json.tmp")
        record = {"key": self.key, "shape": list(shape), "dtype": str(dtype), "done": done, "notes": notes}
        tmp.write_text(json.dumps(record))
        os.replace(tmp, self.progress)

    def _publish(self, shape: tuple[int, ...], what: str, notes: list) -> None:
        """Metadata first, then the array under its final name: a present .npy is a complete entry."""
        meta_tmp = self.meta.with_suffix(".json.tmp")
        # `what` says what the entry holds, for `sweeplab cache`; the meta file's mtime is its last use.
        meta_tmp.write_text(json.dumps({"key": self.key, "shape": list(shape), "what": what, "notes": notes}))
        os.replace(meta_tmp, self.meta)
        os.replace(self.tmp, self.array)  # publishes the entry
        self.progress.unlink(missing_ok=True)

    def build(
        self,
        shape: tuple[int, ...],
        dtype: np.dtype,
        fill: Fill,
        *,
        chunk_rows: int,
        desc: str,
        show_progress: bool | None,
        hint: str,
    ) -> None:
        """Write the entry chunk by chunk (call with the lock held); resumes a killed build."""
        try:
            resumed = self._resumable(shape, dtype)
            if resumed is None:
                self.discard_partial()
                out, done, notes = self._create(shape, dtype, hint), 0, []
            else:
                out, done, notes = resumed
                log.info("resuming cache entry %s at row %d of %d", self.key, done, shape[0])
            log.info("building cache entry %s: %s, %s", self.key, desc, size_text(entry_bytes(shape, dtype)))
            started, first = time.perf_counter(), done
            with tqdm(
                total=shape[0],
                initial=done,
                desc=desc,
                unit="img",
                disable=not (sys.stderr.isatty() if show_progress is None else show_progress),
                dynamic_ncols=True,
            ) as bar:
                for start in range(done, shape[0], chunk_rows):
                    stop = min(start + chunk_rows, shape[0])
                    notes += fill(out[start:stop], start)
                    out.flush()  # rows on disk before the record says so
                    self._record(shape, dtype, stop, notes)
                    bar.update(stop - start)
            out.flush()
            del out
            self._publish(shape, desc, notes)
        except Exception:
            # A failed write (disk, permissions, a bug) leaves nothing behind. An interrupt or a kill
            # keeps the temp file and its progress record, so the next start resumes.
            self.discard_partial()
            raise
        seconds = time.perf_counter() - started
        log.info(
            "built cache entry %s: %d rows in %.1f s (%.0f rows/s)",
            self.key,
            shape[0] - first,
            seconds,
            (shape[0] - first) / max(seconds, 1e-9),
        )


def cached_array(
    folder: Path,
    key: str,
    shape: tuple[int, ...],
    dtype: np.dtype,
    fill: Fill,
    *,
    chunk_rows: int,
    desc: str,
    show_progress: bool | None = None,
    hint: str = "",
) -> tuple[np.ndarray, list]:
    """The entry's memory-mapped array and notes, built by exactly one process when missing."""
    entry = CacheEntry(folder, key)
    if entry.complete():
        log.info("reusing cache entry %s: %s", key, desc)
        return entry.read()
    dtype = np.dtype(dtype)
    if not entry.tmp.exists():  # a partial entry already holds its space (another builder's or to resume)
        check_room(entry.folder, entry_bytes(shape, dtype), hint)
    with entry.locked():
        if not entry.complete():  # another process may have built it while this one waited
            entry.build(
                tuple(shape),
                dtype,
                fill,
                chunk_rows=chunk_rows,
                desc=desc,
                show_progress=show_progress,
                hint=hint,
            )
    return entry.read()
