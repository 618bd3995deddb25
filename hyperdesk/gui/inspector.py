"""The failure inspector: everything known about the selected chunk, and what to do about it.

For a failed chunk it leads with the error code, the message and the hint (HyperFrames' lesson:
users need the diagnosis and the fix, not "error 503"), then every attempt with its outcome, the
log tail, and the last frame the worker captured when its work dir is on this machine.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFontDatabase, QGuiApplication, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from hyperdesk.gui.chunk_model import ChunkRow
from hyperdesk.gui.theme import fmt_duration, state_color

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def last_captured_frame(work_dir: str | None) -> Path | None:
    """The newest image under `<work dir>/captured` (plan contract 9.5), when it is on this machine."""
    if not work_dir:
        return None
    captured = Path(work_dir) / "captured"
    try:
        files = [p for p in captured.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    except OSError:
        return None
    return max(files, key=lambda p: p.name) if files else None  # frame_000123.jpg: the name orders them


def diagnostics_text(row: ChunkRow, job_id: str | None) -> str:
    """What a user pastes into a bug report or a chat: plain text, complete."""
    lines = ["hyperdesk chunk diagnostics", f"job: {job_id or '-'}",
             f"chunk: {row.index} (frames {row.start}-{row.end - 1}), state {row.display_state}"]
    if row.sha256:
        lines.append(f"sha256: {row.sha256}")
    err = row.error
    if err:
        lines += [f"error: {err.get('code')}: {err.get('message', '')}", f"hint: {err.get('hint', '')}",
                  f"retryable: {'yes' if err.get('retryable') else 'no'}", f"node: {err.get('node', '')}"]
        details = err.get("details") or {}
        if details:
            lines.append("details: " + json.dumps(details, sort_keys=True, default=str))
    lines.append("attempts:")
    for a in row.attempts:
        took = fmt_duration(a.ended_at - a.started_at) if a.ended_at is not None else ""
        lines.append(f"  #{a.number} {a.attempt_id} on {a.node}: {a.outcome}"
                     + (f" {a.code}: {a.message}" if a.code else "") + (f" ({took})" if took else ""))
    lines.append("log tail:")
    lines += [f"  {line}" for line in row.log]
    return "\n".join(lines) + "\n"


class FailureInspector(QWidget):
    retryRequested = Signal(int)  # chunk index
    retryElsewhereRequested = Signal(int, str)  # chunk index, node to avoid

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.row: ChunkRow | None = None
        self.job_id: str | None = None
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)

        self.heading = QLabel("Select a chunk to inspect it")
        self.heading.setObjectName("inspectorHeading")
        self.code = QLabel("")
        self.code.setObjectName("errorCode")
        self.code.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hint = QLabel("")
        self.hint.setObjectName("errorHint")
        self.hint.setWordWrap(True)
        self.hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hint.setFrameShape(QFrame.Shape.StyledPanel)
        self.hint.setStyleSheet("QLabel#errorHint { background: rgba(224,142,11,0.12); padding: 6px; "
                                "border-radius: 3px; }")
        self.retryable = QLabel("")
        self.node = QLabel("")
        self.sha = QLabel("")
        self.sha.setFont(mono)
        self.sha.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.work_dir = QLabel("")
        self.work_dir.setWordWrap(True)
        self.work_dir.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        facts = QFormLayout()
        facts.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        facts.setVerticalSpacing(3)
        facts.addRow("Code", self.code)
        facts.addRow("Message", self.message)
        facts.addRow("Hint", self.hint)
        facts.addRow("Retryable", self.retryable)
        facts.addRow("Node", self.node)
        facts.addRow("sha256", self.sha)
        facts.addRow("Work dir", self.work_dir)

        self.attempts = QTableWidget(0, 6)
        self.attempts.setHorizontalHeaderLabels(["#", "Attempt", "Node", "Outcome", "Error", "Took"])
        self.attempts.verticalHeader().setVisible(False)
        self.attempts.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.attempts.setWordWrap(False)
        self.attempts.verticalHeader().setDefaultSectionSize(22)
        header = self.attempts.horizontalHeader()
        for c in (0, 1, 2, 3, 5):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)

        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setFont(mono)
        self.log.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log.setPlaceholderText("log tail")

        self.frame = QLabel("no captured frame")
        self.frame.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.frame.setMinimumSize(QSize(160, 90))
        self.frame.setObjectName("lastFrame")
        self.frame_path: Path | None = None

        self.retry_button = QPushButton("Retry")
        self.retry_button.setToolTip("Render this chunk again (its failures are forgotten)")
        self.retry_else_button = QPushButton("Retry on another node")
        self.open_dir_button = QPushButton("Open work dir")
        self.copy_button = QPushButton("Copy diagnostics")
        self.retry_button.clicked.connect(self._retry)
        self.retry_else_button.clicked.connect(self._retry_elsewhere)
        self.open_dir_button.clicked.connect(self.open_work_dir)
        self.copy_button.clicked.connect(self.copy_diagnostics)
        buttons = QHBoxLayout()
        for b in (self.retry_button, self.retry_else_button, self.open_dir_button, self.copy_button):
            buttons.addWidget(b)
        buttons.addStretch(1)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.heading)
        lv.addLayout(facts)
        lv.addLayout(buttons)
        lv.addStretch(1)
        middle = QSplitter(Qt.Orientation.Vertical)
        middle.addWidget(self.attempts)
        middle.addWidget(self.log)
        middle.setStretchFactor(0, 1)
        middle.setStretchFactor(1, 3)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(middle)
        self.splitter.addWidget(self.frame)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 5)
        self.splitter.setStretchFactor(2, 0)
        self.frame.setMinimumWidth(180)
        self._sized = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.splitter)
        self.show_row(None)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._sized and self.width() > 300:
            self._sized = True  # first real size: facts 40 %, attempts and log 45 %, frame 15 %
            w = self.splitter.width()
            self.splitter.setSizes([int(w * 0.40), int(w * 0.45), int(w * 0.15)])

    # ---- content --------------------------------------------------------------------------------

    def show_row(self, row: ChunkRow | None, job_id: str | None = None) -> None:
        self.row = row
        if job_id is not None:
            self.job_id = job_id
        if row is None:
            self.heading.setText("Select a chunk to inspect it")
            for w in (self.code, self.message, self.hint, self.retryable, self.node, self.sha, self.work_dir):
                w.setText("")
            self.hint.setVisible(False)
            self.attempts.setRowCount(0)
            self.log.setPlainText("")
            self._set_frame(None)
            for b in (self.retry_button, self.retry_else_button, self.open_dir_button, self.copy_button):
                b.setEnabled(False)
            return
        state = row.display_state
        color = state_color(state).name()
        self.heading.setText(f"<b>Chunk {row.index}</b> · frames {row.start}–{row.end - 1} · "
                             f"<b style='color:{color}'>{state}</b>")
        err = row.error or {}
        if err:
            self.code.setText(f"<b style='color:{state_color('failed').name()}'>{err.get('code', '')}</b>")
            self.message.setText(err.get("message", ""))
            self.hint.setText(err.get("hint", "") or "")
            self.hint.setVisible(bool(err.get("hint")))
            self.retryable.setText("yes — hyperdesk retries it on another node" if err.get("retryable")
                                   else "no — fix the cause, then retry")
            self.node.setText(err.get("node", "") or row.node)
        else:
            self.code.setText("—")
            self.message.setText("")
            self.hint.setText("")
            self.hint.setVisible(False)
            self.retryable.setText("")
            self.node.setText(row.node)
        self.sha.setText(row.sha256 or "")
        self.sha.setToolTip(row.sha256 or "")
        details = err.get("details") or {}
        work = details.get("work_dir") or ""
        self.work_dir.setText(work)
        self.open_dir_button.setEnabled(bool(work) and Path(work).is_dir())
        self._fill_attempts(row)
        text = "\n".join(row.log)
        if self.log.toPlainText() != text:
            self.log.setPlainText(text)
            self.log.verticalScrollBar().setValue(self.log.verticalScrollBar().maximum())
        self._set_frame(last_captured_frame(work) or _path_or_none(details.get("last_frame")))
        can_retry = row.state in ("failed", "done") or (row.state == "waiting" and row.retrying)
        self.retry_button.setEnabled(can_retry)
        self.retry_else_button.setEnabled(can_retry and bool(err.get("node") or row.node))
        self.copy_button.setEnabled(True)

    def _fill_attempts(self, row: ChunkRow) -> None:
        self.attempts.setRowCount(len(row.attempts))
        for n, a in enumerate(row.attempts):
            took = fmt_duration(a.ended_at - a.started_at) if a.ended_at is not None else ""
            cells = [str(a.number), a.attempt_id, a.node, a.outcome,
                     f"{a.code}: {a.message}" if a.code else "", took]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if c == 3:
                    item.setForeground(state_color({"done": "done", "failed": "failed", "running": "running"}
                                                   .get(a.outcome, "waiting")))
                self.attempts.setItem(n, c, item)

    def _set_frame(self, path: Path | None) -> None:
        self.frame_path = path
        if path is None:
            self.frame.setPixmap(QPixmap())
            self.frame.setText("no captured frame")
            return
        pix = QPixmap(str(path))
        if pix.isNull():
            self.frame.setText(f"cannot read {path.name}")
            return
        self.frame.setPixmap(pix.scaled(self.frame.size().expandedTo(QSize(160, 90)),
                                        Qt.AspectRatioMode.KeepAspectRatio,
                                        Qt.TransformationMode.SmoothTransformation))
        self.frame.setToolTip(f"last captured frame: {path}")

    # ---- actions --------------------------------------------------------------------------------

    def _retry(self) -> None:
        if self.row is not None:
            self.retryRequested.emit(self.row.index)

    def _retry_elsewhere(self) -> None:
        if self.row is not None:
            node = (self.row.error or {}).get("node") or self.row.node
            self.retryElsewhereRequested.emit(self.row.index, node or "")

    def open_work_dir(self) -> None:
        work = ((self.row.error or {}).get("details") or {}).get("work_dir") if self.row else None
        if work and os.path.isdir(work):
            QDesktopServices.openUrl(QUrl.fromLocalFile(work))

    def copy_diagnostics(self) -> None:
        if self.row is not None:
            QGuiApplication.clipboard().setText(diagnostics_text(self.row, self.job_id))


def _path_or_none(value: Any) -> Path | None:
    if not value:
        return None
    p = Path(str(value))
    return p if p.is_file() else None
