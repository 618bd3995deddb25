"""`hyperdesk worker`: run one chunk attempt in this process and report it as protocol events.

stdout carries events and nothing else: at start the real stdout is duplicated for the event
stream and file descriptor 1 is pointed at stderr, so a stray print, a library warning or a child
process (Chromium, ffmpeg) can never corrupt the stream.

A test's FaultPlan (`hyperdesk --faults JSON worker …`) can make the worker stall after some
frames (stall_after_frames, only in the first worker that creates stall_once_path when that is
set); the rest of the plan goes on to the chunk render.
"""
from __future__ import annotations

import collections
import contextlib
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hyperdesk import __version__
from hyperdesk.errors import HyperdeskError, exit_status, unexpected_error
from hyperdesk.farm.protocol import (
    HEARTBEAT_INTERVAL_S,
    AcceptedEvent,
    DoneEvent,
    FailedEvent,
    HeartbeatEvent,
    ProgressEvent,
    dump_event,
)
from hyperdesk.faults import FaultPlan

EXIT_OK = 0
LOG_TAIL_LINES = 20


class _EventStream:
    """Serialises events from the main and heartbeat threads onto the saved stdout descriptor."""

    def __init__(self, fd: int, on_broken: Callable[[], None]) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        self._on_broken = on_broken
        self.silenced = threading.Event()  # set by a stall fault: nothing more is sent
        self.last_sent = time.monotonic()

    def send(self, event: Any) -> None:
        if self.silenced.is_set():
            return
        data = (dump_event(event) + "\n").encode("utf-8")
        with self._lock:
            try:
                view = memoryview(data)
                while view:
                    n = os.write(self._fd, view)
                    view = view[n:]
                self.last_sent = time.monotonic()
            except OSError:
                # The reader is gone (controller crashed, SSH channel closed): nobody will
                # collect this attempt's result, so stop its process tree now.
                self._on_broken()


def _kill_own_group() -> None:
    """Kill this worker's process group (Chromium, ffmpeg and itself) when it leads one."""
    try:
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
    except OSError:
        pass
    os._exit(exit_status("CANCELLED"))


def _start_stdin_watchdog() -> None:
    """The controller holds our stdin open for the life of the attempt; EOF means it is gone.

    A `cancel` line on stdin is the portable SIGINT (an SSH channel cannot always carry signals).
    """

    def watch() -> None:
        buf = b""
        try:
            while True:
                data = os.read(0, 4096)
                if not data:
                    break
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip() == b"cancel":
                        os.kill(os.getpid(), signal.SIGINT)
        except OSError:
            pass
        _kill_own_group()

    threading.Thread(target=watch, name="hyperdesk-watchdog", daemon=True).start()


def _log_tail(details: dict[str, Any]) -> list[str]:
    """The last lines of the attempt's logs (ffmpeg, browser), for the failed event."""
    work = details.get("work_dir")
    lines: list[str] = []
    if work:
        logs = Path(work) / "logs"
        try:
            files = sorted(p for p in logs.iterdir() if p.is_file())
        except OSError:
            files = []
        for path in files:
            try:
                tail = path.read_text("utf-8", "replace").splitlines()[-LOG_TAIL_LINES:]
            except OSError:
                continue
            lines.extend(f"{path.name}: {line}" for line in tail if line.strip())
    return lines[-LOG_TAIL_LINES:]


def _stall_claimed(once_path: str | None) -> bool:
    """Does this worker stall? Always without a once-path, else only if it creates that file first."""
    if not once_path:
        return True
    try:
        fd = os.open(once_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except OSError:  # FileExistsError included: another worker stalled already
        return False
    os.close(fd)
    return True


def run_worker(plan_dir: str | Path, index: int, out: str | Path, attempt_id: str, *,
               watchdog: bool = False, heartbeat_s: float = HEARTBEAT_INTERVAL_S,
               render: Callable[..., Any] | None = None, faults: FaultPlan | None = None) -> int:
    """Run chunk `index` of `plan_dir` into `out`, printing protocol events; return the exit status.

    `render` defaults to hyperdesk.plan.render_chunk (tests may pass another callable with the
    same signature). With `watchdog`, EOF on stdin or a broken stdout kills the process group.
    `faults` (tests only) may stall the worker and is passed on to the render.
    """
    sys.stdout.flush()
    event_fd = os.dup(1)
    os.dup2(2, 1)  # fd 1 -> stderr for everything else, children included
    sys.stdout = sys.stderr
    stream = _EventStream(event_fd, _kill_own_group if watchdog else (lambda: None))
    if watchdog:
        _start_stdin_watchdog()

    def _sigterm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, _sigterm)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread (in-process tests): keep the defaults
        pass

    state = {"frames_done": 0}
    finished = threading.Event()
    window: collections.deque[tuple[float, int]] = collections.deque(maxlen=12)
    last_progress = [0.0]
    stall_after = faults.stall_after_frames if faults is not None else None
    stall_once = faults.stall_once_path if faults is not None else None

    def heartbeat() -> None:
        while not finished.wait(heartbeat_s):
            stream.send(HeartbeatEvent(attempt_id=attempt_id, frames_done=state["frames_done"]))

    def progress(frames_done: int, frames_total: int) -> None:
        now = time.monotonic()
        state["frames_done"] = frames_done
        window.append((now, frames_done))
        if len(window) >= 2 and window[-1][0] > window[0][0]:
            fps = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])
        else:
            fps = 0.0
        # At most 10 progress events a second; the last frame is always reported.
        if frames_done == frames_total or now - last_progress[0] >= 0.1:
            last_progress[0] = now
            stream.send(ProgressEvent(attempt_id=attempt_id, frames_done=frames_done,
                                      frames_total=frames_total, fps=round(fps, 3)))
        if stall_after is not None and frames_done >= stall_after and _stall_claimed(stall_once):
            stream.silenced.set()
            print(f"hyperdesk worker: test fault stalls attempt {attempt_id} after {frames_done} frames",
                  file=sys.stderr, flush=True)
            while True:  # hang like a wedged page would; only a kill ends this
                time.sleep(3600)

    beat = threading.Thread(target=heartbeat, name="hyperdesk-heartbeat", daemon=True)
    try:
        stream.send(AcceptedEvent(attempt_id=attempt_id, chunk_index=index, pid=os.getpid(),
                                  pgid=os.getpgrp(), host=socket.gethostname(), hyperdesk_version=__version__))
        beat.start()
        if render is None:
            # Lazy: hyperdesk.plan.chunk takes ~0.4 s to import, and every CLI command imports this module
            # (for the worker's arguments) while only a worker renders.
            from hyperdesk.plan.chunk import render_chunk

            render = render_chunk
        result = render(Path(plan_dir), index, Path(out), attempt_id=attempt_id, progress=progress, faults=faults)
        finished.set()
        stream.send(DoneEvent(attempt_id=attempt_id, result=result))
        return EXIT_OK
    except HyperdeskError as err:
        finished.set()
        stream.send(FailedEvent.from_error(attempt_id, err, _log_tail(err.details)))
        return err.exit_status  # the same status as every other command (errors.CODES)
    except KeyboardInterrupt:
        finished.set()
        cancelled = HyperdeskError("CANCELLED", f"chunk {index} was cancelled")
        stream.send(FailedEvent.from_error(attempt_id, cancelled, []))
        return cancelled.exit_status
    except Exception as exc:  # a bug is still reported as an event, never as a bare traceback
        finished.set()
        tb = traceback.format_exc().splitlines()[-LOG_TAIL_LINES:]
        print("\n".join(tb), file=sys.stderr, flush=True)
        internal = unexpected_error(exc, Path(out).parent)
        stream.send(FailedEvent.from_error(attempt_id, internal, tb))
        return internal.exit_status
    finally:
        finished.set()


def add_worker_arguments(parser: Any) -> None:
    parser.add_argument("plan_dir", help="the planDir")
    parser.add_argument("index", type=int, help="chunk index")
    parser.add_argument("-o", "--output", required=True, help="chunk output path")
    parser.add_argument("--attempt-id", required=True, help="attempt id given by the scheduler")
    parser.add_argument("--watchdog", action="store_true",
                        help="kill this worker's process group when stdin reaches EOF (controller gone)")
    parser.add_argument("--setsid", action="store_true",
                        help="start a new session first, so the worker leads its own process group")


def worker_command(args: Any) -> int:
    """`hyperdesk [--faults JSON] worker …`: the top-level --faults arrives as args.faults."""
    if getattr(args, "setsid", False):
        become_group_leader()
    return run_worker(args.plan_dir, args.index, args.output, args.attempt_id, watchdog=args.watchdog,
                      faults=getattr(args, "faults", None))


def become_group_leader() -> None:
    """setsid(2): a new session and process group led by this process (no-op if it leads one)."""
    with contextlib.suppress(OSError):  # already a session or group leader (e.g. exec'd straight from sshd)
        os.setsid()
    if os.getpgrp() != os.getpid():
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
