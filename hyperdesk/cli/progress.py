"""A live progress bar for people: frames, frames/s, ETA (on a terminal, redrawn in place)."""
from __future__ import annotations

import sys
import time


class ProgressBar:
    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total = total
        self.done_by_chunk: dict[int, int] = {}
        self.t0 = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.enabled = enabled
        self._last = 0.0

    def update(self, chunk: int, done: int, force: bool = False) -> None:
        self.done_by_chunk[chunk] = done
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < (0.2 if self.tty else 5.0):
            return
        self._last = now
        done_all = sum(self.done_by_chunk.values())
        elapsed = max(1e-6, now - self.t0)
        rate = done_all / elapsed
        eta = (self.total - done_all) / rate if rate > 0 else float("inf")
        width = 30
        filled = int(width * done_all / max(1, self.total))
        eta_txt = f"{eta:5.0f}s" if eta != float("inf") else "    ?"
        line = f"[{'#' * filled}{'.' * (width - filled)}] {done_all}/{self.total} frames  {rate:5.1f} fps  ETA {eta_txt}"
        if self.tty:
            sys.stderr.write("\r" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def clear(self) -> None:
        """Erase the bar so a log line can be printed above it."""
        if self.enabled and self.tty:
            sys.stderr.write("\r\033[K")

    def close(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")
