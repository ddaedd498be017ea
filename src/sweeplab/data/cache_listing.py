"""What the caches under data.cache_dir hold (images, features), and removing entries not in use."""

import contextlib
import fcntl
import json
import time
from dataclasses import dataclass
from pathlib import Path

from sweeplab.data.cache import size_text

DAY_S = 86_400


@dataclass
class Entry:
    kind: str  # the cache's folder: images, features, ...
    key: str
    files: list[Path]  # the array, its metadata and leftovers of a build
    size: int  # bytes on disk
    last_used: float  # seconds since the epoch: the metadata's mtime, touched by every read
    what: str
    building: bool  # a process holds its lock: never removed


def entries(cache_dir: Path) -> list[Entry]:
    """Every entry (complete or partly built) of every cache folder, most recently used first."""
    found = []
    for folder in sorted(p for p in Path(cache_dir).expanduser().glob("*") if p.is_dir()):
        keys = {p.name.split(".")[0] for p in folder.glob("*.npy*")}
        for key in sorted(keys):
            files = [p for p in folder.glob(f"{key}.*") if p.suffix != ".lock"]
            meta = folder / f"{key}.json"
            what = "partly built (resumes on the next run)"
            if meta.is_file() and (folder / f"{key}.npy").is_file():
                with contextlib.suppress(ValueError, OSError):
                    what = json.loads(meta.read_text()).get("what", "(built by an older sweeplab)")
            stamp = max(p.stat().st_mtime for p in files)
            size = sum(p.stat().st_blocks * 512 for p in files)  # allocated, as `du` counts
            found.append(Entry(folder.name, key, files, size, stamp, what, _locked(folder / f"{key}.lock")))
    return sorted(found, key=lambda e: -e.last_used)


def _locked(lock: Path) -> bool:
    """Whether a builder holds the entry's lock right now (the lock is released when it ends or dies)."""
    if not lock.exists():
        return False
    with lock.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def remove(entry: Entry) -> None:
    for path in entry.files:
        path.unlink(missing_ok=True)


def _ago(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min ago"
    if seconds < DAY_S:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / DAY_S:.0f} days ago"


def cache(cache_dir: Path, clear: bool = False, older_than: float | None = None) -> str:
    """The listing; with `clear` (all) or `older_than` (days since last use) removes entries first."""
    now = time.time()
    removed, kept_busy, freed = 0, 0, 0
    if clear or older_than is not None:
        for entry in entries(cache_dir):
            if older_than is not None and now - entry.last_used < older_than * DAY_S:
                continue
            if entry.building:
                kept_busy += 1
                continue
            remove(entry)
            removed, freed = removed + 1, freed + entry.size
    listed = entries(cache_dir)
    total = size_text(sum(e.size for e in listed))
    lines = [f"{Path(cache_dir).expanduser()}: {len(listed)} entries, {total}"]
    for e in listed:
        state = "being built" if e.building else f"used {_ago(now - e.last_used)}"
        lines.append(f"  {e.kind}/{e.key}  {size_text(e.size):>9}  {state:>20}  {e.what}")
    if clear or older_than is not None:
        lines.append(f"removed {removed} entries ({size_text(freed)})")
        if kept_busy:
            lines.append(f"kept {kept_busy} entries that a running process is building")
    return "\n".join(lines)
