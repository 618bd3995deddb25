"""Actions as data (CueGUI's MenuActions idea): each user action is a spec with its text, shortcut,
tip, handler and the condition under which it is enabled; the panel that owns the action owns the
handler and the condition, and `ActionSet` turns the specs into QActions."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget


@dataclass(frozen=True)
class ActionSpec:
    id: str
    text: str
    shortcut: str
    tip: str
    handler: str  # method name on the owner
    enabled: str | None = None  # method name on the owner returning bool
    toolbar: bool = False


class ActionSet:
    """The QActions of one owner's specs (added to `widget`, so their shortcuts work anywhere in it)."""

    def __init__(self, owner: Any, specs: list[ActionSpec], widget: QWidget) -> None:
        self.owner = owner
        self.specs = specs
        self.actions: dict[str, QAction] = {}
        for spec in specs:
            action = QAction(spec.text, widget)
            action.setObjectName(f"action_{spec.id}")
            if spec.shortcut:
                action.setShortcut(QKeySequence(spec.shortcut))
            action.setToolTip(f"{spec.tip} ({spec.shortcut})" if spec.shortcut else spec.tip)
            action.setStatusTip(spec.tip)
            handler: Callable[[], Any] = getattr(owner, spec.handler)
            action.triggered.connect(lambda _checked=False, h=handler: h())
            widget.addAction(action)
            self.actions[spec.id] = action

    def update(self) -> None:
        for spec in self.specs:
            if spec.enabled:
                self.actions[spec.id].setEnabled(bool(getattr(self.owner, spec.enabled)()))

    def toolbar_actions(self) -> list[QAction]:
        return [self.actions[s.id] for s in self.specs if s.toolbar]
