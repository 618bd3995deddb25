"""The render queue in the app: the jobs waiting and running by priority, and what the user does with
them — add the current composition, reorder, pause the queue, remove a job. The app runs the queue
with the same code as `hyperdesk queue run` (service/queue.py), on the qasync loop."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QMimeData, QModelIndex, QObject, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSystemTrayIcon,
                               QTableView, QVBoxLayout, QWidget)

from hyperdesk.errors import HyperdeskError
from hyperdesk.gui.actions import ActionSpec
from hyperdesk.gui.rows_model import RowsTableModel
from hyperdesk.gui.theme import state_color
from hyperdesk.service.queue import QueueEntry, RenderQueue

if TYPE_CHECKING:
    from hyperdesk.gui.main_window import MainWindow

DisplayRole = Qt.ItemDataRole.DisplayRole
COLUMNS = ["Name", "Priority", "State", "Output", "Finished"]


MIME = "application/x-hyperdesk-queue-job"


class QueueModel(RowsTableModel):
    """The queue in run order. A row dragged to another place asks for that order (`reorderRequested`:
    the job ids in their new order); the queue turns it into priorities."""

    columns = COLUMNS
    reorderRequested = Signal(list)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[QueueEntry] = []

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        base = super().flags(index)
        if index.isValid() and self.rows[index.row()].state in ("queued", "interrupted"):
            base |= Qt.ItemFlag.ItemIsDragEnabled
        return base | Qt.ItemFlag.ItemIsDropEnabled

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:
        return [MIME]

    def mimeData(self, indexes: Any) -> QMimeData:
        data = QMimeData()
        rows = sorted({i.row() for i in indexes if i.isValid()})
        data.setData(MIME, QByteArray(self.rows[rows[0]].id.encode() if rows else b""))
        return data

    def dropMimeData(self, data: QMimeData, action: Qt.DropAction, row: int, column: int,
                     parent: QModelIndex | QPersistentModelIndex) -> bool:
        if action != Qt.DropAction.MoveAction or not data.hasFormat(MIME):
            return False
        job_id = bytes(data.data(MIME).data()).decode()
        order = [e.id for e in self.rows]
        if job_id not in order:
            return False
        target = row if row >= 0 else (parent.row() if parent.isValid() else len(order))
        moved = order.index(job_id)
        order.pop(moved)
        order.insert(target - (1 if target > moved else 0), job_id)
        self.reorderRequested.emit(order)
        return False  # the queue re-lists the rows; Qt must not remove the dragged one

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = DisplayRole) -> Any:
        if not index.isValid():
            return None
        e = self.rows[index.row()]
        c = index.column()
        if role == DisplayRole:
            return [e.name, e.priority, e.state + (f" ({e.error})" if e.error else ""), Path(e.output).name,
                    (e.finished_at or "")[:19].replace("T", " ")][c]
        if role == Qt.ItemDataRole.ForegroundRole and c == 2:
            return state_color(e.state)
        if role == Qt.ItemDataRole.ToolTipRole:
            return {0: f"{e.name}\n{e.composition}\njob {e.id}", 3: e.output}.get(c)
        if role == Qt.ItemDataRole.UserRole:
            return e
        return None


class QueuePanel(QWidget):
    raiseRequested = Signal(str)
    lowerRequested = Signal(str)
    removeRequested = Signal(str)
    pauseToggled = Signal(bool)

    def __init__(self, model: QueueModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.table = QTableView()
        self.table.setModel(model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)  # drag a job to run it earlier
        self.table.setDragDropOverwriteMode(False)
        self.table.setDropIndicatorShown(True)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.raise_button = QPushButton("Raise")
        self.raise_button.setToolTip("Run this job earlier (priority + 1)")
        self.lower_button = QPushButton("Lower")
        self.lower_button.setToolTip("Run this job later (priority − 1)")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Take this job out of the queue (a running job must be cancelled first)")
        self.pause_button = QPushButton("Pause queue")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Start no new job; running jobs finish")
        self.summary = QLabel("")
        for button, signal in ((self.raise_button, self.raiseRequested), (self.lower_button, self.lowerRequested),
                               (self.remove_button, self.removeRequested)):
            button.clicked.connect(lambda _c=False, s=signal: self._emit(s))
        self.pause_button.toggled.connect(self.pauseToggled)
        buttons = QHBoxLayout()
        for b in (self.raise_button, self.lower_button, self.remove_button, self.pause_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.summary)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.table.selectionModel().selectionChanged.connect(self._selection)
        model.modelReset.connect(self._selection)
        self._selection()

    def selected(self) -> QueueEntry | None:
        idx = self.table.currentIndex()
        return idx.data(Qt.ItemDataRole.UserRole) if idx.isValid() else None

    def select_job(self, job_id: str) -> bool:
        for n, e in enumerate(self.model.rows):
            if e.id == job_id:
                self.table.selectRow(n)
                return True
        return False

    def _emit(self, signal: Any) -> None:
        e = self.selected()
        if e is not None:
            signal.emit(e.id)

    def _selection(self, *_: Any) -> None:
        e = self.selected()
        for b in (self.raise_button, self.lower_button):
            b.setEnabled(e is not None and e.state in ("queued", "interrupted", "paused"))
        self.remove_button.setEnabled(e is not None and e.state not in ("running", "assembling"))
        waiting = sum(1 for r in self.model.rows if r.state == "queued")
        running = sum(1 for r in self.model.rows if r.state in ("running", "assembling"))
        self.summary.setText(f"{waiting} waiting, {running} running")


_PENDING = ("queued", "running", "paused", "interrupted")  # a queue job that has not ended

QUEUE_ACTIONS: list[ActionSpec] = [
    ActionSpec("add_to_queue", "Add to &queue", "Ctrl+Shift+Q",
               "Queue this composition with the current settings; the queue renders jobs by priority",
               "add_to_queue", "can_add", True),
    ActionSpec("batch", "&Batch…", "Ctrl+B", "Queue one job per row of a table of variable values (CSV or JSON)",
               "open_batch", "can_add", True),
]


class QueueActions(QObject):
    """The app's side of the render queue: adding jobs, the runner task, the panel's buttons."""

    def __init__(self, window: MainWindow, queue: RenderQueue, model: QueueModel, panel: QueuePanel) -> None:
        super().__init__(window)
        self.w = window
        self.queue = queue
        self.model = model
        self.panel = panel
        self.runner: asyncio.Task | None = None
        self._stop = asyncio.Event()
        self.batch_dialog: Any = None
        panel.raiseRequested.connect(lambda j: self._bump(j, +1))
        panel.lowerRequested.connect(lambda j: self._bump(j, -1))
        panel.removeRequested.connect(self.remove)
        panel.pauseToggled.connect(self.set_paused)
        model.reorderRequested.connect(self.reorder)
        panel.pause_button.setChecked(queue.paused)
        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()

    def can_add(self) -> bool:
        return bool(self.w.composition) and (self.w.facts is None or self.w.facts.ok)

    def add_to_queue(self) -> str | None:
        w = self.w
        if not self.can_add() or w.composition is None:
            return None
        request = w.job_actions.prepared_request()
        if request is None:
            return None
        try:
            job_id = self.queue.add(request)
        except HyperdeskError as err:
            w.show_error(err.to_dict(), "queue")
            return None
        w.statusBar().showMessage(f"queued {request.name or Path(request.composition).name} as job {job_id}", 8000)
        self.refresh()
        self.ensure_running()
        return job_id

    def open_batch(self) -> None:
        from hyperdesk.gui.batch_dialog import BatchDialog  # lazy: only built when asked for

        if not self.can_add() or self.w.composition is None:
            return
        base = self.w.job_actions.prepared_request()
        if base is None:
            return
        decls = list(self.w.facts.meta.variables) if self.w.facts and self.w.facts.meta else []
        self.batch_dialog = BatchDialog(base, decls, self.queue, self.w)
        self.batch_dialog.queued.connect(self._batch_queued)
        self.batch_dialog.open()

    def _batch_queued(self, _ids: list[str]) -> None:
        self.refresh()
        self.ensure_running()

    def ensure_running(self) -> None:
        """Run the queue on the loop (until the app closes) unless it already runs."""
        if self.runner is None or self.runner.done():
            self._stop.clear()
            self.runner = self.w.spawn(
                self.queue.run(until_empty=False, local=self.w.node_actions.local_workers(), stop=self._stop),
                "queue")

    def resume_interrupted(self, job_ids: list[str]) -> None:
        self.queue.resume(job_ids)
        self.refresh()
        self.ensure_running()

    def refresh(self) -> None:
        paused = self.queue.paused
        if paused != self.panel.pause_button.isChecked():  # paused or resumed elsewhere (`hyperdesk queue pause`)
            self.panel.pause_button.setChecked(paused)
        entries = self.queue.entries()
        if entries == self.model.rows:
            return  # nothing changed: no model reset (a reset every second would also drop a drag in progress)
        self._notify_ends(self.model.rows, entries)
        selected = self.panel.selected()
        self.model.set_rows(entries)
        if selected is not None:
            self.panel.select_job(selected.id)

    def _notify_ends(self, before: list[QueueEntry], now: list[QueueEntry]) -> None:
        """A desktop notification for each queued job that ended since the last look (the job this
        window shows says so itself), and one when the queue has nothing left to run."""
        was = {e.id: e.state for e in before}
        ended = [e for e in now if was.get(e.id) in _PENDING and e.state not in _PENDING]
        for e in ended:
            if e.id == self.w.job_actions.job_id:
                continue
            if e.state == "done":
                self.w.notify("Render finished", f"{e.name}: {Path(e.output).name} is ready",
                              QSystemTrayIcon.MessageIcon.Information)
            elif e.state == "failed":
                self.w.notify("Render failed", f"{e.name}: {e.error or 'failed'}", QSystemTrayIcon.MessageIcon.Critical)
        if ended and not any(e.state in _PENDING for e in now):
            done = sum(1 for e in now if e.state == "done" and e.id in was)
            failed = sum(1 for e in now if e.state == "failed" and e.id in was)
            self.w.notify("Queue finished", f"{done} done, {failed} failed" if failed else f"{done} done",
                          QSystemTrayIcon.MessageIcon.Warning if failed else QSystemTrayIcon.MessageIcon.Information)

    def _bump(self, job_id: str, step: int) -> None:
        entry = next((e for e in self.model.rows if e.id == job_id), None)
        if entry is not None:
            self.queue.set_priority(job_id, entry.priority + step)
            self.refresh()

    def reorder(self, order: list[str]) -> None:
        """The jobs waiting run in this order: they get priorities that say so (the first the highest);
        running and finished jobs keep theirs."""
        waiting = [e for e in self.model.rows if e.state in ("queued", "interrupted")]
        ids = {e.id for e in waiting}
        wanted = [j for j in order if j in ids]
        base = max((e.priority for e in waiting), default=0)
        for n, job_id in enumerate(wanted):
            self.queue.set_priority(job_id, base + len(wanted) - n)
        self.refresh()

    def remove(self, job_id: str) -> None:
        try:
            self.queue.remove(job_id)
        except HyperdeskError as err:  # the job runs: shown, not raised into Qt
            self.w.show_error(err.to_dict(), "queue")
        self.refresh()

    def set_paused(self, paused: bool) -> None:
        self.queue.pause(paused)
        self.panel.pause_button.setText("Resume queue" if paused else "Pause queue")

    def stop(self) -> None:
        self.timer.stop()
        self._stop.set()
