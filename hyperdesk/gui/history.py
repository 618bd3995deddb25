"""History: past jobs from the job store, reopenable and resumable; a finished job's output can be
revealed in the file manager or played in the desktop's player (right-click menu)."""
from __future__ import annotations

import datetime as _dt
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QMenu, QPushButton, QTableView,
                               QVBoxLayout, QWidget)

from hyperdesk.dirs import pid_alive
from hyperdesk.gui.rows_model import RowsTableModel
from hyperdesk.gui.theme import fmt_duration, state_color

DisplayRole = Qt.ItemDataRole.DisplayRole
RESUMABLE = ("running", "paused", "failed", "cancelled", "assembling", "interrupted")


@dataclass
class HistoryRow:
    job_id: str
    state: str
    created_at: float
    updated_at: float
    output: str
    composition: str
    chunks_done: int
    chunk_count: int
    error_code: str = ""
    controller_alive: bool = False
    name: str = ""
    missing_assets: tuple[str, ...] = ()  # rendered without these remote assets (--allow-missing-assets)

    @property
    def has_output(self) -> bool:
        """A finished job whose output is still on this machine."""
        return self.state == "done" and bool(self.output) and os.path.exists(self.output)

    @property
    def resumable(self) -> bool:
        return self.state in RESUMABLE and not self.controller_alive


def reveal_output(path: str) -> bool:
    """Show the output's folder in the desktop's file manager."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(path).parent)))


def play_output(path: str) -> bool:
    """Open the output in the desktop's video player."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(path))


COLUMNS = ["Job", "Started", "State", "Chunks", "Took", "Composition", "Output", "Error"]


def controller_alive(job: Any, live_here: set[str]) -> bool:
    """Is some controller still running this job (in this process, or another one on this host)?"""
    if job.state not in ("running", "paused", "assembling") or not job.controller_pid:
        return False
    if job.controller_pid == os.getpid():
        return job.id in live_here
    if job.controller_host and job.controller_host != socket.gethostname():
        return False  # another machine's controller: it cannot be checked from here
    return pid_alive(job.controller_pid)


def history_rows(store: Any, limit: int = 200, live_here: set[str] | None = None) -> list[HistoryRow]:
    rows = []
    for job in store.list_jobs(limit):
        chunks = store.chunks(job.id)
        alive = controller_alive(job, live_here or set())
        rows.append(HistoryRow(
            job_id=job.id, state=job.state, created_at=job.created_at, updated_at=job.updated_at, output=job.output,
            composition=str((job.spec or {}).get("composition", "")),
            chunks_done=sum(1 for c in chunks if c.state == "done"), chunk_count=job.chunk_count,
            error_code=str((job.error or {}).get("code", "") or ""), controller_alive=alive,
            name=job.name or job.id[:12], missing_assets=tuple(job.missing_assets)))
    return rows


class HistoryModel(RowsTableModel):
    columns = COLUMNS

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[HistoryRow] = []
        self.own: set[str] = set()  # jobs this window runs

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = self.rows[index.row()]
        c = index.column()
        if role == DisplayRole:
            if c == 0:
                return r.name
            if c == 1:
                return _dt.datetime.fromtimestamp(r.created_at).strftime("%Y-%m-%d %H:%M")
            if c == 2:
                return r.state + (" (in another window)" if r.controller_alive and r.job_id not in self.own else "") \
                    + (f" · {len(r.missing_assets)} missing asset(s)" if r.missing_assets else "")
            if c == 3:
                return f"{r.chunks_done}/{r.chunk_count}"
            if c == 4:
                return fmt_duration(r.updated_at - r.created_at)
            if c == 5:
                return Path(r.composition).name if r.composition else ""
            if c == 6:
                return r.output
            if c == 7:
                return r.error_code
        if role == Qt.ItemDataRole.ForegroundRole and c == 2:
            return state_color(r.state)
        if role == Qt.ItemDataRole.ToolTipRole:
            missing = "rendered without:\n" + "\n".join(r.missing_assets) if r.missing_assets else None
            return {0: f"{r.name}\njob {r.job_id}", 2: missing, 5: r.composition, 6: r.output}.get(c)
        if role == Qt.ItemDataRole.UserRole:
            return r
        if role == Qt.ItemDataRole.UserRole + 1:  # sort key
            return [r.name, r.created_at, r.state, r.chunks_done, r.updated_at - r.created_at, r.composition,
                    r.output, r.error_code][c]
        return None


class HistoryPanel(QWidget):
    openRequested = Signal(str)
    resumeRequested = Signal(str)
    refreshRequested = Signal()

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(model)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole + 1)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.doubleClicked.connect(lambda _i: self._emit(self.openRequested))
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.open_action = QAction("Open", self)
        self.open_action.triggered.connect(lambda: self._emit(self.openRequested))
        self.resume_action = QAction("Resume", self)
        self.resume_action.triggered.connect(lambda: self._emit(self.resumeRequested))
        self.reveal_action = QAction("Reveal output", self)
        self.reveal_action.setToolTip("Show the output's folder in the file manager")
        self.reveal_action.triggered.connect(lambda: self._on_output(reveal_output))
        self.play_action = QAction("Play", self)
        self.play_action.setToolTip("Play the output in the desktop's video player")
        self.play_action.triggered.connect(lambda: self._on_output(play_output))
        self.copy_id_action = QAction("Copy job id", self)
        self.copy_id_action.triggered.connect(self._copy_id)
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Show this job's chunks, attempts and output")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Finish this job: chunks whose files still hash right are kept")
        self.refresh_button = QPushButton("Refresh")
        self.open_button.clicked.connect(lambda: self._emit(self.openRequested))
        self.resume_button.clicked.connect(lambda: self._emit(self.resumeRequested))
        self.refresh_button.clicked.connect(self.refreshRequested)
        self.count = QLabel("")
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.resume_button)
        buttons.addWidget(self.refresh_button)
        buttons.addStretch(1)
        buttons.addWidget(self.count)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.table.selectionModel().selectionChanged.connect(self._selection)
        model.modelReset.connect(self._selection)
        self._selection()

    def selected(self) -> HistoryRow | None:
        idx = self.table.currentIndex()
        return idx.data(Qt.ItemDataRole.UserRole) if idx.isValid() else None

    def select_job(self, job_id: str) -> bool:
        for n in range(self.proxy.rowCount()):
            idx = self.proxy.index(n, 0)
            if idx.data(Qt.ItemDataRole.UserRole).job_id == job_id:
                self.table.selectRow(n)
                self.table.setCurrentIndex(idx)
                return True
        return False

    def _emit(self, signal: Any) -> None:
        row = self.selected()
        if row is not None:
            signal.emit(row.job_id)

    def _on_output(self, fn: Any) -> None:
        row = self.selected()
        if row is not None and row.has_output:
            fn(row.output)

    def _copy_id(self) -> None:
        row = self.selected()
        if row is not None:
            QGuiApplication.clipboard().setText(row.job_id)

    def context_menu(self) -> QMenu:
        """The right-click menu for the selected job."""
        self._selection()
        menu = QMenu(self)
        for action in (self.open_action, self.resume_action, None, self.reveal_action, self.play_action, None,
                       self.copy_id_action):
            if action is None:
                menu.addSeparator()
            else:
                menu.addAction(action)
        return menu

    def _context_menu(self, pos: Any) -> None:
        idx = self.table.indexAt(pos)
        if idx.isValid():
            self.table.selectRow(idx.row())
            self.table.setCurrentIndex(idx)
        self.context_menu().exec(self.table.viewport().mapToGlobal(pos))

    def _selection(self, *_: Any) -> None:
        row = self.selected()
        self.open_button.setEnabled(row is not None)
        self.resume_button.setEnabled(row is not None and row.resumable)
        self.open_action.setEnabled(row is not None)
        self.resume_action.setEnabled(row is not None and row.resumable)
        self.reveal_action.setEnabled(row is not None and row.has_output)
        self.play_action.setEnabled(row is not None and row.has_output)
        self.copy_id_action.setEnabled(row is not None)
        self.count.setText(f"{len(self.model.rows)} jobs")
