"""A `hyperdesk worker` that fails one chunk with a retryable code while a marker file exists.

Used as the local executor's worker command: with FLAKY_MARKER present and the chunk index equal
to FLAKY_CHUNK it reports BROWSER_CRASHED through the real worker protocol and exits 3; otherwise
it becomes the real worker (exec), so every other attempt is a real render.
"""
from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    marker = os.environ.get("FLAKY_MARKER", "")
    chunk = os.environ.get("FLAKY_CHUNK", "")
    index = argv[1] if len(argv) > 1 else ""
    if marker and os.path.exists(marker) and index == chunk:
        from hyperdesk.farm.protocol import AcceptedEvent, FailedEvent, dump_event
        from hyperdesk import __version__
        from hyperdesk.errors import HyperdeskError

        attempt = argv[argv.index("--attempt-id") + 1]
        print(dump_event(AcceptedEvent(attempt_id=attempt, chunk_index=int(index), pid=os.getpid(),
                                       pgid=os.getpgid(0), host="flaky", hyperdesk_version=__version__)), flush=True)
        err = HyperdeskError("BROWSER_CRASHED", "Chromium exited with signal 11 (injected by the test)")
        print("chromium: received signal 11", file=sys.stderr, flush=True)
        print(dump_event(FailedEvent.from_error(attempt, err, ["launching chromium", "received signal 11"])),
              flush=True)
        return 3
    os.execv(sys.executable, [sys.executable, "-m", "hyperdesk", "worker", *argv])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
