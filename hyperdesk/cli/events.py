"""One JSON event per line on stdout, and nothing else there (plan-contract 9.1)."""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

PROTOCOL_VERSION = 1
_out = None


def _stream():
    """The real stdout; after the first call, print() and stray writes go to stderr instead."""
    global _out
    if _out is None:
        _out = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
    return _out


def emit(event: dict[str, Any]) -> None:
    payload = {"protocol": PROTOCOL_VERSION, "time": round(time.time(), 3), **event}
    stream = _stream()
    stream.write(json.dumps(payload, sort_keys=True) + "\n")
    stream.flush()


def json_progress():
    _stream()
    t0 = time.monotonic()

    def report(done: int, total: int) -> None:
        emit({"event": "progress", "frames_done": done, "frames_total": total,
              "fps": round(done / max(1e-6, time.monotonic() - t0), 2)})

    return report
