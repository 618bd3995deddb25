"""The composition panel: open (dialog, drag and drop, recent list), facts, thumbnail, variables."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QSize, Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from hyperdesk.gui.elided_label import ElidedLabel
from hyperdesk.service.facts import CompositionFacts
from hyperdesk.gui.theme import fmt_duration, state_color
from hyperdesk.models import VariableDecl

MAX_RECENT = 10


def composition_path_from_drop(urls: list[Any]) -> str | None:
    """The first dropped local .html/.htm file or folder with an index.html."""
    for url in urls:
        if not url.isLocalFile():
            continue
        p = Path(url.toLocalFile())
        if p.is_file() and p.suffix.lower() in (".html", ".htm"):
            return str(p)
        if p.is_dir() and (p / "index.html").is_file():
            return str(p)
    return None


def _fit_height(lst: QListWidget, max_rows: int = 4) -> None:
    """A list as tall as its items (up to max_rows), so empty lists take one line."""
    rows = max(1, min(max_rows, lst.count()))
    row_h = lst.sizeHintForRow(0) if lst.count() else lst.fontMetrics().height() + 4
    lst.setFixedHeight(rows * max(row_h, 16) + 2 * lst.frameWidth() + 4)


class VariablesEditor(QWidget):
    """One editor per declared variable (string, number, color, boolean, enum)."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.decls: list[VariableDecl] = []
        self.editors: dict[str, QWidget] = {}
        self.empty = QLabel("The composition declares no variables.")
        self.empty.setEnabled(False)
        self.form.addRow(self.empty)

    def set_declarations(self, decls: list[VariableDecl], values: dict[str, Any] | None = None) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors.clear()
        self.decls = list(decls)
        values = values or {}
        if not decls:
            self.empty = QLabel("The composition declares no variables.")
            self.empty.setEnabled(False)
            self.form.addRow(self.empty)
            return
        for d in decls:
            value = values.get(d.id, d.default)
            editor = self._editor(d, value)
            self.editors[d.id] = editor
            label = QLabel(d.label or d.id)
            label.setToolTip(f"{d.id} ({d.type}), default {d.default!r}")
            self.form.addRow(label, editor)

    def _editor(self, d: VariableDecl, value: Any) -> QWidget:
        if d.type == "boolean":
            check = QCheckBox()
            check.setChecked(bool(value))
            check.toggled.connect(self.changed)
            return check
        if d.type == "number":
            spin = QDoubleSpinBox()
            spin.setDecimals(3)
            spin.setRange(-1e9, 1e9)
            try:
                spin.setValue(float(value if value is not None else 0))
            except (TypeError, ValueError):
                spin.setValue(0.0)
            spin.valueChanged.connect(self.changed)
            return spin
        if d.type == "enum":
            combo = QComboBox()
            for opt in d.options or []:
                combo.addItem(str(opt), opt)
            i = combo.findData(value)
            combo.setCurrentIndex(max(0, i))
            combo.currentIndexChanged.connect(self.changed)
            return combo
        if d.type == "color":
            box = QWidget()
            row = QHBoxLayout(box)
            row.setContentsMargins(0, 0, 0, 0)
            edit = QLineEdit(str(value or ""))
            swatch = QToolButton()
            swatch.setFixedSize(QSize(24, 20))

            def paint(text: str) -> None:
                c = QColor(text)
                swatch.setStyleSheet(f"background: {c.name() if c.isValid() else 'transparent'};")

            def pick() -> None:
                c = QColorDialog.getColor(QColor(edit.text()), box, f"Choose {d.label or d.id}")
                if c.isValid():
                    edit.setText(c.name())

            edit.textChanged.connect(paint)
            edit.textChanged.connect(self.changed)
            swatch.clicked.connect(pick)
            paint(edit.text())
            row.addWidget(edit, 1)
            row.addWidget(swatch)
            box.setProperty("line_edit", edit)
            return box
        line = QLineEdit("" if value is None else str(value))
        line.textChanged.connect(self.changed)
        return line

    def value_of(self, d: VariableDecl) -> Any:
        w = self.editors[d.id]
        if d.type == "boolean":
            return w.isChecked()  # type: ignore[attr-defined]
        if d.type == "number":
            v = w.value()  # type: ignore[attr-defined]
            return int(v) if float(v).is_integer() and isinstance(d.default, int) else v
        if d.type == "enum":
            return w.currentData()  # type: ignore[attr-defined]
        if d.type == "color":
            return w.property("line_edit").text()
        return w.text()  # type: ignore[attr-defined]

    def values(self) -> dict[str, Any]:
        return {d.id: self.value_of(d) for d in self.decls}

    def overrides(self) -> dict[str, Any]:
        """Only the variables whose value differs from the declaration's default."""
        return {d.id: v for d in self.decls if (v := self.value_of(d)) != d.default}


class CompositionPanel(QWidget):
    openRequested = Signal(str)  # a path chosen by dialog, drop or recent list
    variablesChanged = Signal()

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.facts: CompositionFacts | None = None
        self.setAcceptDrops(True)

        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Open a composition (an .html file or a project folder) — Ctrl+O")
        self.open_button.clicked.connect(self.choose_file)
        self.open_folder_button = QToolButton()
        self.open_folder_button.setText("Folder…")
        self.open_folder_button.clicked.connect(self.choose_folder)
        self.recent_button = QToolButton()
        self.recent_button.setText("Recent")
        self.recent_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_menu = QMenu(self)
        self.recent_button.setMenu(self.recent_menu)
        self.recent_menu.aboutToShow.connect(self._fill_recent)

        self.name_label = ElidedLabel("Drop a composition here, or open one.", Qt.TextElideMode.ElideRight)
        bold = self.name_label.font()
        bold.setBold(True)
        self.name_label.setFont(bold)
        self.path_label = ElidedLabel("")  # the full path in its tooltip
        self.status = QLabel("")
        self.status.setWordWrap(True)
        # an error naming a long path must not widen the dock: it wraps or is cut, never pushes
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.thumbnail = QLabel("no thumbnail")
        self.thumbnail.setObjectName("thumbnail")
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumbnail.setFixedHeight(158)
        self.thumbnail.setMinimumWidth(200)
        self.thumbnail.setStyleSheet("QLabel#thumbnail { background: #202124; color: #9aa0a6; border-radius: 3px; }")

        self.size_label = QLabel("")
        self.fps_label = QLabel("")
        self.duration_label = QLabel("")
        self.frames_label = QLabel("")
        self.media_label = QLabel("")
        self.subs = QListWidget()
        self.assets = QListWidget()
        self.warnings = QListWidget()
        self.warnings.setWordWrap(True)
        for lst in (self.subs, self.assets, self.warnings):
            lst.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            lst.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        facts = QFormLayout()
        facts.addRow("Size", self.size_label)
        facts.addRow("Frame rate", self.fps_label)
        facts.addRow("Duration", self.duration_label)
        facts.addRow("Frames", self.frames_label)
        facts.addRow("Media", self.media_label)
        facts.addRow("Sub-compositions", self.subs)
        facts.addRow("Assets", self.assets)
        facts.addRow("Warnings", self.warnings)

        self.variables = VariablesEditor()
        self.variables.changed.connect(self.variablesChanged)

        top = QHBoxLayout()
        top.addWidget(self.open_button)
        top.addWidget(self.open_folder_button)
        top.addWidget(self.recent_button)
        top.addStretch(1)
        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.addLayout(top)
        layout.addWidget(self.name_label)
        layout.addWidget(self.path_label)
        layout.addWidget(self.thumbnail)
        layout.addWidget(self.status)
        layout.addLayout(facts)
        title = QLabel("<b>Variables</b>")
        layout.addWidget(title)
        layout.addWidget(self.variables)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.clear()

    # ---- opening --------------------------------------------------------------------------------

    def choose_file(self) -> None:
        start = str(Path(self.recent()[0]).parent) if self.recent() else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open composition", start, "Compositions (*.html *.htm)")
        if path:
            self.openRequested.emit(path)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open composition folder", str(Path.home()))
        if path:
            self.openRequested.emit(path)

    def recent(self) -> list[str]:
        value = self.settings.value("recent", [])
        if isinstance(value, str):  # QSettings gives a one-item list back as its item
            value = [value]
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else []

    def add_recent(self, path: str) -> None:
        items = [path] + [p for p in self.recent() if p != path]
        self.settings.setValue("recent", items[:MAX_RECENT])

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        items = self.recent()
        if not items:
            a = self.recent_menu.addAction("(none)")
            a.setEnabled(False)
        for p in items:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _=False, p=p: self.openRequested.emit(p))
        if items:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear recent", lambda: self.settings.setValue("recent", []))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and composition_path_from_drop(event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        path = composition_path_from_drop(event.mimeData().urls())
        if path:
            event.acceptProposedAction()
            self.openRequested.emit(path)

    # ---- facts ----------------------------------------------------------------------------------

    def clear(self) -> None:
        self.facts = None
        for w in (self.size_label, self.fps_label, self.duration_label, self.frames_label, self.media_label):
            w.setText("—")
        for lst in (self.subs, self.assets, self.warnings):
            lst.clear()
            _fit_height(lst)
        self.status.setText("")
        self.thumbnail.setPixmap(QPixmap())
        self.thumbnail.setText("no thumbnail")
        self.variables.set_declarations([])

    def set_loading(self, path: str) -> None:
        self.clear()
        self.name_label.setText(Path(path).name)
        self.path_label.setText(path)
        self.status.setText("Reading the composition…")
        self.thumbnail.setText("…")

    def set_facts(self, facts: CompositionFacts, values: dict[str, Any] | None = None) -> None:
        self.facts = facts
        if not facts.ok or facts.meta is None:
            err = facts.error or {}
            color = state_color("failed").name()
            self.status.setText(f"<b style='color:{color}'>{err.get('code', 'ERROR')}</b>: {err.get('message', '')}"
                                + (f"<br><i>hint:</i> {err.get('hint')}" if err.get("hint") else ""))
            self.thumbnail.setText("no thumbnail")
            return
        m = facts.meta
        self.status.setText(f"Composition <b>{m.composition_id}</b>")
        self.size_label.setText(f"{m.width} × {m.height}")
        self.fps_label.setText(facts.fps_text)
        self.duration_label.setText(f"{m.duration_s:.3f} s ({fmt_duration(m.duration_s)}, "
                                    f"from the {m.duration_source})")
        self.frames_label.setText(str(m.total_frames))
        self.media_label.setText(f"{m.media.video_count} video, {m.media.audio_count} audio, "
                                 f"{m.media.image_count} image · {len(m.fonts)} font(s)")
        self.subs.clear()
        for s in m.sub_compositions:
            when = f" @ {s.start_s:g}s" if s.start_s is not None else ""
            length = f" for {s.duration_s:g}s" if s.duration_s is not None else ""
            self.subs.addItem(f"{s.authored_id} ({s.file}){when}{length}")
        if not m.sub_compositions:
            self.subs.addItem("(none)")
        self.assets.clear()
        for a in facts.assets:
            item = QListWidgetItem(f"{a.get('path')} · {a.get('tier')} · {a.get('size', 0)} B")
            item.setToolTip(f"{a.get('url')}\nsha256 {a.get('sha256')}")
            self.assets.addItem(item)
        if not facts.assets:
            self.assets.addItem("(no remote assets)")
        self.warnings.clear()
        for w in facts.warnings:
            item = QListWidgetItem(f"{w.get('code')}: {w.get('message')}")
            item.setForeground(state_color("retrying"))
            item.setToolTip(item.text())
            self.warnings.addItem(item)
        if not facts.warnings:
            self.warnings.addItem("(none)")
        for lst in (self.subs, self.assets, self.warnings):
            _fit_height(lst)
        self.variables.set_declarations(list(m.variables), values)
        self.set_thumbnail(facts)

    def set_thumbnail(self, facts: CompositionFacts) -> None:
        if facts.thumbnail:
            pix = QPixmap(facts.thumbnail)
            if not pix.isNull():
                self.thumbnail.setPixmap(pix.scaled(QSize(max(200, self.thumbnail.width() - 4), 154),
                                                    Qt.AspectRatioMode.KeepAspectRatio,
                                                    Qt.TransformationMode.SmoothTransformation))
                self.thumbnail.setToolTip(f"frame 0 ({pix.width()}×{pix.height()})")
                return
        if facts.thumbnail_error:
            err = facts.thumbnail_error
            self.thumbnail.setText(f"no thumbnail\n{err.get('code')}")
            self.thumbnail.setToolTip(f"{err.get('code')}: {err.get('message')}\n{err.get('hint', '')}")
        elif facts.ok:
            self.thumbnail.setText("rendering frame 0…")
