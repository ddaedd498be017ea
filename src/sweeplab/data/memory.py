"""Peak anonymous memory of this process, sampled: what a build or a job really holds in RAM.

RSS also counts the pages of memory-mapped files, which the kernel can drop at will (a 2,000-image
cache read once shows 1.1 GB of RSS and 14 MB of RssAnon), so RssAnon is the measure here.
"""

import threading
from pathlib import Path

STATUS = Path("/proc/self/status")


def rss_anon() -> int:
    """Bytes of anonymous resident memory of this process now (0 where /proc is absent)."""
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024  # reported in kB
    except OSError:
        pass
    return 0


class PeakAnon:
    """Context manager: `peak` and `baseline` RssAnon (bytes) while the block ran, sampled every 10 ms."""

    def __init__(self, interval_s: float = 0.01):
        self.interval_s = interval_s
        self.baseline = self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak = max(self.peak, rss_anon())

    def __enter__(self) -> "PeakAnon":
        self.baseline = self.peak = rss_anon()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_anon())

    @property
    def growth(self) -> int:
        """Peak minus the RssAnon at the start of the block."""
        return self.peak - self.baseline
