"""A message bar above the job view with one or two actions: what the app offers without a modal box
(interrupted jobs to resume at launch, a re-plan after the composition changed)."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget


class Banner(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("#banner { background: palette(alternate-base); border: 1px solid #e08e0b; }")
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.buttons: list[QPushButton] = []
        self.close_button = QPushButton("Dismiss")
        self.close_button.clicked.connect(self.hide)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(8, 4, 8, 4)
        self._layout.addWidget(self.label, 1)
        self._layout.addWidget(self.close_button)
        self.hide()

    def show_message(self, text: str, actions: list[tuple[str, Callable[[], object]]]) -> None:
        for b in self.buttons:
            self._layout.removeWidget(b)
            b.deleteLater()
        self.buttons = []
        for n, (title, fn) in enumerate(actions):
            button = QPushButton(title)
            button.clicked.connect(lambda _c=False, f=fn: self._run(f))
            self._layout.insertWidget(1 + n, button)
            self.buttons.append(button)
        self.label.setText(text)
        self.show()

    def _run(self, fn: Callable[[], object]) -> None:
        self.hide()
        fn()

    def button(self, title: str) -> QPushButton | None:
        return next((b for b in self.buttons if b.text() == title), None)
