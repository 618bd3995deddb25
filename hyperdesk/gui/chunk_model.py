"""The chunk table: one row per chunk of the open job, on a QAbstractTableModel.

Columns are data (CueGUI's vocabulary: state, node, attempt, runtime, time since the last event,
the last log line, ETA) and the model is fed farm events. Events only mutate plain Python rows and
mark them dirty; a 150 ms timer turns the dirty set into one `dataChanged` per contiguous run of
rows, so ten thousand progress events cost a handful of repaints (OpenCue #1850, Tribler #6686).
Time-based columns (elapsed, ETA, since last event) are refreshed once a second for running rows.
"""
from __future__ import annotations

import collections
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

from PySide6.QtCore import (QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel, Qt,
                            QTimer, Signal)
from PySide6.QtGui import QFontDatabase

from hyperdesk.errors import CODES
from hyperdesk.farm import events as fe
from hyperdesk.store.models import AttemptRecord, ChunkRecord, JobRecord
from hyperdesk.gui.theme import fmt_duration, state_color

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 2  # (fraction 0..1, state) for the progress delegate
ROW_ROLE = Qt.ItemDataRole.UserRole + 3  # the ChunkRow itself
COPY_ROLE = Qt.ItemDataRole.UserRole + 4  # the full text a copy action puts on the clipboard
CELL_ROLE = Qt.ItemDataRole.UserRole + 5  # (text, colour or None, alignment, monospace) for CellDelegate

LOG_TAIL_LINES = 400
FLUSH_MS = 150
CLOCK_MS = 1000

DisplayRole = Qt.ItemDataRole.DisplayRole
ToolTipRole = Qt.ItemDataRole.ToolTipRole
ForegroundRole = Qt.ItemDataRole.ForegroundRole
TextAlignmentRole = Qt.ItemDataRole.TextAlignmentRole
FontRole = Qt.ItemDataRole.FontRole
# data() is called thousands of times per repaint: compare plain ints, answer unknown roles first.
_DISPLAY, _TOOLTIP, _FOREGROUND, _ALIGN, _FONT = (int(r.value) for r in (DisplayRole, ToolTipRole, ForegroundRole,
                                                                          TextAlignmentRole, FontRole))
_SORT, _PROGRESS, _ROW, _COPY, _CELL = (int(getattr(r, "value", r))
                                         for r in (SORT_ROLE, PROGRESS_ROLE, ROW_ROLE, COPY_ROLE, CELL_ROLE))
_SERVED = frozenset({_DISPLAY, _TOOLTIP, _FOREGROUND, _ALIGN, _FONT, _SORT, _PROGRESS, _ROW, _COPY, _CELL})
_LEFT = int((Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter).value)

_RIGHT = int((Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter).value)
_ROOT = QModelIndex()  # the invalid index: the default parent of rowCount() and columnCount()


@dataclass
class AttemptInfo:
    attempt_id: str
    number: int
    node: str
    started_at: float
    ended_at: float | None = None
    outcome: str = "running"  # running, done, failed, superseded, lost
    code: str | None = None
    message: str | None = None
    frames_done: int = 0


@dataclass
class ChunkRow:
    index: int
    start: int
    end: int
    state: str = "waiting"  # waiting, running, done, failed (retrying = waiting after a failure)
    node: str = ""
    attempt: int = 0
    attempt_id: str | None = None
    frames_done: int = 0
    frames_total: int = 0
    fps: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    last_event_at: float | None = None
    last_line: str = ""
    sha256: str = ""
    output_path: str = ""
    error: dict[str, Any] | None = None
    retrying: bool = False
    attempts: list[AttemptInfo] = field(default_factory=list)
    log: collections.deque = field(default_factory=lambda: collections.deque(maxlen=LOG_TAIL_LINES))

    @property
    def frames(self) -> int:
        return self.end - self.start

    @property
    def display_state(self) -> str:
        return "retrying" if self.state == "waiting" and self.retrying else self.state

    def fraction(self) -> float:
        if self.state == "done":
            return 1.0
        total = self.frames_total or self.frames
        return min(1.0, self.frames_done / total) if total else 0.0

    def elapsed(self, now: float) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at if self.finished_at is not None else now
        return max(0.0, end - self.started_at)

    def eta(self) -> float | None:
        if self.state != "running" or self.fps <= 0:
            return None
        total = self.frames_total or self.frames
        return max(0.0, (total - self.frames_done) / self.fps)

    def since_event(self, now: float) -> float | None:
        if self.last_event_at is None or self.state not in ("running",):
            return None
        return max(0.0, now - self.last_event_at)

    def attempt_by_id(self, attempt_id: str) -> AttemptInfo | None:
        for a in reversed(self.attempts):
            if a.attempt_id == attempt_id:
                return a
        return None


def error_summary(code: str, message: str) -> str:
    """One line for a chunk's failure: `CODE: first line of the message`."""
    first = (message or "").strip().splitlines()[0] if (message or "").strip() else ""
    return f"{code}: {first}" if first else code


@dataclass(frozen=True)
class Column:
    id: str
    title: str
    width: int
    display: Callable[[ChunkRow, float], Any]
    sort_key: Callable[[ChunkRow, float], Any]
    tooltip: Callable[[ChunkRow, float], str | None] | None = None
    align: int | None = None
    timed: bool = False  # changes with the clock while the chunk runs


def _none_last(value: float | None) -> float:
    return float("inf") if value is None else value


def _short(text: str, n: int = 12) -> str:
    return text[:n]


def _frames_text(r: ChunkRow, _now: float) -> str:
    return f"{r.start}–{r.end - 1}"


def _error_tip(r: ChunkRow, _now: float) -> str | None:
    if not r.error:
        return None
    tip = f"{r.error.get('code')}: {r.error.get('message', '')}"
    if r.error.get("hint"):
        tip += f"\nhint: {r.error['hint']}"
    return tip


STATE_ORDER = {"failed": 0, "running": 1, "retrying": 2, "waiting": 3, "done": 4}

COLUMNS: list[Column] = [
    Column("index", "#", 40, lambda r, n: r.index, lambda r, n: r.index, align=_RIGHT),
    Column("frames", "Frames", 72, _frames_text, lambda r, n: r.start,
           tooltip=lambda r, n: f"frames {r.start} to {r.end - 1} ({r.frames} frames)"),
    Column("state", "State", 70, lambda r, n: r.display_state, lambda r, n: STATE_ORDER.get(r.display_state, 9),
           tooltip=_error_tip),
    Column("node", "Node", 80, lambda r, n: r.node, lambda r, n: r.node),
    Column("attempt", "Try", 36, lambda r, n: r.attempt or "", lambda r, n: r.attempt, align=_RIGHT,
           tooltip=lambda r, n: f"attempt {r.attempt} ({r.attempt_id})" if r.attempt_id else None),
    Column("progress", "Progress", 110, lambda r, n: f"{r.frames_done}/{r.frames_total or r.frames}",
           lambda r, n: r.fraction()),
    Column("fps", "fps", 46, lambda r, n: f"{r.fps:.1f}" if r.fps and r.state == "running" else "",
           lambda r, n: r.fps, align=_RIGHT),
    Column("elapsed", "Elapsed", 60, lambda r, n: fmt_duration(r.elapsed(n)), lambda r, n: _none_last(r.elapsed(n)),
           align=_RIGHT, timed=True),
    Column("eta", "ETA", 52, lambda r, n: fmt_duration(r.eta()), lambda r, n: _none_last(r.eta()), align=_RIGHT),
    Column("since", "Silent", 56, lambda r, n: fmt_duration(r.since_event(n)),
           lambda r, n: -1.0 if r.since_event(n) is None else r.since_event(n), align=_RIGHT, timed=True,
           tooltip=lambda r, n: "time since this chunk's worker last reported (heartbeat, progress or log)"),
    Column("last_line", "Last line", 260, lambda r, n: r.last_line, lambda r, n: r.last_line,
           tooltip=lambda r, n: r.last_line or None),
    Column("sha256", "sha256", 100, lambda r, n: _short(r.sha256), lambda r, n: r.sha256,
           tooltip=lambda r, n: r.sha256 or None),
    Column("error", "Error", 170, lambda r, n: (r.error or {}).get("code", ""),
           lambda r, n: (r.error or {}).get("code", ""), tooltip=_error_tip),
]
COLUMN_IDS = [c.id for c in COLUMNS]
TIMED_COLUMNS = [i for i, c in enumerate(COLUMNS) if c.timed]
_NCOLS = len(COLUMNS)
_PROGRESS_COL = COLUMN_IDS.index("progress")
_ERROR_COLOR = state_color("failed")


def column_index(column_id: str) -> int:
    return COLUMN_IDS.index(column_id)


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """The contiguous runs (first, last) of sorted row numbers: one dataChanged per run."""
    runs: list[tuple[int, int]] = []
    for n in rows:
        if runs and n == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    return runs


class ChunkTableModel(QAbstractTableModel):
    """Rows of the open job's chunks; `apply(event)` is cheap, repaints are paced by a timer."""

    summaryChanged = Signal(dict)  # counts by state (done, running, waiting, failed) + frames
    rowsFlushed = Signal(list)  # chunk indices whose rows changed in this flush

    def __init__(self, parent: QObject | None = None, *, flush_ms: int = FLUSH_MS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self.job_id: str | None = None
        self.rows: list[ChunkRow] = []
        self._n = 0
        self._display: dict[int, list[str]] = {}
        self._row_of: dict[int, int] = {}
        self._dirty: set[int] = set()
        self._clock = clock
        self._mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self._counts: dict[str, int] = {"done": 0, "running": 0, "waiting": 0, "failed": 0}
        self._suspended = False
        # statistics, read by tests and benchmarks/gui_model.py
        self.flush_count = 0
        self.flush_seconds = 0.0
        self.data_changed_count = 0
        self.events_applied = 0
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(flush_ms)
        self._flush_timer.timeout.connect(self.flush)
        self._clock_timer = QTimer(self)
        self._clock_timer.setInterval(CLOCK_MS)
        self._clock_timer.timeout.connect(self._tick)

    # ---- structure ----------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else self._n

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else _NCOLS

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(COLUMNS):
            if role == DisplayRole:
                return COLUMNS[section].title
            if role == ToolTipRole:
                col = COLUMNS[section]
                return col.tooltip(ChunkRow(0, 0, 1), 0.0) if col.id == "since" and col.tooltip else None
        elif orientation == Qt.Orientation.Vertical and role == DisplayRole:
            return section
        return None

    def _texts(self, n: int) -> list[str]:
        """Display strings of row n, computed once per change (clock columns once a second)."""
        texts = self._display.get(n)
        if texts is None:
            r, now = self.rows[n], self._clock()
            texts = ["" if c.id == "progress" else str(c.display(r, now)) for c in COLUMNS]
            self._display[n] = texts
        return texts

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = DisplayRole) -> Any:
        if role not in _SERVED:
            return None
        n = index.row()
        if n < 0:
            return None
        c = index.column()
        if role == _CELL:
            col = COLUMNS[c]
            r = self.rows[n]
            color = None
            if col.id == "state":
                color = state_color(r.display_state)
            elif col.id == "error":
                color = _ERROR_COLOR
            return (self._texts(n)[c], color, col.align or _LEFT, col.id == "sha256")
        if role == _DISPLAY:
            return None if c == _PROGRESS_COL else self._texts(n)[c]
        r = self.rows[n]
        col = COLUMNS[c]
        if role == _PROGRESS:
            return (r.fraction(), r.display_state, self._texts(n)[c] if c != _PROGRESS_COL else
                    col.display(r, 0.0))
        if role == _SORT:
            return col.sort_key(r, self._clock())
        if role == _ROW:
            return r
        if role == _TOOLTIP:
            return col.tooltip(r, self._clock()) if col.tooltip else None
        if role == _FOREGROUND:
            if col.id in ("state", "error"):
                return state_color("failed" if col.id == "error" else r.display_state)
            return None
        if role == _ALIGN:
            return col.align
        if role == _FONT:
            return self._mono if col.id == "sha256" else None
        if role == _COPY:
            if col.id == "sha256":
                return r.sha256
            if col.id == "last_line":
                return r.last_line
            value = col.display(r, self._clock())
            return "" if value is None else str(value)
        return None

    # ---- job ----------------------------------------------------------------------------------

    def reset_job(self, job_id: str | None, chunks: list[tuple[int, int, int]]) -> None:
        self.beginResetModel()
        self.job_id = job_id
        self.rows = [ChunkRow(i, s, e) for i, s, e in chunks]
        self._n = len(self.rows)
        self._display.clear()
        self._row_of = {r.index: n for n, r in enumerate(self.rows)}
        self._dirty.clear()
        self._counts = {"done": 0, "running": 0, "waiting": len(self.rows), "failed": 0}
        self.endResetModel()
        self._emit_summary()
        if self.rows and not self._clock_timer.isActive():
            self._clock_timer.start()

    def row_for_chunk(self, index: int) -> ChunkRow | None:
        n = self._row_of.get(index)
        return None if n is None else self.rows[n]

    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    def summary(self) -> dict[str, Any]:
        now = self._clock()
        frames_total = sum(r.frames for r in self.rows)
        frames_done = sum(r.frames if r.state == "done" else r.frames_done for r in self.rows)
        rate = sum(r.fps for r in self.rows if r.state == "running")
        remaining = frames_total - frames_done
        started = [r.started_at for r in self.rows if r.started_at is not None]
        # Job ETA from finished chunks' wall time (browser start-up included), per busy slot; the
        # capture fps alone would promise far too much for short chunks.
        walls = [(r.frames, r.finished_at - r.started_at) for r in self.rows
                 if r.state == "done" and r.started_at is not None and r.finished_at is not None
                 and r.finished_at > r.started_at]
        slots = max(1, self._counts.get("running", 0))
        if walls:
            per_slot = sum(f for f, _w in walls) / sum(w for _f, w in walls)
            eta = remaining / (per_slot * slots) if per_slot > 0 else None
        else:
            eta = remaining / rate if rate > 0 else None
        return {
            **self._counts,
            "total": len(self.rows),
            "retrying": sum(1 for r in self.rows if r.state == "waiting" and r.retrying),
            "frames_total": frames_total,
            "frames_done": frames_done,
            "fps": rate,
            "eta": eta,
            "elapsed": (now - min(started)) if started else None,
        }

    # ---- events -------------------------------------------------------------------------------

    def _set_state(self, r: ChunkRow, state: str) -> None:
        if r.state != state:
            self._counts[r.state] = self._counts.get(r.state, 0) - 1
            self._counts[state] = self._counts.get(state, 0) + 1
            r.state = state

    def apply(self, event: Any) -> None:
        """Fold one event (hyperdesk.farm.events) into the rows (no signal here; see `flush`)."""
        index = getattr(event, "chunk_index", None)
        if index is None or getattr(event, "job_id", None) != self.job_id:
            return
        n = self._row_of.get(index)
        if n is None:
            return
        r = self.rows[n]
        self.events_applied += 1
        at = self._clock()
        if isinstance(event, fe.ChunkProgress):
            if event.attempt_id != r.attempt_id:
                a = r.attempt_by_id(event.attempt_id)
                if a is not None:
                    a.frames_done = event.frames_done
                return  # a superseded or duplicate attempt: its progress is not this row's
            r.frames_done = event.frames_done
            r.frames_total = event.frames_total
            r.fps = event.fps
            r.last_event_at = at
        elif isinstance(event, fe.AttemptHeartbeat):
            if event.attempt_id != r.attempt_id:
                return
            r.last_event_at = at
        elif isinstance(event, (fe.AttemptLog, fe.AttemptAccepted, fe.AttemptNotice)):
            if isinstance(event, fe.AttemptLog):
                line = event.line
            elif isinstance(event, fe.AttemptAccepted):
                line = f"worker pid {event.pid} on {event.host}"
            else:
                line = f"{event.code}: {event.message}"
            r.log.append(line)
            if event.attempt_id == r.attempt_id:
                r.last_line = line
                r.last_event_at = at
        elif isinstance(event, fe.AttemptStarted):
            for a in r.attempts:
                if a.outcome == "running" and a.attempt_id != event.attempt_id:
                    a.outcome, a.ended_at = "superseded", at
            r.attempts.append(AttemptInfo(event.attempt_id, event.number, event.node, at))
            self._set_state(r, "running")
            r.attempt_id, r.attempt, r.node = event.attempt_id, event.number, event.node
            r.frames_done, r.frames_total, r.fps = 0, r.frames, 0.0
            r.started_at, r.finished_at, r.last_event_at = at, None, at
            r.retrying = False
            r.log.append(f"--- attempt {event.number} ({event.attempt_id}) on {event.node}")
        elif isinstance(event, fe.ChunkDone):
            a = r.attempt_by_id(event.attempt_id)
            if a is not None:
                a.outcome, a.ended_at = "done", at
            if r.state == "done" and r.sha256 and event.attempt_id != r.attempt_id:
                return  # a late duplicate: the first verified result stays
            self._set_state(r, "done")
            r.attempt_id = event.attempt_id
            if a is not None:
                r.attempt, r.node = a.number, a.node
            r.sha256, r.output_path = event.sha256, event.output_path
            r.frames_done = r.frames_total = r.frames
            r.fps = 0.0
            r.finished_at = at
            r.last_event_at = at
            r.error = None
            r.retrying = False
        elif isinstance(event, fe.AttemptFailed):
            if event.action == "ignored":
                return
            if event.action == "cancelled":  # superseded by a retry or stopped with the job: it waits again
                self._queued(r, at, event.message, event.attempt_id)
            else:
                self._failed(r, at, event)
        elif isinstance(event, fe.ChunkQueued):
            self._queued(r, at, event.reason, r.attempt_id or "")
        else:
            return
        self._mark(n)

    def _failed(self, r: ChunkRow, at: float, event: fe.AttemptFailed) -> None:
        a = r.attempt_by_id(event.attempt_id)
        if a is not None:
            a.outcome, a.ended_at, a.code, a.message = "failed", at, event.code, event.message
        for line in event.log_tail:
            r.log.append(line)
        if r.state == "done":
            return  # a duplicate attempt failed after another one succeeded
        r.error = {"code": event.code, "message": event.message, "hint": event.hint,
                   "retryable": event.retryable, "node": event.node, "attempt_id": event.attempt_id,
                   "log_tail": list(event.log_tail),
                   "details": {"action": event.action, **event.details,
                               **({"retry_in_s": event.retry_in_s} if event.retry_in_s else {}),
                               **({"node_blocklisted": True} if event.node_blocklisted else {})}}
        r.finished_at = at
        r.fps = 0.0
        if event.final:
            self._set_state(r, "failed")
            r.retrying = False
        else:
            self._set_state(r, "waiting")
            r.retrying = True
        if event.final:  # a failed chunk says why (the log's last line is often an ffmpeg command line)
            r.last_line = error_summary(event.code, event.message)
        elif event.log_tail:
            r.last_line = event.log_tail[-1]

    def _queued(self, r: ChunkRow, at: float, reason: str, attempt_id: str) -> None:
        a = r.attempt_by_id(attempt_id or r.attempt_id or "")
        if a is not None and a.outcome == "running":
            a.outcome, a.ended_at = "cancelled", at
        if r.state == "running":
            r.finished_at = at
        self._set_state(r, "waiting")
        r.retrying = r.error is not None
        r.frames_done, r.fps = 0, 0.0
        r.sha256 = ""
        if reason:
            r.log.append(f"--- queued: {reason}")

    def apply_many(self, events: list[Any]) -> None:
        for e in events:
            self.apply(e)

    def load_rows(self, rows: list[ChunkRow]) -> None:
        """Replace every row at once (a job reopened from the store)."""
        self.beginResetModel()
        self.rows = rows
        self._n = len(rows)
        self._display.clear()
        self._row_of = {r.index: n for n, r in enumerate(rows)}
        self._dirty.clear()
        self._counts = {"done": 0, "running": 0, "waiting": 0, "failed": 0}
        for r in rows:
            self._counts[r.state] = self._counts.get(r.state, 0) + 1
        self.endResetModel()
        self._emit_summary()
        if rows and not self._clock_timer.isActive():
            self._clock_timer.start()

    def _mark(self, n: int) -> None:
        self._display.pop(n, None)
        self._dirty.add(n)
        if not self._flush_timer.isActive() and not self._suspended:
            self._flush_timer.start()

    # ---- pacing -------------------------------------------------------------------------------

    def set_suspended(self, suspended: bool) -> None:
        """While hidden or minimised nothing is painted; changes are kept and flushed on return."""
        self._suspended = suspended
        if not suspended and self._dirty:
            self.flush()

    def flush(self) -> None:
        if self._suspended or not self._dirty:
            return
        t0 = time.perf_counter()
        dirty = sorted(self._dirty)
        self._dirty.clear()
        last_col = len(COLUMNS) - 1
        for start, end in _runs(dirty):
            self.dataChanged.emit(self.index(start, 0), self.index(end, last_col))
            self.data_changed_count += 1
        self.flush_count += 1
        self._emit_summary()
        self.rowsFlushed.emit([self.rows[n].index for n in dirty])
        self.flush_seconds += time.perf_counter() - t0

    def _emit_summary(self) -> None:
        self.summaryChanged.emit(self.summary())

    def _tick(self) -> None:
        """Once a second: the clock columns of running rows (only those columns, only those rows)."""
        if self._suspended or not self.rows:
            return
        running = [n for n, r in enumerate(self.rows) if r.state == "running"]
        if not running:
            return
        for n in running:
            self._display.pop(n, None)
        for start, end in _runs(running):
            for c in TIMED_COLUMNS:
                self.dataChanged.emit(self.index(start, c), self.index(end, c))
                self.data_changed_count += 1
        self._emit_summary()

    def stop_timers(self) -> None:
        self._flush_timer.stop()
        self._clock_timer.stop()


class ChunkSortProxy(QSortFilterProxyModel):
    """Sorts on each column's sort key (numbers as numbers) and filters by state."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(False)  # re-sorting on every flush would make rows jump under the user
        self._states: set[str] | None = None

    def set_state_filter(self, states: set[str] | None) -> None:
        self.beginFilterChange()
        self._states = states
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        if self._states is None:
            return True
        model = self.sourceModel()
        r = model.rows[source_row]  # type: ignore[attr-defined]
        return r.display_state in self._states or r.state in self._states

    def lessThan(self, left: QModelIndex | QPersistentModelIndex, right: QModelIndex | QPersistentModelIndex) -> bool:
        a = left.data(SORT_ROLE)
        b = right.data(SORT_ROLE)
        try:
            return a < b
        except TypeError:
            return str(a) < str(b)


EXTENSIONS = {"mp4": ".mp4", "mov": ".mov", "webm": ".webm", "png-sequence": ""}


def attempt_work_dir(job: JobRecord, attempt_id: str, node: str) -> str | None:
    """Where a local attempt kept its work dir (plan contract 9.5: `<out>.work.<attempt id>`)."""
    if node != "local":
        return None
    out = Path(job.work_dir) / "chunks" / f"{attempt_id}{EXTENSIONS.get(job.format, '')}"
    return str(out.parent / f"{out.name}.work.{attempt_id}")


def rows_from_records(job: JobRecord, chunks: list[ChunkRecord], attempts: list[AttemptRecord], *,
                      live: bool, clock: Callable[[], float] = time.monotonic) -> list[ChunkRow]:
    """Chunk rows of a stored job: state, node, attempts with outcomes, sha256, last error, log tail."""
    by_chunk: dict[int, list[AttemptRecord]] = {}
    for a in attempts:
        by_chunk.setdefault(a.chunk_index, []).append(a)
    rows = []
    t0 = time.time()
    mono = clock()
    for c in chunks:
        state = {"pending": "waiting"}.get(c.state, c.state)
        if state == "running" and not live:
            state = "waiting"  # its controller is gone: the attempt did not survive
        row = ChunkRow(c.index, c.start_frame, c.end_frame, state=state)
        tries = sorted(by_chunk.get(c.index, []), key=lambda a: a.number)
        for a in tries:
            started = mono - (t0 - a.started_at)
            ended = None if a.ended_at is None else mono - (t0 - a.ended_at)
            row.attempts.append(AttemptInfo(a.id, a.number, a.node, started, ended, a.state, a.error_code,
                                            a.error_message))
            if a.log_tail:
                row.log.append(f"--- attempt {a.number} ({a.id}) on {a.node}: {a.state}")
                row.log.extend(a.log_tail)
        if tries:
            last = tries[-1]
            row.attempt, row.attempt_id, row.node = last.number, last.id, last.node
            row.started_at = row.attempts[-1].started_at
            row.finished_at = row.attempts[-1].ended_at
            failed = next((a for a in reversed(tries) if a.error_code and a.state not in ("cancelled",)), None)
            if failed is not None and failed.error_code and c.state != "done":
                spec = CODES.get(failed.error_code)
                hint = spec.hint if spec else ""
                if job.error and job.error.get("code") == failed.error_code:
                    hint = job.error.get("hint") or hint
                work = attempt_work_dir(job, failed.id, failed.node)
                row.error = {"code": failed.error_code, "message": failed.error_message or "", "hint": hint,
                             "retryable": spec.retryable if spec else False, "node": failed.node,
                             "attempt_id": failed.id, "log_tail": list(failed.log_tail),
                             "details": {"work_dir": work} if work else {}}
                row.retrying = state == "waiting"
            if row.error is not None and state == "failed":
                row.last_line = error_summary(row.error["code"], row.error["message"])
            elif row.log:
                row.last_line = row.log[-1]
        if c.state == "done" and c.result:
            row.sha256 = str(c.result.get("sha256", ""))
            row.output_path = str(c.result.get("output_path", ""))
            row.frames_done = row.frames_total = row.frames
        rows.append(row)
    return rows
