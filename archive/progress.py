"""Progress of a run: a live line on a terminal (files, windows, rate, time left) and a log line every N files."""

from __future__ import annotations

import logging
import math
import sys
import time
from datetime import timedelta
from typing import Any

logger = logging.getLogger("archive")


def _eta(seconds: float) -> str:
    return str(timedelta(seconds=int(seconds))) if math.isfinite(seconds) and seconds < 1e9 else "?"


class Progress:
    """Counts finished files; draws a tqdm bar on a terminal and logs every ``log_every`` files."""

    def __init__(self, total: int, log_every: int = 100, show: bool | None = None, what: str = "files") -> None:
        self.total, self.log_every, self.what = total, max(1, log_every), what
        self.done = self.failed = self.windows = 0
        self.t0 = time.perf_counter()
        self._bar = None
        if (sys.stderr.isatty() if show is None else show) and total:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=" files" if what == "files" else f" {what}",
                             smoothing=0.1, file=sys.stderr)

    def rate(self) -> float:
        elapsed = time.perf_counter() - self.t0
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        rate = self.rate()
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        elapsed = time.perf_counter() - self.t0
        return (f"{self.done}/{self.total} {self.what} ({self.failed} failed), {self.windows} windows, "
                f"{rate:.2f} {self.what}/s, {self.windows / elapsed if elapsed > 0 else 0:.1f} windows/s, "
                f"elapsed {_eta(elapsed)}, left {_eta(left)}")

    def update(self, entry: dict[str, Any]) -> None:
        self.done += 1
        self.failed += entry.get("status") == "failed"
        self.windows += int(entry.get("windows") or 0)
        if self._bar is not None:
            self._bar.set_postfix_str(f"{self.windows} windows, {self.failed} failed", refresh=False)
            self._bar.update(1)
        if self.done % self.log_every == 0 or self.done == self.total:
            logger.info("%s", self.line())

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
