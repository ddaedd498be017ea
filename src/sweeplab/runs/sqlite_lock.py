"""One process at a time sets up an SQLite store: MLflow's and Optuna's schema migrations are not
safe against a second process migrating the same new file at the same moment."""

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


def sqlite_file(url: str) -> Path | None:
    """The database file of a sqlite:/// URL (query string dropped), or None for any other URL."""
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///").split("?", 1)[0])


@contextlib.contextmanager
def sqlite_setup_lock(url: str) -> Iterator[None]:
    """Holds an exclusive lock beside the database file of a sqlite:/// URL; other URLs pass straight."""
    database = sqlite_file(url)
    if database is None or not database.parent.is_dir():
        yield  # a missing folder is the store's own error to report
        return
    with open(database.with_name(database.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or when the process dies
        yield
