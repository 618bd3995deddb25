"""What the nodes panel does: add, edit, remove and test SSH nodes (confirming an unknown host key's
fingerprint first) and saved Dask clusters (their render workers and slots), switch them on or off for new
renders, and set the local worker count."""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import QObject, QSettings, Qt
from PySide6.QtWidgets import QDialog, QWidget

from hyperdesk.gui.nodes_panel import HostKeyDialog, NodeDialog, NodesModel, NodesPanel
from hyperdesk.service import RenderService
from hyperdesk.store.models import NodeConfig

Spawn = Callable[[Coroutine[Any, Any, Any], str], Any]


class NodeActions(QObject):
    def __init__(self, service: RenderService, model: NodesModel, panel: NodesPanel, settings: QSettings,
                 window: QWidget, spawn: Spawn, on_change: Callable[[], None]) -> None:
        super().__init__(window)
        self.service = service
        self.model = model
        self.panel = panel
        self.settings = settings
        self.window = window
        self.spawn = spawn
        self.on_change = on_change
        self.node_dialog: NodeDialog | None = None
        self.host_key_dialog: HostKeyDialog | None = None
        self._records: list[Any] = []
        model.disabled = set(self._list_setting("disabled_nodes"))
        model.enabledChanged.connect(self._node_enabled)
        panel.localWorkersChanged.connect(self._local_workers_changed)
        panel.addRequested.connect(self.add_dialog)
        panel.editRequested.connect(self.edit_dialog)
        panel.removeRequested.connect(self.remove)
        panel.testRequested.connect(lambda name: self.spawn(self.test(name), "node test"))

    # ---- what renders use ---------------------------------------------------------------------------

    def local_workers(self) -> int:
        return int(self.panel.local_workers.value())

    def set_local_workers(self, n: int) -> None:
        self.panel.local_workers.setValue(n)
        self.model.set_local(n)

    def refresh(self) -> None:
        self._records = self.service.nodes()  # cached: enablement checks run on every repaint
        self.model.set_configured(self._records)

    def enabled_nodes(self) -> list[NodeConfig]:
        """The saved SSH nodes and Dask clusters switched on for new renders."""
        return [NodeConfig.model_validate(r.model_dump()) for r in self._records if r.name not in self.model.disabled]

    def _list_setting(self, key: str) -> list[str]:
        value = self.settings.value(key, [])
        if isinstance(value, str):
            return [value]
        return [str(v) for v in value] if isinstance(value, list) else []

    def _node_enabled(self, name: str, on: bool) -> None:
        self.settings.setValue("disabled_nodes", sorted(self.model.disabled))
        self.panel.status.setText(f"{name} {'takes part in' if on else 'is left out of'} new renders.")
        self.on_change()

    def _local_workers_changed(self, n: int) -> None:
        self.settings.setValue("local_workers", n)
        self.model.set_local(n)
        self.on_change()

    # ---- add, edit, remove ----------------------------------------------------------------------------

    def add_dialog(self) -> None:
        dialog = NodeDialog(self.window, taken=tuple(r.name for r in self.model.rows))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        dialog.finished.connect(lambda result: self._dialog_done(dialog, result, None))
        self.node_dialog = dialog
        dialog.open()

    def edit_dialog(self, name: str) -> None:
        row = self.model.row_named(name)
        if row is None or row.config is None:
            return
        dialog = NodeDialog(self.window, row.config, taken=tuple(r.name for r in self.model.rows))
        dialog.finished.connect(lambda result: self._dialog_done(dialog, result, name))
        self.node_dialog = dialog
        dialog.open()

    def _dialog_done(self, dialog: NodeDialog, result: int, previous: str | None) -> None:
        if result != QDialog.DialogCode.Accepted:
            return
        cfg = dialog.config()
        self.service.save_node(cfg, previous_name=previous)
        self.refresh()
        self.panel.select(cfg.name)
        self.spawn(self.test(cfg.name), "node test")

    def remove(self, name: str) -> None:
        self.service.remove_node(name)
        self.refresh()
        self.panel.status.setText(f"Removed {name}.")

    # ---- test ---------------------------------------------------------------------------------------

    async def test_cluster(self, cfg: NodeConfig) -> dict[str, Any]:
        """A saved Dask cluster: connect, list its render workers and slots, preflight each (through the service)."""
        name = cfg.name
        self.panel.status.setText(f"Testing the Dask cluster {name} ({cfg.address})…")
        self.model.set_node_state(name, "testing", address=cfg.address, kind="dask")
        outcome = await self.service.test_cluster(name)
        err = outcome.get("error") or {}
        row = self.model.row_named(name)
        if row is not None:
            row.workers = outcome["workers"] if not err else None
        reason = f"{err.get('code')}: {err.get('message')}" if err else None
        self.model.set_node_state(name, outcome["state"], address=cfg.address, slots=outcome.get("slots") or 0,
                                  reason=reason, heartbeat=not err, kind="dask")
        if err:
            self.panel.status.setText(f"{name}: {reason}" + (f"\nhint: {err['hint']}" if err.get("hint") else ""))
        else:
            lines = [f"{w['name']}: {w['slots']} slot{'s' if w['slots'] != 1 else ''}, {w['state']}"
                     + (f" ({w['reason']})" if w.get("reason") else "") for w in outcome["workers"]]
            self.panel.status.setText(f"{name}: {len(outcome['workers'])} render workers, {outcome['slots']} slots. "
                                      + "; ".join(lines))
        return outcome

    async def test(self, name: str, *, accept_fingerprint: str | None = None) -> dict[str, Any]:
        rec = next((r for r in self.service.nodes() if r.name == name), None)
        if rec is None:
            return {}
        cfg = NodeConfig.model_validate(rec.model_dump())
        if cfg.scheduler:
            return await self.test_cluster(cfg)
        self.panel.status.setText(f"Testing {name} ({cfg.address})…")
        self.model.set_node_state(name, "testing", address=cfg.address, slots=cfg.slots)
        outcome = await self.service.test_node(cfg, accept_fingerprint=accept_fingerprint)
        err = outcome.get("error") or {}
        if err:
            self.model.set_node_state(name, outcome["state"], address=cfg.address, slots=cfg.slots,
                                      reason=f"{err.get('code')}: {err.get('message')}")
        else:
            self.model.set_node_state(name, outcome["state"], address=cfg.address, slots=cfg.slots,
                                      reason=outcome.get("reason"), preflight=outcome.get("report") or {},
                                      heartbeat=True)
        if err.get("code") == "HOST_KEY_UNKNOWN" and outcome.get("fingerprint") and accept_fingerprint is None:
            fingerprint = outcome["fingerprint"]
            if await self.confirm_host_key(name, cfg.address, fingerprint):
                return await self.test(name, accept_fingerprint=fingerprint)
            self.panel.status.setText(f"{name}: host key not trusted; the node stays unused.")
            return outcome
        if err:
            self.panel.status.setText(f"{name}: {err.get('code')}: {err.get('message')}"
                                      + (f"\nhint: {err['hint']}" if err.get("hint") else ""))
        else:
            verdict = "compatible" if outcome["state"] == "online" else f"incompatible: {outcome.get('reason')}"
            self.panel.status.setText(f"{name}: preflight done, {verdict}. Host key {outcome.get('fingerprint')}")
        self.refresh()
        return outcome

    async def confirm_host_key(self, name: str, address: str, fingerprint: str) -> bool:
        dialog = HostKeyDialog(name, address, fingerprint, self.window)
        self.host_key_dialog = dialog
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        dialog.finished.connect(lambda result: None if done.done() else done.set_result(result))
        dialog.open()
        result = await done
        self.host_key_dialog = None
        return result == QDialog.DialogCode.Accepted
