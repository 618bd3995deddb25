"""The job view: the job's header and stacked bar above the chunk table.

The table is a QTableView on ChunkSortProxy(ChunkTableModel); the progress column is painted by
ProgressDelegate. Copying a cell (Ctrl+C or the context menu) copies its full value, so a chunk's
whole sha256 is one keystroke away even though the column shows 12 characters.
"""
from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QSizePolicy,
    QToolButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from hyperdesk.gui.chunk_model import (
    COLUMNS,
    COPY_ROLE,
    ROW_ROLE,
    ChunkRow,
    ChunkSortProxy,
    ChunkTableModel,
    column_index,
)
from hyperdesk.gui.elided_label import ElidedLabel
from hyperdesk.gui.delegates import CellDelegate, JobProgressBar, ProgressDelegate
from hyperdesk.gui.theme import fmt_duration, state_color

LIVE_SIZE = QSize(128, 72)
FILTERS = [("All", None), ("Running", {"running"}), ("Failed", {"failed", "retrying"}), ("Waiting", {"waiting"}),
           ("Done", {"done"})]


class ChunkTableView(QTableView):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSortingEnabled(True)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setShowGrid(False)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(24)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # no per-row size queries
        self.horizontalHeader().setStretchLastSection(True)
        self.horizontalHeader().setHighlightSections(False)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.paint_count = 0
        self.paint_seconds = 0.0

    def paintEvent(self, event: Any) -> None:
        self.paint_count += 1
        t0 = time.perf_counter()
        super().paintEvent(event)
        self.paint_seconds += time.perf_counter() - t0


class JobView(QWidget):
    """Header, stacked bar, state filters and the chunk table of the open job."""

    selectionChanged = Signal(object)  # the current ChunkRow or None

    def __init__(self, model: ChunkTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = ChunkSortProxy(self)
        self.proxy.setSourceModel(model)

        self.title = ElidedLabel("No job — open a composition and press Render", hint_width=300)
        self.title.setObjectName("jobTitle")
        bold = self.title.font()
        bold.setBold(True)
        self.title.setFont(bold)
        self.state_label = QLabel("")
        self.state_label.setObjectName("jobState")
        self.bar = JobProgressBar()
        self.detail = QLabel("")
        self.detail.setObjectName("jobDetail")
        self.detail.setWordWrap(True)
        # a detail naming a long output path wraps or is cut; it never widens the window
        self.detail.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        # and a long error takes four lines at most, so the chunk table keeps its rows (all of it is in the tooltip)
        self.detail.setMaximumHeight(self.detail.fontMetrics().lineSpacing() * 4 + 4)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.table = ChunkTableView()
        self.table.setModel(self.proxy)
        self.cell_delegate = CellDelegate(self.table)
        self.table.setItemDelegate(self.cell_delegate)
        self.delegate = ProgressDelegate(self.table)
        self.table.setItemDelegateForColumn(column_index("progress"), self.delegate)
        for i, col in enumerate(COLUMNS):
            self.table.setColumnWidth(i, col.width)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.row_actions: list[QAction | None] = []  # set by the main window (None = separator)

        self.copy_action = QAction("Copy", self)
        self.copy_action.setShortcut(QKeySequence.StandardKey.Copy)
        self.copy_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.copy_action.triggered.connect(self.copy_current)
        self.table.addAction(self.copy_action)
        self.copy_sha_action = QAction("Copy sha256", self)
        self.copy_sha_action.triggered.connect(self.copy_sha256)

        self.filter_group = QButtonGroup(self)
        self.filter_group.setExclusive(True)
        filters = QHBoxLayout()
        filters.setSpacing(2)
        for n, (name, states) in enumerate(FILTERS):
            b = QToolButton()
            b.setText(name)
            b.setCheckable(True)
            b.setChecked(n == 0)
            b.setProperty("states", states)
            self.filter_group.addButton(b, n)
            filters.addWidget(b)
        filters.addStretch(1)
        self.filter_group.idClicked.connect(self._filter)

        # the newest finished chunk's last frame, refreshed as chunks finish (see MainWindow.show_latest_frame)
        self.live = QLabel()
        self.live.setObjectName("liveFrame")
        self.live.setFixedSize(LIVE_SIZE)
        self.live.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.live.setVisible(False)

        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.state_label)
        progress = QVBoxLayout()
        progress.addLayout(head)
        progress.addWidget(self.bar)
        progress.addWidget(self.detail)
        top = QHBoxLayout()
        top.addLayout(progress, 1)
        top.addWidget(self.live, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        model.summaryChanged.connect(self.bar.set_summary)
        model.rowsFlushed.connect(self._rows_flushed)

    # ---- header ---------------------------------------------------------------------------------

    def set_job(self, title: str, state: str, detail: str = "", tooltip: str | None = None) -> None:
        self.title.setText(title, tooltip)
        self.set_state(state)
        self.detail.setText(detail)

    def set_state(self, state: str, note: str = "") -> None:
        color = state_color(state).name()
        text = state + (f" ({note})" if note else "")
        self.state_label.setText(f"<b style='color:{color}'>{text}</b>" if state else "")
        self.state_label.setProperty("state", state)

    def set_detail(self, text: str) -> None:
        self.detail.setText(text)
        self.detail.setToolTip(text)  # the whole text, when a long path is cut at the panel's edge

    def set_live_frame(self, image: str | None, caption: str = "") -> None:
        """Show *image* (scaled) as the latest frame; None hides it."""
        pix = QPixmap(image) if image else QPixmap()
        if pix.isNull():
            self.live.clear()
            self.live.setVisible(False)
            return
        self.live.setPixmap(pix.scaled(LIVE_SIZE, Qt.AspectRatioMode.KeepAspectRatio,
                                       Qt.TransformationMode.SmoothTransformation))
        self.live.setToolTip(caption)
        self.live.setVisible(True)

    # ---- selection ------------------------------------------------------------------------------

    def current_row(self) -> ChunkRow | None:
        idx = self.table.currentIndex()
        return idx.data(ROW_ROLE) if idx.isValid() else None

    def selected_rows(self) -> list[ChunkRow]:
        rows: list[ChunkRow] = []
        for idx in self.table.selectionModel().selectedRows():
            r = idx.data(ROW_ROLE)
            if r is not None:
                rows.append(r)
        current = self.current_row()
        if not rows and current is not None:
            rows.append(current)
        return sorted(rows, key=lambda r: r.index)

    def select_chunk(self, index: int) -> bool:
        n = self.model._row_of.get(index)
        if n is None:
            return False
        src = self.model.index(n, 0)
        proxy_index = self.proxy.mapFromSource(src)
        if not proxy_index.isValid():
            self.filter_group.button(0).setChecked(True)
            self._filter(0)
            proxy_index = self.proxy.mapFromSource(src)
        same = self.table.currentIndex().isValid() and self.table.currentIndex().row() == proxy_index.row()
        self.table.selectionModel().setCurrentIndex(
            proxy_index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(proxy_index)
        if same:
            self.selectionChanged.emit(proxy_index.data(ROW_ROLE))
        return True

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.selectionChanged.emit(current.data(ROW_ROLE) if current.isValid() else None)

    def _rows_flushed(self, indices: list[int]) -> None:
        row = self.current_row()
        if row is not None and row.index in indices:
            self.selectionChanged.emit(row)

    def _filter(self, button_id: int) -> None:
        self.proxy.set_state_filter(FILTERS[button_id][1])

    # ---- copy -----------------------------------------------------------------------------------

    def copy_current(self) -> None:
        idx = self.table.currentIndex()
        if idx.isValid():
            text = idx.data(COPY_ROLE) or ""
            QGuiApplication.clipboard().setText(str(text))

    def copy_sha256(self) -> None:
        rows = [r for r in self.selected_rows() if r.sha256]
        if rows:
            QGuiApplication.clipboard().setText("\n".join(f"{r.sha256}  chunk {r.index}" if len(rows) > 1 else r.sha256
                                                          for r in rows))

    def _context_menu(self, pos: Any) -> None:
        menu = QMenu(self)
        menu.addAction(self.copy_action)
        menu.addAction(self.copy_sha_action)
        if self.row_actions:
            menu.addSeparator()
            for a in self.row_actions:
                if a is None:
                    menu.addSeparator()
                else:
                    menu.addAction(a)
        menu.exec(self.table.viewport().mapToGlobal(pos))


def job_detail_text(summary: dict[str, Any]) -> str:
    parts = []
    if summary.get("frames_total"):
        parts.append(f"{summary['frames_done']}/{summary['frames_total']} frames")
    if summary.get("elapsed") is not None:
        parts.append(f"elapsed {fmt_duration(summary['elapsed'])}")
    return " · ".join(parts)
