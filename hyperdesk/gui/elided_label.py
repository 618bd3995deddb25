"""A one-line label that elides its text to the width it is given (the full text in its tooltip).

A plain QLabel asks for the width of its whole text, so a 200-character path would widen the
window; this one asks for a fixed, small width and shows what fits.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget


class ElidedLabel(QWidget):
    def __init__(self, text: str = "", mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle,
                 parent: QWidget | None = None, *, hint_width: int = 160) -> None:
        super().__init__(parent)
        self.mode = mode
        self.hint_width = hint_width
        self._text = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setText(text)

    def text(self) -> str:
        return self._text

    def setText(self, text: str, tooltip: str | None = None) -> None:
        self._text = text
        self.setToolTip(tooltip if tooltip is not None else text)
        self.update()

    def shown_text(self) -> str:
        """What is painted at the current width."""
        return self.fontMetrics().elidedText(self._text, self.mode, max(0, self.width()))

    def sizeHint(self) -> QSize:
        return QSize(self.hint_width, self.fontMetrics().height() + 2)

    def minimumSizeHint(self) -> QSize:
        return QSize(20, self.fontMetrics().height() + 2)

    def paintEvent(self, event: Any) -> None:
        p = QPainter(self)
        p.setPen(self.palette().color(self.foregroundRole()))
        p.drawText(self.rect(), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), self.shown_text())
        p.end()
