"""The page's uncaught script errors: Chromium's ``pageerror`` events and the runtime's own list
(``window.__hd.errors``, read back by every readiness poll and seek). The first new one fails the
step with ``PAGE_SCRIPT_ERROR``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from hyperdesk.errors import HyperdeskError


class PageErrors:
    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self._events: list[dict[str, Any]] = []
        self._events_seen = 0
        # How many entries of window.__hd.errors were read: the page scripts return only later ones.
        self.runtime_seen = 0

    def record(self, err: Any) -> dict[str, Any]:
        """Keep a ``pageerror`` event (its message and the first stack frame as the source)."""
        message = getattr(err, "message", None) or str(err)
        stack = getattr(err, "stack", None) or ""
        source = None
        for line in stack.splitlines()[1:]:
            line = line.strip()
            if line.startswith("at "):
                source = line[3:]
                break
        entry = {"message": message, "source": source, "stack": stack}
        self._events.append(entry)
        return entry

    def check(self, runtime_errors: list | None = None) -> None:
        """Raise for the first error not seen yet: events first, then *runtime_errors* (the new
        entries of ``window.__hd.errors`` a page script returned)."""
        new = self._events[self._events_seen:]
        self._events_seen = len(self._events)
        hd_new = list(runtime_errors or [])
        self.runtime_seen += len(hd_new)
        first = (new or hd_new or [None])[0]
        if first is None:
            return
        message = first.get("message") or "unknown error"
        source = first.get("source")
        raise HyperdeskError(
            "PAGE_SCRIPT_ERROR",
            f"Uncaught page script error: {message}" + (f" ({source})" if source else ""),
            details={"message": message, "source": source, "errors": (new + hd_new)[:20],
                     "work_dir": str(self.work_dir)},
        )
