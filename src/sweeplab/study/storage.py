"""Optuna studies in a persistent storage (SQLite by default, PostgreSQL for many workers) and heartbeats.

Both processes use this module: the sweep opens the study here and beats for the trials it launches, a
trial's job (`study/job_side/`) opens the same storage and beats while it trains.
"""

import functools
import random
import threading
import time
import warnings
from pathlib import Path

from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from sqlalchemy.exc import IntegrityError, ProgrammingError

from sweeplab.errors import ConfigError
from sweeplab.protocol import GRACE_PERIOD_S, HEARTBEAT_INTERVAL_S
from sweeplab.runs.redact import redact
from sweeplab.runs.sqlite_lock import sqlite_setup_lock

# Heartbeats and stale-trial detection are "experimental" in Optuna 5, and chosen on purpose here.
warnings.filterwarnings("ignore", category=ExperimentalWarning)
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")

DEFAULT_STORAGE_FILE = Path("mlruns") / "optuna.db"
SCHEMA_RACE_RETRIES = 5
SQLITE_TIMEOUT = 60  # seconds a writer waits for SQLite's lock instead of failing "database is locked"


def default_storage_url() -> str:
    DEFAULT_STORAGE_FILE.parent.mkdir(exist_ok=True)
    return f"sqlite:///{DEFAULT_STORAGE_FILE.resolve()}"


def open_storage(
    url: str | None,
    heartbeat_interval: int = HEARTBEAT_INTERVAL_S,
    grace_period: int = GRACE_PERIOD_S,
    max_retry: int = 0,
) -> RDBStorage:
    """An RDB storage (SQLite by default, or any SQLAlchemy URL such as postgresql://) with heartbeats.

    Heartbeats are what let a resumed or concurrent sweep mark a killed trial FAIL (and retry it);
    Optuna implements them for RDB storages only, so the default is an SQLite file, not a journal.
    """
    return _open_storage(url or default_storage_url(), heartbeat_interval, grace_period, max_retry)


@functools.cache
def _open_storage(url: str, heartbeat_interval: int, grace_period: int, max_retry: int) -> RDBStorage:
    # One storage (one connection pool) per process and settings: every trial of an in-process sweep
    # opening its own would leave a pool of connections behind each, until PostgreSQL refuses more.
    engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT}} if url.startswith("sqlite") else {}
    for attempt in range(SCHEMA_RACE_RETRIES + 1):
        try:
            with sqlite_setup_lock(url):
                return RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
                    if max_retry
                    else None,
                )
        except (IntegrityError, ProgrammingError) as e:
            # Workers starting together on an empty database race to create Optuna's tables ("duplicate
            # key ... pg_type"): the loser tries again and finds them made.
            if attempt == SCHEMA_RACE_RETRIES:
                raise _unopenable(url, e) from e
            time.sleep(0.5 + random.random())
        except ImportError as e:  # Optuna wraps the driver's ModuleNotFoundError in an ImportError
            missing = e if isinstance(e, ModuleNotFoundError) else e.__cause__
            driver = getattr(missing, "name", None) or "that its URL names"
            raise ConfigError(
                f"hydra.sweeper.storage={redact(url)!r} needs the database driver {driver}: "
                "pip install 'sweeplab[postgres]' (psycopg, for postgresql://) or that driver"
            ) from e
        except Exception as e:  # SQLAlchemy raises many types for a bad URL, driver or server
            raise _unopenable(url, e) from e
    raise AssertionError("unreachable")


def _unopenable(url: str, error: Exception) -> ConfigError:
    return ConfigError(
        redact(f"hydra.sweeper.storage={url!r} cannot be opened: {type(error).__name__}: {error}")
    )


class Heartbeat:
    """Records the heartbeats of running trials from a daemon thread while their jobs train."""

    def __init__(self, storage: RDBStorage, trial_ids: list[int] | set[int]):
        # A set may change while it beats: a pool's running trials come and go.
        self.storage, self.trial_ids = storage, trial_ids
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="heartbeat")

    def _beat(self) -> None:
        while True:
            for trial_id in list(self.trial_ids):
                self.storage.record_heartbeat(trial_id)
            if self._stop.wait(self.storage.get_heartbeat_interval()):
                return

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
