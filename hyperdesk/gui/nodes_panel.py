"""The nodes panel: local workers, SSH render nodes, saved Dask clusters (and, during a job, each Dask worker
that renders), their preflight results and live state.

Adding a node never trusts a host key silently (fabric#2071): the first connection shows the
key's SHA256 fingerprint in a dialog and only "Trust and pin" stores it.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from collections.abc import Callable

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from hyperdesk.errors import HyperdeskError
from hyperdesk.farm import events as fe
from hyperdesk.farm.dask.address import check_scheduler_address
from hyperdesk.gui.rows_model import RowsTableModel
from hyperdesk.gui.theme import fmt_duration, state_color
from hyperdesk.store.models import NodeConfig

DisplayRole = Qt.ItemDataRole.DisplayRole


@dataclass
class NodeRow:
    name: str
    kind: str = "ssh"  # local | ssh | dask (a saved cluster, or one of its workers during a job)
    address: str = ""
    slots: int = 1
    state: str = "unknown"  # online, busy, offline, incompatible, blocklisted, testing, unknown
    busy_slots: int = 0
    last_heartbeat: float | None = None
    reason: str | None = None
    preflight: dict[str, Any] | None = None
    fingerprint: str | None = None
    config: NodeConfig | None = None
    running: set[str] = field(default_factory=set)
    workers: list[dict[str, Any]] | None = None  # a saved Dask cluster's render workers, as its last test found

    @property
    def saved(self) -> bool:
        """A registered SSH node or a saved Dask cluster (it can be edited, tested, switched on and off)."""
        return self.config is not None

    @property
    def display_state(self) -> str:
        if self.state == "online" and self.running:
            return "busy"
        return self.state


def cluster_summary(workers: list[dict[str, Any]] | None, reason: str | None) -> str:
    """A Dask cluster's render workers and slots, as its last test found them."""
    if workers is None:
        return f"Dask cluster: {reason}" if reason else "Dask cluster, not tested"
    usable = [w for w in workers if w.get("state") == "online"]
    text = (f"Dask cluster: {len(workers)} render worker{'s' if len(workers) != 1 else ''}, "
            f"{sum(int(w.get('slots', 0)) for w in usable)} slots")
    refused = len(workers) - len(usable)
    return text + (f", {refused} incompatible" if refused else "") + (f" · {reason}" if reason else "")


def preflight_summary(report: dict[str, Any] | None, reason: str | None) -> str:
    if report is None and reason is None:
        return "not tested"
    parts = []
    r = report or {}
    if r.get("hyperdesk_version"):
        parts.append(f"hyperdesk {r['hyperdesk_version']}")
    if r.get("browser_version"):
        parts.append(f"Chromium {r['browser_version']}")
    ident = r.get("ffmpeg_identity")
    if ident:
        parts.append(f"ffmpeg {str(ident)[:24]}")
    cores = (r.get("platform") or {}).get("cpu_count")
    if cores:
        parts.append(f"{cores} cores")
    parts.append(f"incompatible: {reason}" if reason else "compatible")
    return " · ".join(parts)


# The controller's node states, as the panel shows them.
NODE_STATES = {"closed": "offline"}

NODE_COLUMNS = ["Node", "Address", "Slots", "State", "Last heartbeat", "Preflight"]


class NodesModel(RowsTableModel):
    columns = NODE_COLUMNS
    enabledChanged = Signal(str, bool)  # an SSH node was switched on or off for new renders

    def __init__(self, parent: QObject | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self.rows: list[NodeRow] = []
        self.disabled: set[str] = set()
        self._clock = clock
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = self.rows[index.row()]
        c = index.column()
        if role == DisplayRole:
            if c == 0:
                return r.name
            if c == 1:
                return r.address or ("this machine" if r.kind == "local" else "")
            if c == 2:
                return f"{len(r.running)}/{r.slots}" if r.running else str(r.slots)
            if c == 3:
                return r.display_state
            if c == 4:
                if r.last_heartbeat is None:
                    return ""
                return fmt_duration(self._clock() - r.last_heartbeat) + " ago"
            if c == 5:
                if r.kind == "local":
                    return "local worker processes"
                if r.kind == "dask" and r.saved:
                    return cluster_summary(r.workers, r.reason)
                return preflight_summary(r.preflight, r.reason)
        if role == Qt.ItemDataRole.ForegroundRole and c == 3:
            return state_color(r.display_state)
        if role == Qt.ItemDataRole.ToolTipRole:
            if c == 5 and r.reason:
                return r.reason
            if c in (0, 1) and r.fingerprint:
                return f"pinned host key {r.fingerprint}"
        if role == Qt.ItemDataRole.CheckStateRole and c == 0 and r.saved:
            return Qt.CheckState.Unchecked if r.name in self.disabled else Qt.CheckState.Checked
        if role == Qt.ItemDataRole.UserRole:
            return r
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        f = super().flags(index)
        if index.isValid() and index.column() == 0 and self.rows[index.row()].saved:
            f |= Qt.ItemFlag.ItemIsUserCheckable
        return f

    def setData(self, index: QModelIndex | QPersistentModelIndex, value: Any,
                role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.CheckStateRole or index.column() != 0:
            return False
        r = self.rows[index.row()]
        on = Qt.CheckState(value) == Qt.CheckState.Checked if not isinstance(value, bool) else value
        (self.disabled.discard if on else self.disabled.add)(r.name)
        self.dataChanged.emit(index, index)
        self.enabledChanged.emit(r.name, on)
        return True

    def row_named(self, name: str) -> NodeRow | None:
        for r in self.rows:
            if r.name == name:
                return r
        return None

    def set_local(self, slots: int) -> None:
        row = self.row_named("local")
        if row is None:
            self.beginInsertRows(QModelIndex(), 0, 0)
            self.rows.insert(0, NodeRow("local", kind="local", slots=slots, state="online"))
            self.endInsertRows()
        else:
            row.slots = slots
            self._changed(row)

    def set_configured(self, records: list[Any]) -> None:
        """The SSH nodes and Dask clusters from the store (NodeRecord), keeping live state of the ones that stay
        (and the Dask workers a job brought in)."""
        keep = {r.name: r for r in self.rows}
        names = {rec.name for rec in records}
        self.beginResetModel()
        local = keep.get("local")
        rows = [local] if local else []
        for rec in records:
            old = keep.get(rec.name)
            row = old or NodeRow(rec.name)
            row.kind = "dask" if rec.scheduler else "ssh"
            row.address = rec.address
            if not rec.scheduler or old is None:
                row.slots = rec.slots
            row.config = NodeConfig.model_validate(rec.model_dump())
            row.fingerprint = getattr(rec, "host_key_fingerprint", None)
            if old is None or row.preflight is None:
                row.preflight = getattr(rec, "last_preflight", None)
                row.reason = getattr(rec, "incompatible_reason", None)
                if row.state == "unknown" and row.preflight is not None:
                    row.state = "incompatible" if row.reason else "online"
            rows.append(row)
        rows.extend(r for r in self.rows if r.kind == "dask" and r.config is None and r.name not in names)
        self.rows = rows
        self.endResetModel()

    def set_node_state(self, name: str, state: str, *, address: str = "", slots: int = 0,
                       reason: str | None = None, preflight: dict[str, Any] | None = None,
                       heartbeat: bool = False, kind: str | None = None) -> None:
        """A node's state as a job or a node test found it."""
        row = self.row_named(name)
        if row is None:
            self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows))
            row = NodeRow(name, kind=kind or ("local" if name == "local" else "ssh"))
            self.rows.append(row)
            self.endInsertRows()
        row.state = state
        if address:
            row.address = address
        if slots:
            row.slots = slots
        if state in ("incompatible", "blocklisted", "offline", "refused"):
            row.reason = reason
        elif state == "online" and row.kind == "local":
            row.reason = None
        if preflight is not None:
            row.preflight = preflight
        if heartbeat:
            row.last_heartbeat = self._clock()
        self._changed(row)

    def apply(self, event: Any) -> None:
        """Fold one event (hyperdesk.farm.events) into the node rows."""
        if isinstance(event, fe.NodeStateChanged):
            rec_reason = event.reason
            if event.code and rec_reason and event.code != "WORKER_LOST":
                rec_reason = f"{event.code}: {rec_reason}"
            self.set_node_state(event.node, NODE_STATES.get(event.state, event.state), address=event.address,
                                slots=event.slots, reason=rec_reason, preflight=(event.details or {}).get("report"),
                                kind=event.kind)
        elif isinstance(event, fe.AttemptStarted):
            row = self.row_named(event.node)
            if row is not None:
                row.running.add(event.attempt_id)
                row.last_heartbeat = self._clock()
                self._changed(row)
        elif isinstance(event, (fe.ChunkProgress, fe.AttemptHeartbeat, fe.AttemptLog)):
            self.note_heartbeat(event.node, self._clock())
        elif isinstance(event, (fe.ChunkDone, fe.AttemptFailed)):
            for row in self.rows:
                if event.attempt_id in row.running:
                    row.running.discard(event.attempt_id)
                    row.last_heartbeat = self._clock()
                    self._changed(row)
        elif isinstance(event, (fe.JobDone, fe.JobFailed, fe.JobCancelled)):
            for row in self.rows:
                if row.running:
                    row.running.clear()
                    self._changed(row)

    def note_heartbeat(self, node: str, at: float) -> None:
        row = self.row_named(node)
        if row is not None:
            row.last_heartbeat = at

    def _changed(self, row: NodeRow) -> None:
        n = self.rows.index(row)
        self.dataChanged.emit(self.index(n, 0), self.index(n, len(NODE_COLUMNS) - 1))

    def _tick(self) -> None:
        if self.rows:
            self.dataChanged.emit(self.index(0, 4), self.index(len(self.rows) - 1, 4))


class HostKeyDialog(QDialog):
    """An unknown host key: show its SHA256 fingerprint; pin it only on an explicit yes."""

    def __init__(self, node: str, address: str, fingerprint: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Confirm host key")
        self.setObjectName("hostKeyDialog")
        self.fingerprint = fingerprint
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        text = QLabel(f"<b>{node}</b> ({address}) presented a host key hyperdesk has not seen before.<br>"
                      "Compare its fingerprint with the one the machine reports "
                      "(<code>ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub</code>) before you trust it.")
        text.setWordWrap(True)
        self.fingerprint_label = QLabel(fingerprint)
        self.fingerprint_label.setObjectName("fingerprint")
        self.fingerprint_label.setFont(mono)
        self.fingerprint_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox()
        self.trust_button = self.buttons.addButton("Trust and pin", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(QLabel("SHA256 fingerprint:"))
        layout.addWidget(self.fingerprint_label)
        layout.addWidget(self.buttons)


class NodeDialog(QDialog):
    """Add or edit an SSH node."""

    def __init__(self, parent: QWidget | None = None, node: NodeConfig | None = None,
                 taken: tuple[str, ...] = ()) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit node" if node else "Add node")
        self.setObjectName("nodeDialog")
        self.taken = set(taken) - ({node.name} if node else set())
        self.name = QLineEdit(node.name if node else "")
        self.host = QLineEdit(node.host if node else "")
        self.host.setPlaceholderText("hostname or IP address, or a Dask scheduler tcp://HOST:PORT")
        if node is not None and node.scheduler:
            self.host.setText(node.scheduler)
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(node.port if node else 22)
        self.user = QLineEdit((node.user or "") if node else "")
        self.user.setPlaceholderText(os.environ.get("USER", ""))
        self.key = QLineEdit((node.key_path or "") if node else "")
        self.key.setPlaceholderText("~/.ssh/id_ed25519 (empty: the SSH agent and default keys)")
        key_button = QPushButton("…")
        key_button.setFixedWidth(28)
        key_button.clicked.connect(self._choose_key)
        key_row = QHBoxLayout()
        key_row.setContentsMargins(0, 0, 0, 0)
        key_row.addWidget(self.key, 1)
        key_row.addWidget(key_button)
        key_box = QWidget()
        key_box.setLayout(key_row)
        self.slots = QSpinBox()
        self.slots.setRange(1, 64)
        self.slots.setValue(node.slots if node else 1)
        self.label = QLineEdit((node.label or "") if node else "")
        self.command = QLineEdit(" ".join(node.remote_command) if node else "hyperdesk")
        self.command.setToolTip("How to run hyperdesk on the node (words are shell-quoted one by one)")
        self.env = QLineEdit(" ".join(f"{k}={v}" for k, v in sorted((node.remote_env or {}).items())) if node else "")
        self.env.setPlaceholderText("KEY=value … (optional)")
        self.error = QLabel("")
        self.error.setStyleSheet(f"color: {state_color('failed').name()}")
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Host", self.host)
        form.addRow("Port", self.port)
        form.addRow("User", self.user)
        form.addRow("Key", key_box)
        form.addRow("Worker slots", self.slots)
        form.addRow("Label", self.label)
        form.addRow("Remote command", self.command)
        form.addRow("Remote environment", self.env)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self._extra = node.model_dump() if node else {}

    def _choose_key(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "SSH private key", str(Path.home() / ".ssh"))
        if path:
            self.key.setText(path)

    def config(self) -> NodeConfig:
        env: dict[str, str] = {}
        for word in self.env.text().split():
            k, sep, v = word.partition("=")
            if not sep or not k:
                raise ValueError(f"remote environment: {word!r} is not KEY=value")
            env[k] = v
        name = self.name.text().strip() or self.host.text().strip()
        if "://" in self.host.text():
            # A Dask cluster: only its scheduler counts; its workers say what they offer.
            address = check_scheduler_address(self.host.text())
            parts = urlsplit(address)
            return NodeConfig(name=name, host=parts.hostname or "", port=parts.port or 8786, scheduler=address,
                              label=self.label.text().strip() or None)
        command = self.command.text().split() or ["hyperdesk"]
        return NodeConfig(name=name, host=self.host.text().strip(), port=self.port.value(),
                          user=self.user.text().strip() or None, key_path=self.key.text().strip() or None,
                          slots=self.slots.value(), label=self.label.text().strip() or None,
                          remote_command=command, remote_env=env)

    def _accept(self) -> None:
        if not self.host.text().strip():
            self.error.setText("A host is required.")
            return
        try:
            cfg = self.config()
        except ValueError as exc:
            self.error.setText(str(exc))
            return
        except HyperdeskError as err:
            self.error.setText(err.message)
            return
        if cfg.name in self.taken or cfg.name == "local":
            self.error.setText(f"A node named {cfg.name!r} exists already.")
            return
        self.accept()


class NodesPanel(QWidget):
    localWorkersChanged = Signal(int)
    addRequested = Signal()
    editRequested = Signal(str)
    removeRequested = Signal(str)
    testRequested = Signal(str)

    def __init__(self, model: NodesModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.local_workers = QSpinBox()
        self.local_workers.setRange(0, 64)
        self.local_workers.setToolTip("Worker processes on this machine (0: render only on SSH nodes)")
        self.local_workers.valueChanged.connect(self.localWorkersChanged)
        self.table = QTableView()
        self.table.setModel(model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        for c in range(4):
            self.table.horizontalHeader().setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.doubleClicked.connect(lambda _i: self._emit(self.editRequested))
        self.add_button = QPushButton("Add…")
        self.edit_button = QPushButton("Edit…")
        self.remove_button = QPushButton("Remove")
        self.test_button = QPushButton("Test")
        self.test_button.setToolTip("Connect, check the host key and run the preflight (hyperdesk doctor)")
        self.add_button.clicked.connect(self.addRequested)
        self.edit_button.clicked.connect(lambda: self._emit(self.editRequested))
        self.remove_button.clicked.connect(lambda: self._emit(self.removeRequested))
        self.test_button.clicked.connect(lambda: self._emit(self.testRequested))
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top = QHBoxLayout()
        top.addWidget(QLabel("Local workers"))
        top.addWidget(self.local_workers)
        top.addStretch(1)
        buttons = QHBoxLayout()
        for b in (self.add_button, self.edit_button, self.remove_button, self.test_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        self.table.selectionModel().selectionChanged.connect(self._selection)
        self._selection()

    def selected(self) -> NodeRow | None:
        idx = self.table.currentIndex()
        return idx.data(Qt.ItemDataRole.UserRole) if idx.isValid() else None

    def select(self, name: str) -> None:
        for n, r in enumerate(self.model.rows):
            if r.name == name:
                self.table.selectRow(n)
                return

    def _emit(self, signal: Any) -> None:
        row = self.selected()
        if row is not None and row.saved:
            signal.emit(row.name)

    def _selection(self, *_: Any) -> None:
        row = self.selected()
        saved = row is not None and row.saved
        for b in (self.edit_button, self.remove_button, self.test_button):
            b.setEnabled(saved)
