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


def _read_stdin(on_line: Callable[[bytes], None], on_eof: Callable[[], None], name: str) -> None:
    """Hand each stdin line (stripped) to *on_line*, then call *on_eof*, in a daemon thread."""

    def read() -> None:
        buf = b""
        try:
            while True:
                data = os.read(0, 65536)
                if not data:
                    break
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        on_line(line.strip())
        except OSError:
            pass
        on_eof()

    threading.Thread(target=read, name=name, daemon=True).start()


def _start_stdin_watchdog() -> None:
    """The controller holds our stdin open for the life of the attempt; EOF means it is gone.

    A `cancel` line on stdin is the portable SIGINT (an SSH channel cannot always carry signals).
    """

    def on_line(line: bytes) -> None:
        if line == b"cancel":
            os.kill(os.getpid(), signal.SIGINT)

    _read_stdin(on_line, _kill_own_group, "hyperdesk-watchdog")


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


def _redirect_stdout(watchdog: bool) -> _EventStream:
    """Keep the real stdout for events only; fd 1 and sys.stdout go to stderr from here on."""
    sys.stdout.flush()
    event_fd = os.dup(1)
    os.dup2(2, 1)  # fd 1 -> stderr for everything else, children included
    sys.stdout = sys.stderr
    return _EventStream(event_fd, _kill_own_group if watchdog else (lambda: None))


def _interruptible() -> None:
    def _sigterm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, _sigterm)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread (in-process tests): keep the defaults
        pass


def run_worker(plan_dir: str | Path, index: int, out: str | Path, attempt_id: str, *,
               watchdog: bool = False, heartbeat_s: float = HEARTBEAT_INTERVAL_S,
               render: Callable[..., Any] | None = None, faults: FaultPlan | None = None) -> int:
    """Run chunk `index` of `plan_dir` into `out`, printing protocol events; return the exit status.

    `render` defaults to hyperdesk.plan.render_chunk (tests may pass another callable with the
    same signature). With `watchdog`, EOF on stdin or a broken stdout kills the process group.
    `faults` (tests only) may stall the worker and is passed on to the render.
    """
    stream = _redirect_stdout(watchdog)
    if watchdog:
        _start_stdin_watchdog()
    _interruptible()
    if render is None:
        # Lazy: hyperdesk.plan.chunk takes ~0.4 s to import, and every CLI command imports this module
        # (for the worker's arguments) while only a worker renders.
        from hyperdesk.plan.chunk import render_chunk

        render = render_chunk
    return _attempt(stream, plan_dir, index, out, attempt_id, heartbeat_s, render, faults)


def _attempt(stream: _EventStream, plan_dir: str | Path, index: int, out: str | Path, attempt_id: str,
             heartbeat_s: float, render: Callable[..., Any], faults: FaultPlan | None) -> int:
    """One chunk attempt: accepted, heartbeats and progress, then done or failed; the exit status."""
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


def serve_worker(*, heartbeat_s: float = HEARTBEAT_INTERVAL_S, faults: FaultPlan | None = None,
                 recycle_after: int | None = None, memory_ceiling_mib: int | None = None) -> int:
    """`hyperdesk worker --serve`: a warm worker. Each stdin line is one attempt (JSON: plan_dir,
    index, output, attempt_id), run and reported exactly as `hyperdesk worker` would; the browser
    and page stay open for the next chunk of the same plan (`plan.chunk.WarmBrowser`). A `cancel`
    line interrupts the running attempt (the worker then exits); EOF on stdin while idle closes the
    browser and exits 0, while an attempt runs it kills the process group (the controller is gone).
    """
    import asyncio
    import json
    import queue

    from hyperdesk.plan.chunk import DEFAULT_MEMORY_CEILING, DEFAULT_RECYCLE_AFTER, WarmBrowser, render_chunk_async

    stream = _redirect_stdout(True)
    requests: queue.Queue[dict[str, Any] | None] = queue.Queue()
    busy = threading.Event()

    def on_line(line: bytes) -> None:
        if line == b"cancel":
            if busy.is_set():
                os.kill(os.getpid(), signal.SIGINT)
            return
        try:
            requests.put(json.loads(line))
        except ValueError:
            print(f"hyperdesk worker: not a request: {line[:200]!r}", file=sys.stderr, flush=True)

    def on_eof() -> None:
        if busy.is_set():
            _kill_own_group()
        requests.put(None)

    _read_stdin(on_line, on_eof, "hyperdesk-requests")
    _interruptible()
    warm = WarmBrowser(recycle_after or DEFAULT_RECYCLE_AFTER,
                       memory_ceiling_mib * 1024 * 1024 if memory_ceiling_mib else DEFAULT_MEMORY_CEILING)
    loop = asyncio.new_event_loop()

    def render(plan_dir: Path, index: int, out: Path, **kw: Any) -> Any:
        return loop.run_until_complete(render_chunk_async(plan_dir, index, out, warm=warm, **kw))

    status = EXIT_OK
    try:
        loop.run_until_complete(warm.prepare())  # a prestarted worker does it while the job is planned
        while True:
            request = requests.get()
            if request is None:
                break
            busy.set()
            try:
                status = _attempt(stream, request["plan_dir"], int(request["index"]), request["output"],
                                  str(request["attempt_id"]), heartbeat_s, render, faults)
            finally:
                busy.clear()
            if status == exit_status("CANCELLED"):
                break  # an interrupted loop is not reused
        return status
    finally:
        with contextlib.suppress(BaseException):
            loop.run_until_complete(warm.end())
        with contextlib.suppress(BaseException):
            loop.close()


def add_worker_arguments(parser: Any) -> None:
    parser.add_argument("plan_dir", nargs="?", help="the planDir")
    parser.add_argument("index", type=int, nargs="?", help="chunk index")
    parser.add_argument("-o", "--output", help="chunk output path")
    parser.add_argument("--attempt-id", help="attempt id given by the scheduler")
    parser.add_argument("--serve", action="store_true",
                        help="a warm worker: read one attempt per stdin line (JSON) and keep the browser "
                             "between chunks of the same plan")
    parser.add_argument("--recycle-after", type=int, default=None, metavar="N",
                        help="with --serve: restart the browser after N chunks")
    parser.add_argument("--memory-ceiling-mib", type=int, default=None, metavar="MIB",
                        help="with --serve: restart the browser when its processes hold more than MIB")
    parser.add_argument("--watchdog", action="store_true",
                        help="kill this worker's process group when stdin reaches EOF (controller gone)")
    parser.add_argument("--setsid", action="store_true",
                        help="start a new session first, so the worker leads its own process group")


def worker_command(args: Any) -> int:
    """`hyperdesk [--faults JSON] worker …`: the top-level --faults arrives as args.faults."""
    if getattr(args, "setsid", False):
        become_group_leader()
    if args.serve:
        return serve_worker(faults=getattr(args, "faults", None), recycle_after=args.recycle_after,
                            memory_ceiling_mib=args.memory_ceiling_mib)
    if args.plan_dir is None or args.index is None or not args.output or not args.attempt_id:
        raise HyperdeskError("INVALID_RENDER_CONFIG", "a worker needs PLAN_DIR INDEX -o OUTPUT --attempt-id ID "
                             "(or --serve)")
    return run_worker(args.plan_dir, args.index, args.output, args.attempt_id, watchdog=args.watchdog,
                      faults=getattr(args, "faults", None))


def become_group_leader() -> None:
    """setsid(2): a new session and process group led by this process (no-op if it leads one)."""
    with contextlib.suppress(OSError):  # already a session or group leader (e.g. exec'd straight from sshd)
        os.setsid()
    if os.getpgrp() != os.getpid():
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
