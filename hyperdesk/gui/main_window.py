"""The main window: panels in docks around the job view, menus built from the panels' actions, and
the service's events routed to the models that show them.

Each panel's actions live with their owner (gui/composition_actions.py, gui/job_actions.py,
gui/node_actions.py); the window only assembles them. Long work (planning, node tests) runs as
asyncio tasks on the qasync loop; their errors land in the status bar and the job header, never in a
modal box.
"""
from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Coroutine
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QRect, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import (QAction, QCloseEvent, QColor, QDragEnterEvent, QDropEvent, QIcon, QKeySequence, QPainter,
                           QPixmap)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QScrollArea,
    QSystemTrayIcon,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from hyperdesk import __version__
from hyperdesk.errors import HyperdeskError
from hyperdesk.farm import events as fe
from hyperdesk.gui.actions import ActionSet, ActionSpec
from hyperdesk.gui.banner import Banner
from hyperdesk.gui.chunk_model import ChunkRow, ChunkTableModel
from hyperdesk.gui.composition_actions import CompositionActions
from hyperdesk.gui.composition_panel import CompositionPanel, composition_path_from_drop
from hyperdesk.gui.history import HistoryModel, HistoryPanel, history_rows
from hyperdesk.gui.inspector import FailureInspector
from hyperdesk.gui.job_actions import ACTIVE, JOB_ACTIONS, AssembleOutcome, JobActions
from hyperdesk.gui.job_view import JobView, job_detail_text
from hyperdesk.gui.node_actions import NodeActions
from hyperdesk.gui.nodes_panel import NodesModel, NodesPanel
from hyperdesk.gui.preview import PreviewPanel
from hyperdesk.gui.cache_panel import CachePanel
from hyperdesk.gui.queue_panel import QUEUE_ACTIONS, QueueActions, QueueModel, QueuePanel
from hyperdesk.gui.settings_panel import RenderSettingsPanel
from hyperdesk.gui.theme import apply_theme, state_color, system_is_dark
from hyperdesk.service import CompositionFacts, RenderRequest, RenderService
from hyperdesk.service.frames import build_seam_thumbs, extract_chunk_thumbs, seam_thumbs_from_output
from hyperdesk.service.queue import RenderQueue

OPEN_ACTION = ActionSpec("open", "&Open composition…", "Ctrl+O", "Open an .html composition or a project folder",
                         "open_dialog", toolbar=True)
WINDOW_ACTIONS: list[ActionSpec] = [
    ActionSpec("refresh_history", "Refresh &history", "F5", "Reload past jobs from the job store", "refresh_history"),
    ActionSpec("shortcuts", "&Keyboard shortcuts", "F1", "List the keyboard shortcuts", "show_shortcuts"),
    ActionSpec("quit", "&Quit", "Ctrl+Q", "Close hyperdesk (a running job can be resumed later)", "close"),
]


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


def default_size(available: QRect) -> QSize:
    """The first-launch size: 1360×860 where it fits, else nine tenths of the screen's free area."""
    return QSize(min(1360, int(available.width() * 0.9)), min(860, int(available.height() * 0.9)))


def clamp_to(geometry: QRect, available: QRect) -> QRect:
    """*geometry* moved and shrunk to lie inside *available* (a layout saved on a bigger screen)."""
    w = min(geometry.width(), available.width())
    h = min(geometry.height(), available.height())
    x = min(max(geometry.x(), available.x()), available.x() + available.width() - w)
    y = min(max(geometry.y(), available.y()), available.y() + available.height() - h)
    return QRect(x, y, w, h)


class MainWindow(QMainWindow):
    def __init__(self, service: RenderService, settings: QSettings, *, confirm_close: bool = True,
                 probe_thumbnail: bool = True) -> None:
        super().__init__()
        self.service = service
        self.settings = settings
        self.confirm_close = confirm_close
        self.setWindowTitle("hyperdesk")
        self.setWindowIcon(app_icon())
        self.setObjectName("hyperdeskMain")
        self.setAcceptDrops(True)
        self.resize(default_size(self.screen().availableGeometry()))
        self.setDockOptions(QMainWindow.DockOption.AllowTabbedDocks | QMainWindow.DockOption.AnimatedDocks)
        self.notifications: list[tuple[str, str]] = []
        self.tasks: set[asyncio.Task] = set()
        self.task_errors: list[BaseException] = []
        self._closed = False
        self.closed_event = asyncio.Event()  # set when shutdown() has finished
        self._scratch = Path(tempfile.mkdtemp(prefix="hyperdesk-gui-"))
        self._live_wanted: int | None = None  # the chunk whose last frame the live thumbnail should show
        self._live_busy = False
        self._fitted = False  # fit_to_screen() ran after the first show

        # ---- models and panels
        self.model = ChunkTableModel(self)
        self.job_view = JobView(self.model)
        self.setCentralWidget(self.job_view)
        self.composition_panel = CompositionPanel(settings)
        self.settings_panel = RenderSettingsPanel()
        self.cache_panel = CachePanel(service, self.spawn)
        self.nodes_model = NodesModel(self)
        self.nodes_panel = NodesPanel(self.nodes_model)
        self.inspector = FailureInspector()
        self.preview = PreviewPanel()
        self.history_model = HistoryModel(self)
        self.history_panel = HistoryPanel(self.history_model)

        # ---- what the panels do
        self.node_actions = NodeActions(service, self.nodes_model, self.nodes_panel, settings, self, self.spawn,
                                        self.update_actions)
        self.job_actions = JobActions(self, service)
        self.banner = Banner()
        layout = self.job_view.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.insertWidget(0, self.banner)
        # The app runs the queue with the code of `hyperdesk queue run`; interrupted jobs wait for the
        # user's word (the banner at launch) instead of resuming on their own.
        self.queue = RenderQueue(service, resume_interrupted=False)
        self.queue_model = QueueModel(self)
        self.queue_panel = QueuePanel(self.queue_model)
        self.queue_actions = QueueActions(self, self.queue, self.queue_model, self.queue_panel)
        self.composition_actions = CompositionActions(
            service, self.composition_panel, self.settings_panel, settings, self, spawn=self.spawn,
            scratch=self._scratch, request_for=self.current_request, show_error=self.show_error,
            on_change=self.update_actions, thumbnail=probe_thumbnail)

        self.docks: dict[str, QDockWidget] = {}
        self._dock("composition", "Composition", self.composition_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("settings", "Render settings", self.settings_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("cache", "Cache", self.cache_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("nodes", "Nodes", self.nodes_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("preview", "Preview", self.preview, Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("inspector", "Inspector", self.inspector, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._dock("history", "History", self.history_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._dock("queue", "Queue", self.queue_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        # The left column (composition, settings) runs the full height; inspector and history sit
        # under the job view and the nodes/preview column.
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.TopLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.tabifyDockWidget(self.docks["nodes"], self.docks["preview"])
        self.tabifyDockWidget(self.docks["inspector"], self.docks["history"])
        self.tabifyDockWidget(self.docks["history"], self.docks["queue"])
        self.docks["nodes"].raise_()
        self.docks["inspector"].raise_()
        self.proportion_docks()

        self.action_sets = [ActionSet(self.composition_actions, [OPEN_ACTION], self),
                            ActionSet(self.job_actions, JOB_ACTIONS, self),
                            ActionSet(self.queue_actions, QUEUE_ACTIONS, self), ActionSet(self, WINDOW_ACTIONS, self)]
        self.actions_by_id: dict[str, QAction] = {k: a for s in self.action_sets for k, a in s.actions.items()}
        self._build_menus()
        self.job_view.row_actions = [self.actions_by_id[a] for a in ("rerender", "retry_elsewhere")]
        self.status_label = QLabel("")
        self.statusBar().addPermanentWidget(self.status_label)

        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(self.windowIcon(), self)
            self.tray.setToolTip("hyperdesk")
            self.tray.activated.connect(self._show_from_tray)
            self.tray.show()

        # ---- wiring
        self.job_view.selectionChanged.connect(self._chunk_selected)
        self.job_view.table.selectionModel().selectionChanged.connect(lambda *_: self.update_actions())
        self.model.summaryChanged.connect(self._summary)
        self.inspector.retryRequested.connect(lambda i: self.spawn(self.job_actions.retry([i]), "retry"))
        self.inspector.retryElsewhereRequested.connect(
            lambda i, node: self.spawn(self.job_actions.retry([i], node), "retry"))
        self.history_panel.openRequested.connect(self.job_actions.open_job)
        self.history_panel.resumeRequested.connect(
            lambda job: self.spawn(self.job_actions.resume_stored(job), "resume"))
        self.history_panel.refreshRequested.connect(self.refresh_history)
        self.preview.refreshSeamsRequested.connect(lambda: self.spawn(self.refresh_seams(), "seams"))
        service.add_listener(self.on_event)

        local_workers = settings.value("local_workers", service.default_local_slots())
        self.node_actions.set_local_workers(int(str(local_workers or 0)))
        self.node_actions.refresh()
        self.refresh_history()
        self.spawn(self.cache_panel.refresh(), "cache")
        self.restore_layout()
        self.offer_interrupted()
        if any(e.state == "queued" for e in self.queue_model.rows) and not self.queue.paused:
            self.queue_actions.ensure_running()
        self.update_actions()

    def offer_interrupted(self) -> None:
        """At launch: jobs left running by an app or a queue run that is gone are interrupted; one banner
        offers to resume them all (their finished chunks are kept)."""
        jobs = self.queue.interrupted()
        self.queue_actions.refresh()
        self.refresh_history()
        if not jobs:
            return
        names = ", ".join(j.name or j.id for j in jobs[:3]) + (" …" if len(jobs) > 3 else "")
        self.banner.show_message(
            f"{len(jobs)} job{'s' if len(jobs) != 1 else ''} stopped when hyperdesk last closed or crashed "
            f"({names}). Finished chunks are kept.",
            [("Resume all", lambda: self.queue_actions.resume_interrupted([j.id for j in jobs]))])

    def _show_from_tray(self, *_: Any) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    # ---- what tests and scripts read: the state the panels' actions keep ------------------------------

    @property
    def composition(self) -> str | None:
        return self.composition_actions.composition

    @property
    def facts(self) -> CompositionFacts | None:
        return self.composition_actions.facts

    @property
    def job_id(self) -> str | None:
        return self.job_actions.job_id

    @property
    def job_state(self) -> str:
        return self.job_actions.job_state

    @property
    def job_error(self) -> dict[str, Any] | None:
        return self.job_actions.job_error

    @property
    def assemble_result(self) -> AssembleOutcome | None:
        return self.job_actions.assemble_result

    @assemble_result.setter
    def assemble_result(self, value: AssembleOutcome | None) -> None:
        self.job_actions.assemble_result = value

    @property
    def node_dialog(self) -> Any:
        return self.node_actions.node_dialog

    @property
    def host_key_dialog(self) -> Any:
        return self.node_actions.host_key_dialog

    def open_composition(self, path: str) -> None:
        self.composition_actions.open(path)

    def start_render(self) -> Any:
        return self.job_actions.start_render()

    def show_preview(self) -> None:
        self.job_actions.show_preview()

    def refresh_nodes(self) -> None:
        self.node_actions.refresh()

    def enabled_nodes(self) -> list[Any]:
        return self.node_actions.enabled_nodes()

    def current_request(self, composition: str) -> RenderRequest:
        """The render request the panels make for this composition now (settings, variables, workers)."""
        return self.job_actions.current_request(composition)

    # ---- construction -----------------------------------------------------------------------------

    def _dock(self, key: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{key}")
        self.addDockWidget(area, dock)
        self.docks[key] = dock
        if isinstance(widget, CompositionPanel):  # it scrolls by itself
            dock.setWidget(widget)
            return dock
        # A dock smaller than its panel scrolls: without this, docks of a small window are drawn
        # over each other or push the window past the screen.
        scroll = QScrollArea()
        scroll.setObjectName(f"scroll_{key}")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(widget)
        dock.setWidget(scroll)
        return dock

    def proportion_docks(self) -> None:
        """Dock sizes in proportion to the window (310 | 400 px and 300 px at 1360×860): the job view
        keeps about half the width on a small screen too."""
        width, height = self.width(), self.height()
        self.resizeDocks([self.docks["composition"]], [int(width * 0.23)], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["nodes"]], [int(width * 0.27)], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["composition"], self.docks["settings"]], [int(height * 0.65), int(height * 0.3)],
                         Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["inspector"]], [int(height * 0.35)], Qt.Orientation.Vertical)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        job_menu = self.menuBar().addMenu("&Job")
        view_menu = self.menuBar().addMenu("&View")
        help_menu = self.menuBar().addMenu("&Help")
        toolbar = QToolBar("Job actions")
        toolbar.setObjectName("toolbar_job")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(toolbar)
        # The queue's actions sit beside Render: they take the same settings, to a later start.
        ordered = [a for action_set in self.action_sets for a in action_set.toolbar_actions()]
        queue = [self.actions_by_id[k] for k in ("add_to_queue", "batch") if self.actions_by_id[k] in ordered]
        ordered = [a for a in ordered if a not in queue]
        at = ordered.index(self.actions_by_id["render"]) + 1
        for action in ordered[:at] + queue + ordered[at:]:
            toolbar.addAction(action)
        file_menu.addAction(self.actions_by_id["open"])
        self.recent_menu = QMenu("Open &recent", self)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addMenu(self.recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.actions_by_id["quit"])
        for key in ("render", "add_to_queue", "batch", None, "pause", "resume", "cancel", None, "retry_failed",
                    "rerender", "retry_elsewhere", None, "assemble", "preview", "reveal_output", "play_output", None,
                    "refresh_history"):
            if key is None:
                job_menu.addSeparator()
            else:
                job_menu.addAction(self.actions_by_id[key])
        for n, dock in enumerate(self.docks.values(), start=1):
            toggle = dock.toggleViewAction()
            toggle.setShortcut(QKeySequence(f"Ctrl+{n}"))
            view_menu.addAction(toggle)
        view_menu.addSeparator()
        # the desktop's scheme until the user picks one here; the pick is remembered
        chosen = self.settings.value("view/dark")
        dark = str(chosen).lower() == "true" if chosen is not None else system_is_dark()
        self.dark_action = QAction("&Dark theme", self)
        self.dark_action.setObjectName("action_dark_theme")
        self.dark_action.setCheckable(True)
        self.dark_action.setChecked(dark)
        if dark:
            apply_theme(True)
        self.dark_action.toggled.connect(self.set_dark_theme)
        view_menu.addAction(self.dark_action)
        view_menu.addAction("Reset layout", self.reset_layout)
        help_menu.addAction(self.actions_by_id["shortcuts"])
        help_menu.addAction("About hyperdesk", self.show_about)
        # the preview's own keys work wherever the focus is inside the preview dock
        for seq, fn in (("Space", self.preview.toggle), (",", partial(self.preview.step, -1)),
                        (".", partial(self.preview.step, 1))):
            a = QAction(self.preview)
            a.setShortcut(QKeySequence(seq))
            a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            a.triggered.connect(fn)
            self.preview.addAction(a)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.composition_panel.recent():
            self.recent_menu.addAction(path, partial(self.open_composition, path))
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
                self.update_actions()
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

    def open_dialog(self) -> None:
        self.composition_actions.open_dialog()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and composition_path_from_drop(event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        path = composition_path_from_drop(event.mimeData().urls())
        if path:
            event.acceptProposedAction()
            self.open_composition(path)

    # ---- events -----------------------------------------------------------------------------------

    def on_event(self, e: fe.Event) -> None:
        """Every event of the render service comes through here, to the models that show it."""
        if self._closed:
            return
        self.model.apply(e)
        self.nodes_model.apply(e)
        self.job_actions.on_event(e)
        if isinstance(e, fe.ChunkDone) and e.job_id == self.job_id:
            self.spawn(self.show_latest_frame(e.chunk_index), "frame")
        if not isinstance(e, (fe.ChunkProgress, fe.AttemptHeartbeat, fe.AttemptLog)):
            self.update_actions()

    def refresh_history(self) -> None:
        jid = self.job_actions.job_id
        self.history_model.own = {jid} if jid and self.job_actions.active else set()
        self.history_model.set_rows(history_rows(self.service.store, live_here=set(self.service.live_jobs())))
        if jid:
            self.history_panel.select_job(jid)
        self.history_panel._selection()

    async def refresh_seams(self) -> None:
        chunks = [(r.index, r.start, r.end) for r in self.model.rows]
        if not chunks:
            return
        out_dir = self._scratch / "seams"
        output = self.job_actions.job_output
        if output and Path(output).exists() and self.job_state in ("done", ""):
            thumbs = await seam_thumbs_from_output(output, chunks, out_dir)
        else:
            present = [(r.index, r.start, r.end, r.output_path) for r in self.model.rows
                       if r.state == "done" and r.output_path and Path(r.output_path).exists()]
            thumbs = await build_seam_thumbs(present, out_dir) if present else []
        if not self._closed:
            self.preview.seams.set_thumbs(thumbs, "No chunk files or output on this machine yet.")

    async def show_latest_frame(self, index: int) -> None:
        """The job view's live thumbnail: the last frame of the newest finished chunk.

        Workers report progress but no pictures while a chunk renders, so the newest picture the app
        can show without slowing a worker is the last frame of the chunk that finished last. One
        ffmpeg at a time; a chunk that finishes meanwhile replaces the one waiting."""
        self._live_wanted = index
        if self._live_busy:
            return
        self._live_busy = True
        try:
            while self._live_wanted is not None and not self._closed:
                n, self._live_wanted = self._live_wanted, None
                row = self.model.row_for_chunk(n)
                if row is None or not row.output_path or not Path(row.output_path).exists():
                    continue
                thumbs = await extract_chunk_thumbs(n, row.start, row.end, row.output_path, self._scratch / "live")
                if not self._closed and row.state == "done":
                    self.job_view.set_live_frame(thumbs.last, f"frame {row.end - 1}: the last frame of chunk {n}, "
                                                              "the newest finished chunk")
        finally:
            self._live_busy = False

    def _summary(self, summary: dict[str, Any]) -> None:
        if self.job_state == "pausing" and summary.get("running", 0) == 0:
            self.job_actions.job_state = "paused"
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

    def update_actions(self) -> None:
        for action_set in getattr(self, "action_sets", []):
            action_set.update()

    def set_dark_theme(self, on: bool) -> None:
        apply_theme(on)
        self.settings.setValue("view/dark", on)

    # ---- help -------------------------------------------------------------------------------------

    def shortcuts_text(self) -> str:
        specs = [s for action_set in self.action_sets for s in action_set.specs]
        lines = [f"{spec.shortcut:<14} {spec.text.replace('&', '')}" for spec in specs if spec.shortcut]
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
        QMessageBox.about(self, "About hyperdesk",
                          f"hyperdesk {__version__}\nRender manager for HTML video compositions.")

    # ---- layout -----------------------------------------------------------------------------------

    def restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        header = self.settings.value("window/chunk_header")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
            self.fit_to_screen()
        if isinstance(state, QByteArray):
            self.restoreState(state)
        if isinstance(header, QByteArray):
            self.job_view.table.horizontalHeader().restoreState(header)

    def fit_to_screen(self) -> None:
        """Move and shrink the window so its frame lies on its screen's free area (a geometry saved on
        a bigger screen). Called again once shown, when the frame's size is known."""
        screen = self.screen().availableGeometry()
        inner, outer = self.geometry(), self.frameGeometry()
        if self.isMaximized() or self.isFullScreen() or screen.contains(outer):
            return
        fitted = clamp_to(outer, screen)
        self.setGeometry(fitted.adjusted(inner.left() - outer.left(), inner.top() - outer.top(),
                                         inner.right() - outer.right(), inner.bottom() - outer.bottom()))

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._fitted:
            self._fitted = True
            QTimer.singleShot(0, self.fit_to_screen)

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
                          ("history", Qt.DockWidgetArea.BottomDockWidgetArea),
                          ("queue", Qt.DockWidgetArea.BottomDockWidgetArea)):
            dock = self.docks[key]
            dock.setFloating(False)
            self.addDockWidget(area, dock)
            dock.show()
        self.tabifyDockWidget(self.docks["nodes"], self.docks["preview"])
        self.tabifyDockWidget(self.docks["inspector"], self.docks["history"])
        self.tabifyDockWidget(self.docks["history"], self.docks["queue"])

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
        if self.job_actions.active and self.confirm_close:
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
        self.composition_actions.save_settings()
        self._closed = True
        self.queue_actions.stop()
        self.service.remove_listener(self.on_event)
        self.model.stop_timers()
        self.preview.close_media()
        pending = [t for t in list(self.tasks) if t is not asyncio.current_task()]
        for t in pending:
            t.cancel()
        if pending:  # let the cancelled tasks end here, not as "destroyed but pending" at teardown
            await asyncio.wait(pending, timeout=10)
        await self.service.detach()
        shutil.rmtree(self._scratch, ignore_errors=True)
        if self.tray is not None:
            self.tray.hide()
        self.close()
        self.closed_event.set()
