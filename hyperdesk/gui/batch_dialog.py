"""Batch…: one job per row of a table of variable values, previewed and checked before anything is
queued — the same rules as `hyperdesk render --batch` (service/batch.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from hyperdesk.errors import HyperdeskError
from hyperdesk.models import VariableDecl
from hyperdesk.service.batch import batch_requests, read_rows
from hyperdesk.service.queue import RenderQueue
from hyperdesk.service.request import RenderRequest

PREVIEW_ROWS = 200


class BatchDialog(QDialog):
    queued = Signal(list)  # the new job ids

    def __init__(self, base: RenderRequest, declarations: list[VariableDecl], queue: RenderQueue,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch render")
        self.base = base
        self.declarations = declarations
        self.queue = queue
        self.requests: list[tuple[int, RenderRequest]] = []
        self.job_ids: list[str] = []
        self.table_path = QLineEdit()
        self.table_path.setPlaceholderText("rows.csv or rows.json: one row per video, columns are variables")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        out = Path(base.output)
        self.output = QLineEdit(str(out.with_name(f"{out.stem}-{{row}}{out.suffix}")))
        self.output.setToolTip("{column} and {row} are replaced per row (rows numbered from 1)")
        names = ", ".join(d.id for d in declarations) or "(the composition declares none)"
        self.columns_hint = QLabel(f"Variables: {names}")
        self.columns_hint.setWordWrap(True)
        self.preview = QTableWidget(0, 0)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.queue_button = self.buttons.addButton("Queue jobs", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.queue_jobs)
        self.buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(self.table_path, 1)
        row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Table", row)
        form.addRow("Output", self.output)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.columns_hint)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.table_path.editingFinished.connect(self.check)
        self.output.editingFinished.connect(self.check)
        self.resize(640, 420)
        self.check()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Batch table", str(Path(self.base.composition).parent),
                                              "Tables (*.csv *.json)")
        if path:
            self.table_path.setText(path)
            self.check()

    def set_table(self, path: str, output: str | None = None) -> None:
        self.table_path.setText(path)
        if output is not None:
            self.output.setText(output)
        self.check()

    def check(self) -> bool:
        """Read and check every row; the preview shows them, the status the first bad one."""
        self.requests = []
        self.queue_button.setEnabled(False)
        path = self.table_path.text().strip()
        if not path:
            self.status.setText("Choose a table.")
            return False
        try:
            rows = read_rows(Path(path))
            self._show_rows(rows)
            self.requests = batch_requests(self.base, rows, self.output.text().strip(), self.declarations)
            for _n, request in self.requests:
                self.queue.service.check(request)
        except HyperdeskError as err:
            self.requests = []
            self.status.setText(f"<b>{err.code}</b>: {err.message}")
            return False
        self.status.setText(f"{len(self.requests)} jobs, e.g. {self.requests[0][1].output}")
        self.queue_button.setText(f"Queue {len(self.requests)} jobs")
        self.queue_button.setEnabled(True)
        return True

    def _show_rows(self, rows: list[dict[str, Any]]) -> None:
        columns = list(dict.fromkeys(k for r in rows for k in r))
        self.preview.clear()
        self.preview.setColumnCount(len(columns) + 1)
        self.preview.setHorizontalHeaderLabels(["row", *columns])
        self.preview.setRowCount(min(len(rows), PREVIEW_ROWS))
        for n, r in enumerate(rows[:PREVIEW_ROWS]):
            self.preview.setItem(n, 0, QTableWidgetItem(str(n + 1)))
            for c, key in enumerate(columns, start=1):
                self.preview.setItem(n, c, QTableWidgetItem(str(r.get(key, ""))))

    def queue_jobs(self) -> None:
        if not self.check():
            return
        stem = self.base.name
        self.job_ids = [self.queue.add(request, name=f"{stem} row {n}") for n, request in self.requests]
        self.queued.emit(self.job_ids)
        self.accept()
