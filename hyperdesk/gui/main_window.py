"""The main window: panels in docks around the job view, actions as data, events in one place.

Every farm event arrives through `on_event` (from FarmBridge) and is routed to the model or view
that shows it; every user action is an entry of `ACTIONS` with its shortcut and the condition
under which it is enabled. Long work (planning, probing, node tests) runs as asyncio tasks on the
qasync loop; their errors land in the status bar and the job header, never in a modal box.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable, Coroutine

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QColor, QDragEnterEvent, QDropEvent, QIcon, QKeySequence, QPainter, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSystemTrayIcon,
    QToolBar,
    QWidget,
)

from hyperdesk.errors import HyperdeskError
from hyperdesk.gui import events as ev
from hyperdesk.gui.chunk_model import ChunkRow, ChunkTableModel
from hyperdesk.gui.composition_panel import CompositionPanel, composition_path_from_drop
from hyperdesk.gui.composition_probe import CompositionFacts, discard_scratch, probe_composition
from hyperdesk.gui.farm_bridge import FarmBridge, default_workers
from hyperdesk.gui.history import HistoryModel, HistoryPanel, history_rows
from hyperdesk.gui.inspector import FailureInspector
from hyperdesk.gui.job_view import JobView, job_detail_text
from hyperdesk.gui.nodes_panel import HostKeyDialog, NodeDialog, NodesModel, NodesPanel
from hyperdesk.gui.preview import PreviewPanel, build_seam_thumbs, seam_thumbs_from_output
from hyperdesk.gui.settings_panel import RenderSettingsPanel, load_settings, save_settings
from hyperdesk.gui.theme import fmt_duration, state_color

ACTIVE = ("planning", "running", "pausing", "paused", "assembling")


def app_icon() -> QIcon:
    """A small painted icon (stacked chunk bars), so the app needs no image files."""
    pix = QPixmap(64, 64)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(QColor("#1f2329"))
    p.setPen(Qt.PenStyle.NoPen)
    p.drawRoundedRect(2, 2, 60, 60, 12, 12)
    for n, (color, width) in enumerate((("#3fa34d", 44), ("#2f7ed8", 34), ("#e08e0b", 24))):
        p.setBrush(QColor(color))
        p.drawRoundedRect(10, 12 + n * 15, width, 10, 3, 3)
    p.end()
    return QIcon(pix)


@dataclass
class ActionSpec:
    id: str
    text: str
    shortcut: str
    tip: str
    handler: str  # method name on MainWindow
    enabled: str | None = None  # method name returning bool
    toolbar: bool = False


ACTIONS: list[ActionSpec] = [
    ActionSpec("open", "&Open composition…", "Ctrl+O", "Open an .html composition or a project folder", "open_dialog",
               toolbar=True),
    ActionSpec("render", "&Render", "Ctrl+R", "Plan the composition and render it on the workers and nodes",
               "start_render", "can_render", True),
    ActionSpec("pause", "&Pause", "Ctrl+P", "Start no new chunk; the running chunks finish", "pause_job", "can_pause",
               True),
    ActionSpec("resume", "Res&ume", "Ctrl+Shift+P", "Continue a paused job, or resume one from the history",
               "resume_job", "can_resume", True),
    ActionSpec("cancel", "&Cancel", "Ctrl+.", "Stop every running chunk and end the job", "cancel_job", "can_cancel",
               True),
    ActionSpec("retry_failed", "Retry &failed chunks", "Ctrl+Shift+R", "Render every failed chunk again",
               "retry_failed", "can_retry_failed", True),
    ActionSpec("rerender", "Re-render &selected", "Ctrl+E", "Render the selected chunks again", "rerender_selected",
               "has_selection"),
    ActionSpec("retry_elsewhere", "Retry selected on &another node", "Ctrl+Shift+E",
               "Render the selected chunks again, avoiding the node that last ran them", "retry_selected_elsewhere",
               "has_selection"),
    ActionSpec("assemble", "&Assemble now", "Ctrl+Shift+A",
               "Stitch the finished chunks into the output and verify it (done automatically at the end)",
               "assemble_job", "can_assemble", True),
    ActionSpec("preview", "Pre&view output", "Ctrl+Shift+V", "Show the assembled output in the player",
               "show_preview", None, True),
    ActionSpec("refresh_history", "Refresh &history", "F5", "Reload past jobs from the job store", "refresh_history"),
    ActionSpec("shortcuts", "&Keyboard shortcuts", "F1", "List the keyboard shortcuts", "show_shortcuts"),
    ActionSpec("quit", "&Quit", "Ctrl+Q", "Close hyperdesk (a running job can be resumed later)", "close"),
]


class MainWindow(QMainWindow):
    def __init__(self, bridge: FarmBridge, settings: QSettings, *, confirm_close: bool = True,
                 probe_thumbnail: bool = True) -> None:
        super().__init__()
        self.bridge = bridge
        bridge.emit = self.on_event
        self.settings = settings
        self.confirm_close = confirm_close
        self.probe_thumbnail = probe_thumbnail
        self.setWindowTitle("hyperdesk")
        self.setWindowIcon(app_icon())
        self.setObjectName("hyperdeskMain")
        self.setAcceptDrops(True)
        self.resize(1360, 860)
        self.setDockOptions(QMainWindow.DockOption.AllowTabbedDocks | QMainWindow.DockOption.AnimatedDocks)

        self._node_records: list[Any] = []
        self.composition: str | None = None
        self.facts: CompositionFacts | None = None
        self.job_id: str | None = None
        self.job_state: str = ""
        self.job_output: str = ""
        self.job_fps = 30.0
        self.job_total_frames = 0
        self.job_error: dict[str, Any] | None = None
        self.assemble_result: ev.AssembleFinished | None = None
        self.notifications: list[tuple[str, str]] = []
        self.tasks: set[asyncio.Task] = set()
        self.task_errors: list[BaseException] = []
        self._probe_task: asyncio.Task | None = None
        self._closed = False
        self.closed_event = asyncio.Event()  # set when shutdown() has finished
        self._scratch = Path(tempfile.mkdtemp(prefix="hyperdesk-gui-"))

        # ---- models and panels
        self.model = ChunkTableModel(self)
        self.job_view = JobView(self.model)
        self.setCentralWidget(self.job_view)
        self.composition_panel = CompositionPanel(settings)
        self.settings_panel = RenderSettingsPanel()
        self.nodes_model = NodesModel(self)
        self.nodes_panel = NodesPanel(self.nodes_model)
        self.inspector = FailureInspector()
        self.preview = PreviewPanel()
        self.history_model = HistoryModel(self)
        self.history_panel = HistoryPanel(self.history_model)

        self.docks: dict[str, QDockWidget] = {}
        self._dock("composition", "Composition", self.composition_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("settings", "Render settings", self.settings_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("nodes", "Nodes", self.nodes_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("preview", "Preview", self.preview, Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("inspector", "Inspector", self.inspector, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._dock("history", "History", self.history_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        # The left column (composition, settings) runs the full height; inspector and history sit
        # under the job view and the nodes/preview column.
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.TopLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.tabifyDockWidget(self.docks["nodes"], self.docks["preview"])
        self.tabifyDockWidget(self.docks["inspector"], self.docks["history"])
        self.docks["nodes"].raise_()
        self.docks["inspector"].raise_()
        self.resizeDocks([self.docks["composition"]], [310], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["nodes"]], [400], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["composition"], self.docks["settings"]], [560, 260], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["inspector"]], [300], Qt.Orientation.Vertical)

        self.actions_by_id: dict[str, QAction] = {}
        self._build_actions()
        self.job_view.row_actions = [self.actions_by_id[a] for a in ("rerender", "retry_elsewhere")]
        self.status_label = QLabel("")
        self.statusBar().addPermanentWidget(self.status_label)

        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(self.windowIcon(), self)
            self.tray.setToolTip("hyperdesk")
            self.tray.activated.connect(lambda *_: (self.showNormal(), self.raise_(), self.activateWindow()))
            self.tray.show()

        # ---- wiring
        self.composition_panel.openRequested.connect(self.open_composition)
        self.composition_panel.variablesChanged.connect(self._save_composition_settings)
        self.settings_panel.changed.connect(self._save_composition_settings)
        self.job_view.selectionChanged.connect(self._chunk_selected)
        self.job_view.table.selectionModel().selectionChanged.connect(lambda *_: self.update_actions())
        self.model.summaryChanged.connect(self._summary)
        self.inspector.retryRequested.connect(lambda i: self.spawn(self._retry([i]), "retry"))
        self.inspector.retryElsewhereRequested.connect(lambda i, node: self.spawn(self._retry([i], node), "retry"))
        self.nodes_panel.localWorkersChanged.connect(self._local_workers_changed)
        self.nodes_model.disabled = set(self._list_setting("disabled_nodes"))
        self.nodes_model.enabledChanged.connect(self._node_enabled)
        self.nodes_panel.addRequested.connect(self.add_node_dialog)
        self.nodes_panel.editRequested.connect(self.edit_node_dialog)
        self.nodes_panel.removeRequested.connect(self.remove_node)
        self.nodes_panel.testRequested.connect(lambda name: self.spawn(self.test_node(name), "node test"))
        self.history_panel.openRequested.connect(self.open_job)
        self.history_panel.resumeRequested.connect(lambda job: self.spawn(self._resume(job), "resume"))
        self.history_panel.refreshRequested.connect(self.refresh_history)
        self.preview.refreshSeamsRequested.connect(lambda: self.spawn(self.refresh_seams(), "seams"))

        local = int(settings.value("local_workers", default_workers()) or 0)
        self.nodes_panel.local_workers.setValue(local)
        self.nodes_model.set_local(local)
        self.refresh_nodes()
        self.refresh_history()
        self.restore_layout()
        self.update_actions()

    # ---- construction -----------------------------------------------------------------------------

    def _dock(self, key: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{key}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.docks[key] = dock
        return dock

    def _build_actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        job_menu = self.menuBar().addMenu("&Job")
        view_menu = self.menuBar().addMenu("&View")
        help_menu = self.menuBar().addMenu("&Help")
        toolbar = QToolBar("Job actions")
        toolbar.setObjectName("toolbar_job")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(toolbar)
        for spec in ACTIONS:
            action = QAction(spec.text, self)
            action.setObjectName(f"action_{spec.id}")
            if spec.shortcut:
                action.setShortcut(QKeySequence(spec.shortcut))
            action.setToolTip(f"{spec.tip} ({spec.shortcut})" if spec.shortcut else spec.tip)
            action.setStatusTip(spec.tip)
            handler: Callable[[], Any] = getattr(self, spec.handler)
            action.triggered.connect(lambda _checked=False, h=handler: h())
            self.actions_by_id[spec.id] = action
            self.addAction(action)
            if spec.toolbar:
                toolbar.addAction(action)
        for key in ("open",):
            file_menu.addAction(self.actions_by_id[key])
        self.recent_menu = QMenu("Open &recent", self)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addMenu(self.recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.actions_by_id["quit"])
        for key in ("render", "pause", "resume", "cancel", None, "retry_failed", "rerender", "retry_elsewhere", None,
                    "assemble", "preview", "refresh_history"):
            if key is None:
                job_menu.addSeparator()
            else:
                job_menu.addAction(self.actions_by_id[key])
        for n, (key, dock) in enumerate(self.docks.items(), start=1):
            toggle = dock.toggleViewAction()
            toggle.setShortcut(QKeySequence(f"Ctrl+{n}"))
            view_menu.addAction(toggle)
        view_menu.addSeparator()
        view_menu.addAction("Reset layout", self.reset_layout)
        help_menu.addAction(self.actions_by_id["shortcuts"])
        help_menu.addAction("About hyperdesk", self.show_about)
        # the preview's own keys work wherever the focus is inside the preview dock
        for seq, fn in (("Space", self.preview.toggle), (",", lambda: self.preview.step(-1)),
                        (".", lambda: self.preview.step(1))):
            a = QAction(self.preview)
            a.setShortcut(QKeySequence(seq))
            a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            a.triggered.connect(fn)
            self.preview.addAction(a)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for p in self.composition_panel.recent():
            self.recent_menu.addAction(p, lambda p=p: self.open_composition(p))
        if not self.recent_menu.actions():
            a = self.recent_menu.addAction("(none)")
            a.setEnabled(False)

    # ---- tasks ------------------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str = "") -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self.tasks.discard(t)
            if t.cancelled():
                return
            exc = t.exception()
            if exc is not None:
                self.task_errors.append(exc)
                if isinstance(exc, HyperdeskError):
                    self.show_error(exc.to_dict(), what)
                else:
                    self.show_error({"code": "INTERNAL_ERROR", "message": f"{type(exc).__name__}: {exc}"}, what)
            self.update_actions()

        task.add_done_callback(done)
        return task

    def show_error(self, err: dict[str, Any], what: str = "") -> None:
        text = f"{err.get('code')}: {err.get('message', '')}"
        hint = err.get("hint")
        self.statusBar().showMessage((f"{what}: " if what else "") + text + (f" — {hint}" if hint else ""), 20000)
        if what in ("render", "resume", "retry", "assemble"):
            self.job_view.set_detail(f"<b style='color:{state_color('failed').name()}'>{err.get('code')}</b>: "
                                     f"{err.get('message', '')}" + (f"<br><i>hint:</i> {hint}" if hint else ""))

    # ---- composition ------------------------------------------------------------------------------

    def open_dialog(self) -> None:
        self.composition_panel.choose_file()

    def open_composition(self, path: str) -> None:
        p = Path(path).expanduser()
        if not p.exists():
            self.show_error({"code": "COMPOSITION_NOT_FOUND", "message": f"composition not found: {p}",
                             "hint": "Check the path: it must name an HTML file or a project folder with index.html."},
                            "open")
            return
        self.composition = str(p.absolute())
        self.composition_panel.add_recent(self.composition)
        self.composition_panel.set_loading(self.composition)
        s = load_settings(self.settings, self.composition)
        self.settings_panel.set_settings(self.composition, s)
        self.setWindowTitle(f"hyperdesk — {p.name if p.is_file() else p.name + '/'}")
        if self._probe_task is not None and not self._probe_task.done():
            self._probe_task.cancel()
        discard_scratch(self.facts)
        self.facts = None
        self._probe_task = self.spawn(self._probe(self.composition, s.variables), "open")
        self.update_actions()

    async def _probe(self, path: str, variables: dict[str, Any]) -> None:
        def got(facts: CompositionFacts) -> None:
            if path == self.composition:
                self.facts = facts
                self.composition_panel.set_facts(facts, variables)

        facts = await probe_composition(path, variables=variables or None, thumbnail=self.probe_thumbnail,
                                        scratch_root=self._scratch, on_facts=got)
        if path != self.composition:
            discard_scratch(facts)
            return
        self.facts = facts
        if facts.ok:
            self.composition_panel.set_thumbnail(facts)
        else:
            self.composition_panel.set_facts(facts)
        self.update_actions()

    def _save_composition_settings(self) -> None:
        if self.composition and self.settings_panel.isEnabled():
            s = self.settings_panel.settings()
            s.variables = self.composition_panel.variables.overrides() if self.composition_panel.variables.decls \
                else load_settings(self.settings, self.composition).variables
            save_settings(self.settings, self.composition, s)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and composition_path_from_drop(event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        path = composition_path_from_drop(event.mimeData().urls())
        if path:
            event.acceptProposedAction()
            self.open_composition(path)

    # ---- nodes ------------------------------------------------------------------------------------

    def refresh_nodes(self) -> None:
        self._node_records = self.bridge.nodes()  # cached: enablement checks run on every repaint
        self.nodes_model.set_configured(self._node_records)

    def enabled_nodes(self) -> list[Any]:
        disabled = self.nodes_model.disabled
        from hyperdesk.store.models import NodeConfig

        return [NodeConfig.model_validate(r.model_dump()) for r in self._node_records if r.name not in disabled]

    def _list_setting(self, key: str) -> list[str]:
        value = self.settings.value(key, [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _node_enabled(self, name: str, on: bool) -> None:
        self.settings.setValue("disabled_nodes", sorted(self.nodes_model.disabled))
        self.nodes_panel.status.setText(f"{name} {'takes part in' if on else 'is left out of'} new renders.")
        self.update_actions()

    def _local_workers_changed(self, n: int) -> None:
        self.settings.setValue("local_workers", n)
        self.nodes_model.set_local(n)
        self.update_actions()

    def add_node_dialog(self) -> None:
        dialog = NodeDialog(self, taken=tuple(r.name for r in self.nodes_model.rows))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        dialog.finished.connect(lambda result: self._node_dialog_done(dialog, result, None))
        self.node_dialog = dialog
        dialog.open()

    def edit_node_dialog(self, name: str) -> None:
        row = self.nodes_model.row_named(name)
        if row is None or row.config is None:
            return
        dialog = NodeDialog(self, row.config, taken=tuple(r.name for r in self.nodes_model.rows))
        dialog.finished.connect(lambda result: self._node_dialog_done(dialog, result, name))
        self.node_dialog = dialog
        dialog.open()

    def _node_dialog_done(self, dialog: NodeDialog, result: int, previous: str | None) -> None:
        if result != QDialog.DialogCode.Accepted:
            return
        cfg = dialog.config()
        self.bridge.save_node(cfg, previous_name=previous)
        self.refresh_nodes()
        self.nodes_panel.select(cfg.name)
        self.spawn(self.test_node(cfg.name), "node test")

    def remove_node(self, name: str) -> None:
        self.bridge.remove_node(name)
        self.refresh_nodes()
        self.nodes_panel.status.setText(f"Removed {name}.")

    async def test_node(self, name: str, *, accept_fingerprint: str | None = None) -> dict[str, Any]:
        rec = next((r for r in self.bridge.nodes() if r.name == name), None)
        if rec is None:
            return {}
        from hyperdesk.store.models import NodeConfig

        cfg = NodeConfig.model_validate(rec.model_dump())
        self.nodes_panel.status.setText(f"Testing {name} ({cfg.address})…")
        outcome = await self.bridge.test_node(cfg, accept_fingerprint=accept_fingerprint)
        err = outcome.get("error") or {}
        if err.get("code") == "HOST_KEY_UNKNOWN" and outcome.get("fingerprint") and accept_fingerprint is None:
            fingerprint = outcome["fingerprint"]
            confirmed = await self.confirm_host_key(name, cfg.address, fingerprint)
            if confirmed:
                return await self.test_node(name, accept_fingerprint=fingerprint)
            self.nodes_panel.status.setText(f"{name}: host key not trusted; the node stays unused.")
            return outcome
        if err:
            self.nodes_panel.status.setText(f"{name}: {err.get('code')}: {err.get('message')}"
                                            + (f"\nhint: {err['hint']}" if err.get("hint") else ""))
        else:
            verdict = "compatible" if outcome["state"] == "online" else f"incompatible: {outcome.get('reason')}"
            self.nodes_panel.status.setText(f"{name}: preflight done, {verdict}. Host key {outcome.get('fingerprint')}")
        self.refresh_nodes()
        return outcome

    async def confirm_host_key(self, name: str, address: str, fingerprint: str) -> bool:
        dialog = HostKeyDialog(name, address, fingerprint, self)
        self.host_key_dialog = dialog
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        dialog.finished.connect(lambda result: done.done() or done.set_result(result))
        dialog.open()
        result = await done
        self.host_key_dialog = None
        return result == QDialog.DialogCode.Accepted

    # ---- jobs -------------------------------------------------------------------------------------

    def start_render(self) -> asyncio.Task | None:
        if not self.can_render() or self.composition is None:
            return None
        s = self.settings_panel.settings()
        if self.composition_panel.variables.decls:
            s.variables = self.composition_panel.variables.overrides()
        else:
            s.variables = load_settings(self.settings, self.composition).variables
        if not s.output:
            self.show_error({"code": "OUTPUT_NOT_WRITABLE", "message": "choose an output path"}, "render")
            return None
        save_settings(self.settings, self.composition, s)
        self.bridge.farm_settings.keep_chunks = s.keep_chunks
        self.bridge.farm_settings.overwrite = s.overwrite
        self.job_view.set_job(f"Planning {Path(self.composition).name}…", "planning")
        self.job_error = None
        self.assemble_result = None
        self.preview.set_output(None)
        self.preview.seams.set_thumbs([])
        return self.spawn(self.bridge.start(self.composition, s, local_workers=self.nodes_panel.local_workers.value(),
                                            nodes=self.enabled_nodes()), "render")

    def pause_job(self) -> None:
        self.spawn(self.bridge.pause(), "pause")

    def resume_job(self) -> None:
        if self.job_state in ("paused", "pausing") and self.bridge.controller is not None:
            self.spawn(self.bridge.unpause(), "resume")
            return
        job = self.job_id
        row = self.history_panel.selected()
        if not job or self.job_state not in ("running", "failed", "cancelled") or self.bridge.active:
            job = row.job_id if row is not None and row.resumable else job
        if job:
            self.spawn(self._resume(job), "resume")

    async def _resume(self, job_id: str) -> None:
        self.job_error = None
        await self.bridge.resume(job_id, local_workers=self.nodes_panel.local_workers.value())

    def cancel_job(self) -> None:
        self.spawn(self.bridge.cancel(), "cancel")

    async def _retry(self, indices: list[int], avoid: str | None = None) -> None:
        if not self.job_id:
            return
        self.job_error = None
        if avoid:
            for i in indices:
                await self.bridge.retry_chunk(self.job_id, i, avoid_node=avoid)
        else:
            await self.bridge.retry_chunks(self.job_id, indices)
        self.statusBar().showMessage(f"queued chunk(s) {', '.join(map(str, indices))} again", 8000)

    def retry_failed(self) -> None:
        if self.job_id:
            self.spawn(self.bridge.retry_failed(self.job_id), "retry")

    def rerender_selected(self) -> None:
        rows = self.job_view.selected_rows()
        if rows:
            self.spawn(self._retry([r.index for r in rows]), "retry")

    def retry_selected_elsewhere(self) -> None:
        rows = self.job_view.selected_rows()
        for r in rows:
            node = (r.error or {}).get("node") or r.node
            self.spawn(self._retry([r.index], node or None), "retry")

    def assemble_job(self) -> None:
        if self.job_id:
            self.spawn(self.bridge.assemble(self.job_id), "assemble")

    def show_preview(self) -> None:
        self.docks["preview"].show()
        self.docks["preview"].raise_()
        if self.job_output and not self.preview.source:
            self.preview.set_output(self.job_output, self.job_fps, self.job_total_frames)

    def open_job(self, job_id: str) -> None:
        """Show a stored job (from the history) in the job view, without running it."""
        if self.bridge.active and self.bridge.job_id != job_id:
            self.statusBar().showMessage("a job is running: its view stays until it ends", 8000)
            return
        job = self.bridge.job(job_id)
        if job is None:
            return
        self.job_id = job.id
        self.job_output = job.output
        self.job_fps, self.job_total_frames = self.bridge.job_facts(job)
        self.model.job_id = job.id
        self.model.load_rows(self.bridge.rows_from_store(job.id))
        self.inspector.show_row(None, job.id)
        self._set_job_header(job.id, job.state, str((job.spec or {}).get("composition", "")), job.output)
        self.job_state = job.state
        self.job_error = job.error
        if job.error:
            self._show_job_error(job.error)
        if job.result:
            self._show_assembled(ev.AssembleFinished(job.id, True, output=job.output, result=job.result))
        self.update_actions()

    def refresh_history(self) -> None:
        from hyperdesk.gui.farm_bridge import LIVE_JOBS

        self.history_model.own = {self.bridge.job_id} if self.bridge.active and self.bridge.job_id else set()
        self.history_model.set_rows(history_rows(self.bridge.store, live_here=LIVE_JOBS))
        if self.job_id:
            self.history_panel.select_job(self.job_id)
        self.history_panel._selection()

    # ---- events -----------------------------------------------------------------------------------

    def on_event(self, e: Any) -> None:
        """Every GUI event of the farm bridge comes through here."""
        if self._closed:
            return
        if isinstance(e, (ev.ChunkProgress, ev.ChunkHeartbeat, ev.ChunkLog)):
            self.model.apply(e)
            if e.node:
                self.nodes_model.note_heartbeat(e.node, e.at)
            return
        if isinstance(e, (ev.AttemptStarted, ev.ChunkDone, ev.ChunkFailed, ev.ChunkQueued)):
            self.model.apply(e)
            self.nodes_model.apply(e)
            if isinstance(e, ev.ChunkFailed) and e.final and self.job_view.current_row() is None:
                QTimer.singleShot(0, lambda i=e.index: self.job_view.select_chunk(i))
            return
        if isinstance(e, ev.JobOpened):
            self._job_opened(e)
        elif isinstance(e, ev.JobStateChanged):
            self._job_state(e)
            self.nodes_model.apply(e)
        elif isinstance(e, ev.NodeUpdate):
            self.nodes_model.apply(e)
        elif isinstance(e, ev.AssembleStarted):
            self.preview.set_verification("Assembling and verifying the output…")
            self.job_view.set_state("assembling")
        elif isinstance(e, ev.AssembleFinished):
            self._show_assembled(e)
        elif isinstance(e, ev.Notice):
            self.statusBar().showMessage(e.text, 10000)
        self.update_actions()

    def _set_job_header(self, job_id: str, state: str, composition: str, output: str) -> None:
        name = Path(composition).name if composition else "job"
        self.job_view.set_job(f"<b>{name}</b> → {output} <span style='color:#8a8f98'>job {job_id}</span>", state)

    def _job_opened(self, e: ev.JobOpened) -> None:
        self.job_id = e.job_id
        self.job_output = e.output
        self.job_fps = e.fps
        self.job_total_frames = e.total_frames
        self.model.job_id = e.job_id
        self.model.load_rows(self.bridge.rows_from_store(e.job_id))
        self.inspector.show_row(None, e.job_id)
        self._set_job_header(e.job_id, "running", e.composition or (self.composition or ""), e.output)
        self.refresh_history()

    def _job_state(self, e: ev.JobStateChanged) -> None:
        prev = self.job_state
        self.job_state = e.state
        if e.state == "planning":
            return
        if e.state == "cancelled" and not e.job_id:
            self.job_view.set_job("Planning cancelled", "cancelled")
            return
        if e.job_id and e.job_id != self.job_id and e.state != "failed":
            return
        if e.state == "failed":
            self.job_error = e.error
            self.job_view.set_state("failed")
            self._show_job_error(e.error or {})
            self.notify("Render failed", f"{(e.error or {}).get('code')}: {(e.error or {}).get('message', '')}",
                        QSystemTrayIcon.MessageIcon.Critical)
            failed = next((r for r in self.model.rows if r.state == "failed"), None)
            if failed is not None:
                self.job_view.select_chunk(failed.index)
                self.docks["inspector"].raise_()
        elif e.state == "done":
            self.job_view.set_state("done")
            took = self.model.summary().get("elapsed")
            self.notify("Render finished", f"{Path(self.job_output).name} is ready"
                        + (f" ({fmt_duration(took)})" if took else ""), QSystemTrayIcon.MessageIcon.Information)
        elif e.state == "cancelled":
            self.job_view.set_state("cancelled")
        else:
            self.job_view.set_state(e.state)
            if e.state == "running" and prev in ("failed", "cancelled", "done"):
                self.job_view.set_detail(job_detail_text(self.model.summary()))
        if e.state in ("done", "failed", "cancelled"):
            self.model.flush()
            self.refresh_history()

    def _show_job_error(self, err: dict[str, Any]) -> None:
        hint = err.get("hint")
        self.job_view.set_detail(f"<b style='color:{state_color('failed').name()}'>{err.get('code')}</b>: "
                                 f"{err.get('message', '')}" + (f"<br><i>hint:</i> {hint}" if hint else ""))

    def _show_assembled(self, e: ev.AssembleFinished) -> None:
        self.assemble_result = e
        if e.ok and e.result:
            r = e.result
            text = (f"<b style='color:{state_color('done').name()}'>verified</b>: {r.get('frames')} frames, "
                    f"{float(r.get('duration_s', 0)):.3f} s, {r.get('size_bytes', 0)} bytes, "
                    f"sha256 <code>{str(r.get('sha256', ''))[:16]}…</code>")
            for w in r.get("warnings") or []:
                text += f"<br>warning {w.get('code')}: {w.get('message')}"
            self.preview.set_verification(text)
            self.preview.verification.setToolTip(str(r.get("sha256", "")))
            self.job_output = e.output or self.job_output
            self.job_view.set_detail(f"Output {self.job_output} — " + text)
            self.preview.set_output(self.job_output, self.job_fps, self.job_total_frames)
            self.spawn(self.refresh_seams(), "seams")
        else:
            err = e.error or {}
            self.preview.set_verification(f"<b style='color:{state_color('failed').name()}'>{err.get('code')}</b>: "
                                          f"{err.get('message', '')}")

    async def refresh_seams(self) -> None:
        chunks = [(r.index, r.start, r.end) for r in self.model.rows]
        if not chunks:
            return
        out_dir = self._scratch / "seams"
        if self.job_output and Path(self.job_output).exists() and self.job_state in ("done", ""):
            thumbs = await seam_thumbs_from_output(self.job_output, chunks, out_dir)
        else:
            present = [(r.index, r.start, r.end, r.output_path) for r in self.model.rows
                       if r.state == "done" and r.output_path and Path(r.output_path).exists()]
            thumbs = await build_seam_thumbs(present, out_dir) if present else []
        self.preview.seams.set_thumbs(thumbs, "No chunk files or output on this machine yet.")

    def _summary(self, summary: dict[str, Any]) -> None:
        if self.job_state == "pausing" and summary.get("running", 0) == 0:
            self.job_state = "paused"
            self.job_view.set_state("paused")
        if self.job_state in ACTIVE:
            self.job_view.set_detail(job_detail_text(summary))
        self.status_label.setText(f"{summary.get('done', 0)}/{summary.get('total', 0)} chunks"
                                  if summary.get("total") else "")
        self.update_actions()

    def _chunk_selected(self, row: ChunkRow | None) -> None:
        self.inspector.show_row(row, self.job_id)
        self.update_actions()

    def notify(self, title: str, message: str, icon: QSystemTrayIcon.MessageIcon) -> None:
        self.notifications.append((title, message))
        if self.tray is not None and QSystemTrayIcon.supportsMessages():
            self.tray.showMessage(title, message, icon, 8000)
        self.statusBar().showMessage(f"{title}: {message}", 15000)
        QApplication.alert(self)

    # ---- enablement -------------------------------------------------------------------------------

    def can_render(self) -> bool:
        has_workers = self.nodes_panel.local_workers.value() > 0 or bool(self.enabled_nodes())
        return bool(self.composition) and not self.bridge.active and has_workers and \
            (self.facts is None or self.facts.ok)

    def can_pause(self) -> bool:
        return self.bridge.controller is not None and self.job_state == "running"

    def can_resume(self) -> bool:
        if self.job_state in ("paused", "pausing") and self.bridge.controller is not None:
            return True
        row = self.history_panel.selected()
        return not self.bridge.active and ((row is not None and row.resumable) or
                                           (bool(self.job_id) and self.job_state in ("running", "failed", "cancelled")))

    def can_cancel(self) -> bool:
        return self.bridge.active

    def can_retry_failed(self) -> bool:
        return bool(self.job_id) and self.model.counts().get("failed", 0) > 0 and \
            self.job_state not in ("planning", "assembling")

    def has_selection(self) -> bool:
        return bool(self.job_id) and self.job_view.current_row() is not None and \
            self.job_state not in ("planning", "assembling")

    def can_assemble(self) -> bool:
        """Every chunk done and its file still here (kept, or the job stopped before assembling)."""
        rows = self.model.rows
        if not (self.job_id and rows and self.job_state not in ACTIVE and all(r.state == "done" for r in rows)):
            return False
        return all(r.output_path and os.path.exists(r.output_path) for r in rows)

    def update_actions(self) -> None:
        for spec in ACTIONS:
            if spec.enabled:
                self.actions_by_id[spec.id].setEnabled(bool(getattr(self, spec.enabled)()))

    # ---- help -------------------------------------------------------------------------------------

    def shortcuts_text(self) -> str:
        lines = [f"{spec.shortcut:<14} {spec.text.replace('&', '')}" for spec in ACTIONS if spec.shortcut]
        lines += [f"Ctrl+{n:<9} show/hide {dock.windowTitle()}" for n, dock in enumerate(self.docks.values(), start=1)]
        lines += ["Ctrl+C         copy the selected cell (full sha256)", "Space          play / pause (preview)",
                  ", and .        previous / next frame (preview)"]
        return "\n".join(lines)

    def show_shortcuts(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("Keyboard shortcuts")
        box.setText(f"<pre>{self.shortcuts_text()}</pre>")
        box.open()

    def show_about(self) -> None:
        from hyperdesk import __version__

        QMessageBox.about(self, "About hyperdesk", f"hyperdesk {__version__}\nRender manager for HTML video compositions.")

    # ---- layout -----------------------------------------------------------------------------------

    def restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        header = self.settings.value("window/chunk_header")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)
        if isinstance(header, QByteArray):
            self.job_view.table.horizontalHeader().restoreState(header)

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/chunk_header", self.job_view.table.horizontalHeader().saveState())
        self.settings.sync()

    def reset_layout(self) -> None:
        for key, area in (("composition", Qt.DockWidgetArea.LeftDockWidgetArea),
                          ("settings", Qt.DockWidgetArea.LeftDockWidgetArea),
                          ("nodes", Qt.DockWidgetArea.RightDockWidgetArea),
                          ("preview", Qt.DockWidgetArea.RightDockWidgetArea),
                          ("inspector", Qt.DockWidgetArea.BottomDockWidgetArea),
                          ("history", Qt.DockWidgetArea.BottomDockWidgetArea)):
            dock = self.docks[key]
            dock.setFloating(False)
            self.addDockWidget(area, dock)
            dock.show()
        self.tabifyDockWidget(self.docks["nodes"], self.docks["preview"])
        self.tabifyDockWidget(self.docks["inspector"], self.docks["history"])

    # ---- minimise: nothing is painted, changes are kept ----------------------------------------------

    def changeEvent(self, event: Any) -> None:
        if event.type() == event.Type.WindowStateChange:
            self.model.set_suspended(self.isMinimized())
        super().changeEvent(event)

    # ---- closing ----------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closed:
            event.accept()
            return
        if self.bridge.active and self.confirm_close:
            answer = QMessageBox.question(
                self, "A render is running",
                "Closing stops the running chunks. The job stays in the history and can be resumed "
                "(finished chunks are kept).\n\nClose hyperdesk?",
                QMessageBox.StandardButton.Close | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
            if answer != QMessageBox.StandardButton.Close:
                event.ignore()
                return
        event.ignore()
        self.spawn(self.shutdown(), "close")

    async def shutdown(self) -> None:
        """Save the layout, stop the farm (jobs stay resumable), end tasks, close."""
        if self._closed:
            return
        self.save_layout()
        self._save_composition_settings()
        self._closed = True
        self.model.stop_timers()
        self.preview.close_media()
        for t in list(self.tasks):
            if t is not asyncio.current_task():
                t.cancel()
        await self.bridge.detach()
        discard_scratch(self.facts)
        shutil.rmtree(self._scratch, ignore_errors=True)
        if self.tray is not None:
            self.tray.hide()
        self.close()
        self.closed_event.set()
