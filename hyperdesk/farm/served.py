"""A served worker: one `hyperdesk worker --serve`, kept between a slot's attempts.

The local pool runs it as a subprocess, an SSH node over one channel; both read its event stream
the same way. Each attempt `begin()`s: the worker's events go to that attempt's callbacks, and the
attempt's future settles on its `DoneEvent`/`FailedEvent`, on a protocol error, or when the stream
ends without either (what that means is the transport's to say: `_ended()`). Between attempts the
callbacks are cleared and the worker waits, idle, for the next request line.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from hyperdesk.errors import HyperdeskError
from hyperdesk.farm.executor import EventCallback, LogCallback
from hyperdesk.farm.protocol import DoneEvent, FailedEvent, parse_event

STDERR_TAIL = 40  # the worker's last log lines, kept for a failure's details


def attempt_request(plan_dir: str, index: int, output: str, attempt_id: str) -> str:
    """One attempt for `hyperdesk worker --serve`: the JSON line its stdin reads (farm/worker.py)."""
    return json.dumps({"plan_dir": plan_dir, "index": index, "output": output, "attempt_id": attempt_id}) + "\n"


class ServedWorker:
    """Reads a served worker's events and log lines; subclasses give the transport."""

    def __init__(self, proc: Any) -> None:
        self.proc = proc
        self.tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        self.on_event: EventCallback | None = None
        self.on_log: LogCallback | None = None
        self.final: asyncio.Future[Any] | None = None
        self.readers = [asyncio.ensure_future(self._read_events()), asyncio.ensure_future(self._read_log())]

    # ---- the transport's part ----------------------------------------------------------------

    def _event_lines(self) -> AsyncIterator[bytes | str]:
        """The worker's stdout, line by line, until it ends."""
        raise NotImplementedError

    def _log_lines(self) -> AsyncIterator[bytes | str]:
        """The worker's stderr, line by line, until it ends."""
        raise NotImplementedError

    async def _ended(self) -> object:
        """What an attempt in progress settles with when the event stream has ended without its
        result (called once the log has ended too, or 2 s later)."""
        raise NotImplementedError

    def _protocol_error(self) -> None:
        """A line that is not an event: nothing more of this worker is believed (hook)."""

    def _seen(self, event: Any) -> None:
        """Every event, before the attempt's callback sees it (hook)."""

    @property
    def alive(self) -> bool:
        return not self.readers[0].done()

    # ---- attempts ----------------------------------------------------------------------------

    def begin(self, on_event: EventCallback, on_log: LogCallback | None) -> asyncio.Future[Any]:
        """Start an attempt: its events go to *on_event*; the future settles with its last event."""
        self.tail.clear()
        self.on_event, self.on_log = on_event, on_log
        self.final = asyncio.get_running_loop().create_future()
        return self.final

    def end_attempt(self) -> None:
        self.on_event = self.on_log = None

    def stop_reading(self) -> None:
        for r in self.readers:
            r.cancel()

    def close(self) -> None:
        """Let go of this worker: stop reading it (a transport may also end its channel)."""
        self.stop_reading()

    def _settle(self, outcome: object) -> None:
        final = self.final
        if final is not None and not final.done():
            if isinstance(outcome, BaseException):
                final.set_exception(outcome)
            else:
                final.set_result(outcome)

    async def _read_events(self) -> None:
        try:
            async for raw in self._event_lines():
                if not raw.strip():
                    continue
                try:
                    event = parse_event(raw)
                except HyperdeskError as err:
                    self._protocol_error()
                    self._settle(err)
                    return
                self._seen(event)
                if self.on_event is not None:
                    self.on_event(event)
                if isinstance(event, (DoneEvent, FailedEvent)):
                    self._settle(event)
        finally:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self.readers[1]), 2.0)
            self._settle(await self._ended())

    async def _read_log(self) -> None:
        async for raw in self._log_lines():
            line = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw).rstrip()
            if line:
                self.tail.append(line)
                if self.on_log:
                    self.on_log(line)


W = TypeVar("W", bound=ServedWorker)


def take_idle(idle: list[W]) -> W | None:
    """The most recently idle worker of *idle* that is still alive; the dead ones are dropped."""
    while idle:
        worker = idle.pop()
        if worker.alive:
            return worker
        worker.close()
    return None
