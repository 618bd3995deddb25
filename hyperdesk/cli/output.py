"""How commands speak: typed errors on stderr, JSON lines on stdout (`--json`), notes on stderr."""
from __future__ import annotations

import json
import sys
import time
from typing import Any

from pydantic import BaseModel

from hyperdesk.errors import HyperdeskError

PROTOCOL_VERSION = 1


def emit_json(payload: dict[str, Any]) -> None:
    """One object per line on stdout, with the envelope every `--json` line carries."""
    line = {"protocol": PROTOCOL_VERSION, "time": round(time.time(), 3), **payload}
    sys.stdout.write(json.dumps(line, sort_keys=True) + "\n")
    sys.stdout.flush()


def emit_event(event: BaseModel) -> None:
    """An event of hyperdesk.farm.events as a `--json` line (`event` is its type)."""
    data = event.model_dump(mode="json")
    kind = data.pop("type")
    data.pop("v", None)
    data.pop("t", None)
    emit_json({"event": kind, **data})


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def print_error(err: HyperdeskError, stream: Any = None) -> None:
    stream = stream or sys.stderr
    print(f"error {err.code}: {err.message}", file=stream)
    if err.hint:
        print(f"  hint: {err.hint}", file=stream)
    work = err.details.get("work_dir")
    if work:
        print(f"  work dir (kept for diagnosis): {work}", file=stream)
