"""Painted progress: the per-chunk progress delegate and the whole-job bar (frames, with a chunk-state strip).

Both paint with QPainter in a few calls (no child widgets per row), which is what keeps a
1,000-row table cheap to repaint.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontDatabase, QPainter, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QToolTip, QWidget

from hyperdesk.gui.chunk_model import CELL_ROLE, PROGRESS_ROLE
from hyperdesk.gui.theme import fmt_duration, state_color

BAR_ORDER = ("done", "running", "retrying", "waiting", "failed")
_SELECTED = QStyle.StateFlag.State_Selected.value


class CellDelegate(QStyledItemDelegate):
    """Paints a text cell from one model call (CELL_ROLE) instead of QStyledItemDelegate's seven.

    A repaint of a full chunk table asks for ~400 cells; with the stock delegate that is ~2,800
    Python data() calls, most of them for roles this model never sets.
    """

    paint_count = 0

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        CellDelegate.paint_count += 1
        cell = index.data(CELL_ROLE)
        if cell is None:
            super().paint(painter, option, index)
            return
        text, color, align, mono = cell
        widget = option.widget
        style = widget.style() if widget is not None else None
        if style is not None:
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, widget)
        if not text:
            return
        selected = option.state.value & _SELECTED
        painter.save()
        if selected:
            painter.setPen(option.palette.color(QPalette.ColorRole.HighlightedText))
        elif color is not None:
            painter.setPen(color)
        else:
            painter.setPen(option.palette.color(QPalette.ColorRole.Text))
        rect = option.rect.adjusted(4, 0, -4, 0)
        if mono:
            painter.setFont(self.mono)
            metrics = painter.fontMetrics()
        else:
            metrics = option.fontMetrics
        if metrics.horizontalAdvance(text) > rect.width():
            text = metrics.elidedText(text, Qt.TextElideMode.ElideRight, rect.width())
        painter.drawText(rect, align, text)
        painter.restore()


class ProgressDelegate(QStyledItemDelegate):
    """A flat bar in the state's colour with `done/total` centred on it."""

    paint_count = 0  # class-wide, for benchmarks

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        ProgressDelegate.paint_count += 1
        data = index.data(PROGRESS_ROLE)
        if not data:
            super().paint(painter, option, index)
            return
        fraction, state, text = data
        painter.save()
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, option.palette.highlight())
        r = option.rect.adjusted(3, 4, -3, -4)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(option.palette.color(QPalette.ColorRole.Base).darker(112))
        painter.drawRoundedRect(QRectF(r), 3, 3)
        if fraction > 0:
            fill = QRectF(r.x(), r.y(), max(2.0, r.width() * fraction), r.height())
            painter.setBrush(state_color(state))
            painter.drawRoundedRect(fill, 3, 3)
        painter.setPen(option.palette.color(QPalette.ColorRole.Text))
        painter.drawText(r, int(Qt.AlignmentFlag.AlignCenter), text)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(120, 22)


class JobProgressBar(QWidget):
    """The whole job: a bar filled by frames done, and under it a thin strip of the chunks' states
    (done | running | retrying | waiting | failed), as CueGUI's job bar."""

    BAR_HEIGHT = 22
    STRIP_HEIGHT = 5

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.counts: dict[str, int] = {}
        self.total = 0
        self.frames_done = 0
        self.frames_total = 0
        self.caption = "no job"
        self.paint_count = 0
        self.setFixedHeight(self.BAR_HEIGHT + 2 + self.STRIP_HEIGHT)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)

    def set_summary(self, summary: dict[str, Any]) -> None:
        counts = {k: int(summary.get(k, 0) or 0) for k in ("done", "running", "waiting", "failed", "retrying")}
        counts["waiting"] -= counts["retrying"]
        total = int(summary.get("total", 0) or 0)
        frames_done = int(summary.get("frames_done", 0) or 0)
        frames_total = int(summary.get("frames_total", 0) or 0)
        parts = [f"{frames_done}/{frames_total} frames", f"{counts['done']}/{total} chunks"]
        if counts["running"]:
            parts.append(f"{counts['running']} running")
        if counts["retrying"]:
            parts.append(f"{counts['retrying']} retrying")
        if counts["failed"]:
            parts.append(f"{counts['failed']} failed")
        if summary.get("fps"):
            parts.append(f"{summary['fps']:.1f} frames/s")
        if summary.get("eta") is not None and counts["running"]:
            parts.append(f"ETA {fmt_duration(summary['eta'])}")
        caption = " · ".join(parts) if total else "no job"
        state = (counts, total, frames_done, frames_total, caption)
        if state != (self.counts, self.total, self.frames_done, self.frames_total, self.caption):
            self.counts, self.total, self.frames_done, self.frames_total, self.caption = state
            self.setToolTip("\n".join([f"{frames_done}/{frames_total} frames"]
                                      + [f"{k}: {counts.get(k, 0)} chunks" for k in BAR_ORDER]))
            self.update()

    def fraction(self) -> float:
        """The filled part of the bar: frames done over frames."""
        return min(1.0, self.frames_done / self.frames_total) if self.frames_total else 0.0

    def sizeHint(self) -> QSize:
        return QSize(400, self.BAR_HEIGHT + 2 + self.STRIP_HEIGHT)

    def bar_rect(self) -> QRect:
        return QRect(0, 0, self.width(), self.BAR_HEIGHT)

    def segments(self) -> list[tuple[str, QRect]]:
        """The strip's chunk-state segments, in BAR_ORDER, each as wide as its share of the chunks."""
        r = QRect(1, self.BAR_HEIGHT + 2, self.width() - 2, self.STRIP_HEIGHT)
        out: list[tuple[str, QRect]] = []
        if self.total <= 0:
            return out
        x = r.x()
        acc = 0
        for state in BAR_ORDER:
            n = self.counts.get(state, 0)
            if n <= 0:
                continue
            acc += n
            right = r.x() + round(r.width() * acc / self.total)
            out.append((state, QRect(x, r.y(), max(1, right - x), r.height())))
            x = right
        return out

    def paintEvent(self, event: Any) -> None:
        self.paint_count += 1
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        bar = self.bar_rect()
        p.fillRect(bar, self.palette().color(QPalette.ColorRole.Base).darker(108))
        if self.frames_total:
            fill = QRect(bar.x() + 1, bar.y() + 1, round((bar.width() - 2) * self.fraction()), bar.height() - 2)
            finished = self.total and self.counts.get("done", 0) == self.total
            p.fillRect(fill, state_color("done" if finished else "running"))
        for state, rect in self.segments():
            p.fillRect(rect, state_color(state))
        p.setPen(QPen(self.palette().color(QPalette.ColorRole.Mid)))
        p.drawRect(bar.adjusted(0, 0, -1, -1))
        # the caption in white over the fill and in the text colour over the empty part
        text = self.fontMetrics().elidedText(self.caption, Qt.TextElideMode.ElideRight, bar.width() - 8)
        split = bar.x() + 1 + round((bar.width() - 2) * self.fraction())
        p.setClipRect(QRect(split, bar.y(), bar.right() - split + 1, bar.height()))
        p.setPen(self.palette().color(QPalette.ColorRole.Text))
        p.drawText(bar, int(Qt.AlignmentFlag.AlignCenter), text)
        p.setClipRect(QRect(bar.x(), bar.y(), split - bar.x(), bar.height()))
        p.setPen(QColor("white"))
        p.drawText(bar, int(Qt.AlignmentFlag.AlignCenter), text)
        p.end()

    def mouseMoveEvent(self, event: Any) -> None:
        pos = event.position().toPoint()
        for state, rect in self.segments():
            if rect.contains(pos):
                QToolTip.showText(event.globalPosition().toPoint(), f"{state}: {self.counts.get(state, 0)}", self)
                return
        super().mouseMoveEvent(event)
