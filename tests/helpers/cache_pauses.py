"""Test-only pauses in a cache build (no timing in tests): installed in the builder process by the test.

The builder waits, after taking the entry's lock or after writing chunk K, until a named file exists, and
says so on stderr, so a test can start a second builder or kill this one at exactly that point.
"""

import logging
import os
import time

from sweeplab.data import cache

log = logging.getLogger("helpers.cache_pauses")


def pause_until(path: str, why: str) -> None:
    log.warning("test hook: %s, paused until %s exists", why, path)
    while not os.path.exists(path):
        time.sleep(0.02)


def install_pauses(after_lock: str = "", after_chunk: str = "") -> None:
    """after_lock=PATH: before building (the lock is held); after_chunk=K:PATH: once chunk K is on disk."""
    if after_lock:
        build = cache.CacheEntry.build

        def paused_build(self, *args, **kwargs):
            pause_until(after_lock, f"lock on cache entry {self.key} taken")
            return build(self, *args, **kwargs)

        cache.CacheEntry.build = paused_build
    if after_chunk:
        chunk, _, path = after_chunk.partition(":")
        record, written = cache.CacheEntry._record, []

        def paused_record(self, *args, **kwargs):
            record(self, *args, **kwargs)  # the chunk's rows and progress are on disk now
            written.append(1)
            if len(written) == int(chunk):
                pause_until(path, f"chunk {chunk} written")

        cache.CacheEntry._record = paused_record
