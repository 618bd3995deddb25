"""The cache row of the render settings: how much this machine's caches hold, and a Prune button.

Sizes and pruning go through the render service (service/caches.py), in a thread: a large plan
cache takes a moment to measure and the window must not wait for it.
"""
from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from hyperdesk.service import RenderService
from hyperdesk.service.caches import human_size as human

Spawn = Callable[[Coroutine[Any, Any, Any], str], Any]


class CachePanel(QWidget):
    def __init__(self, service: RenderService, spawn: Spawn, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.spawn = spawn
        self.label = QLabel("Cache: …")
        self.label.setToolTip("Plans and fetched assets kept on this machine; the least recently used go past "
                              "their size caps, never a plan a job may still resume with.")
        self.prune_button = QPushButton("Prune")
        self.prune_button.setToolTip("Remove every cached plan and asset no job needs, and what ended or "
                                     "crashed renders left behind")
        self.prune_button.clicked.connect(lambda: self.spawn(self.prune(), "prune"))
        row = QHBoxLayout(self)
        row.addWidget(self.label, 1)
        row.addWidget(self.prune_button)
        self.total = 0

    def show_usage(self, machine: dict[str, dict[str, Any]]) -> None:
        self.total = sum(int(c.get("bytes", 0)) for c in machine.values())
        plans, assets = machine["plans"], machine["assets"]
        self.label.setText(f"Cache: {human(self.total)} (plans {human(plans['bytes'])} of {human(plans['cap'])}, "
                           f"assets {human(assets['bytes'])})")

    async def refresh(self) -> None:
        report = await self.service.cache_info(nodes=False)
        self.show_usage(report["machine"])

    async def prune(self) -> None:
        self.prune_button.setEnabled(False)
        try:
            await self.service.prune_caches(everything=True, nodes=False)
            await self.refresh()
        finally:
            self.prune_button.setEnabled(True)
