"""JSON event lines for scripts (`--json`): one object per line on stdout."""
from __future__ import annotations

import json
import sys
import time
from typing import Any

PROTOCOL_VERSION = 1


def emit(event: dict[str, Any]) -> None:
    payload = {"protocol": PROTOCOL_VERSION, "time": round(time.time(), 3), **event}
    sys.stdout.write(json.dumps(payload, sort_keys=True) + "\n")
    sys.stdout.flush()
