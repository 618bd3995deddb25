"""What the composition panel does: open a composition (dialog, drop, recent list), show its facts from
the plan a render of the current settings uses (planned once, in the plan cache), render its first
frame as the thumbnail, and remember the render settings per composition."""
from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings
from PySide6.QtWidgets import QWidget

from hyperdesk.errors import HyperdeskError
from hyperdesk.gui.composition_panel import CompositionPanel
from hyperdesk.gui.settings_panel import RenderSettingsPanel, load_settings, save_settings
from hyperdesk.service import CompositionFacts, RenderRequest, RenderService

Spawn = Callable[[Coroutine[Any, Any, Any], str], asyncio.Task]


class CompositionActions(QObject):
    def __init__(self, service: RenderService, panel: CompositionPanel, settings_panel: RenderSettingsPanel,
                 settings: QSettings, window: QWidget, *, spawn: Spawn, scratch: Path,
                 request_for: Callable[[str], RenderRequest], show_error: Callable[[dict[str, Any], str], None],
                 on_change: Callable[[], None], thumbnail: bool = True) -> None:
        super().__init__(window)
        self.service = service
        self.panel = panel
        self.settings_panel = settings_panel
        self.settings = settings
        self.window = window
        self.spawn = spawn
        self.scratch = scratch
        self.request_for = request_for
        self.show_error = show_error
        self.on_change = on_change
        self.thumbnail = thumbnail
        self.composition: str | None = None
        self.facts: CompositionFacts | None = None
        self._task: asyncio.Task | None = None
        self._thumbs = itertools.count()
        panel.openRequested.connect(self.open)
        panel.variablesChanged.connect(self.save_settings)
        settings_panel.changed.connect(self.save_settings)

    def open_dialog(self) -> None:
        self.panel.choose_file()

    def open(self, path: str) -> None:
        p = Path(path).expanduser()
        if not p.exists():
            self.show_error({"code": "COMPOSITION_NOT_FOUND", "message": f"composition not found: {p}",
                             "hint": "Check the path: it must name an HTML file or a project folder with index.html."},
                            "open")
            return
        self.composition = str(p.absolute())
        self.panel.add_recent(self.composition)
        self.panel.set_loading(self.composition)
        s = load_settings(self.settings, self.composition)
        self.settings_panel.set_settings(self.composition, s)
        self.window.setWindowTitle(f"hyperdesk — {p.name if p.is_file() else p.name + '/'}")
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self.facts = None
        self._task = self.spawn(self._inspect(self.composition, s.variables), "open")
        self.on_change()

    async def _inspect(self, path: str, variables: dict[str, Any]) -> None:
        facts = await self.service.inspect(self.request_for(path))
        if path != self.composition:
            return
        self.facts = facts
        self.panel.set_facts(facts, variables)
        self.on_change()
        if not (facts.ok and self.thumbnail and facts.plan is not None):
            return
        thumb = self.scratch / f"thumbnail-{next(self._thumbs)}.png"
        try:
            await self.service.still(facts.plan, 0, thumb)
            facts.thumbnail = str(thumb)
        except HyperdeskError as err:
            facts.thumbnail_error = err.to_dict()
        if path == self.composition:
            self.panel.set_thumbnail(facts)

    def save_settings(self) -> None:
        if self.composition and self.settings_panel.isEnabled():
            s = self.settings_panel.settings()
            s.variables = self.panel.variables.overrides() if self.panel.variables.decls \
                else load_settings(self.settings, self.composition).variables
            save_settings(self.settings, self.composition, s)
