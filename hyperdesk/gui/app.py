"""Start the desktop app: one QApplication, one qasync loop shared by Qt and asyncio."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

import qasync
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from hyperdesk.errors import HyperdeskError
from hyperdesk.gui import gc_guard
from hyperdesk.gui.desktop_entry import icon_svg_path
from hyperdesk.gui.main_window import MainWindow
from hyperdesk.service import RenderService
from hyperdesk.store.db import JobStore

APP_NAME = "hyperdesk"


def _ensure_display() -> None:
    """Without a display Qt aborts the whole process; say so instead."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                                 or os.environ.get("QT_QPA_PLATFORM")):
        raise HyperdeskError("INVALID_RENDER_CONFIG", "no display: the desktop app needs X11 or Wayland",
                             hint="Run it in a desktop session, or use hyperdesk render on the command line "
                                  "(QT_QPA_PLATFORM=offscreen runs it without a window).")


def make_settings(path: str | None = None) -> QSettings:
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(APP_NAME, APP_NAME)


def create_window(composition: str | None = None, *, store: JobStore | None = None,
                  settings: QSettings | None = None, service: RenderService | None = None,
                  **window_kwargs: Any) -> MainWindow:
    """The main window on an existing QApplication and running qasync loop (also used by tests)."""
    service = service or RenderService(store or JobStore())
    service.warm_up()
    service.sweep_old_gui_plans()
    service.sweep_leftovers()
    window = MainWindow(service, settings or make_settings(), **window_kwargs)
    if composition:
        window.open_composition(composition)
    return window


def _close_on_signals(window: MainWindow) -> None:
    """Ctrl+C / SIGTERM close the window the normal way: the farm stops, the job stays resumable."""

    def request_close(*_args: Any) -> None:
        QTimer.singleShot(0, window.close)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, request_close)
    # Python runs signal handlers only between bytecodes; a slow no-op timer gives it the chance
    # while Qt waits in C++.
    pump = QTimer(window)
    pump.timeout.connect(lambda: None)
    pump.start(250)


def run_gui(composition: str | None = None, *, signalled: list[int] | None = None) -> int:
    """Open the main window (optionally with a composition) and run until it closes. `signalled`: the
    close signals that came while the app was starting; the window closes as soon as it is up."""
    _ensure_display()
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationDisplayName("hyperdesk")
    app.setDesktopFileName("io.hyperdesk.Hyperdesk")  # Wayland matches windows to the desktop entry by it
    icon = icon_svg_path()
    if icon is not None:
        app.setWindowIcon(QIcon(str(icon)))
    # The window closes itself after an async shutdown (farm stopped, layout saved); the loop ends then.
    app.setQuitOnLastWindowClosed(False)
    gc_guard.install(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)

    async def main() -> None:
        window = create_window(composition)
        window.show()
        _close_on_signals(window)
        if signalled:
            QTimer.singleShot(0, window.close)
        await window.closed_event.wait()

    try:
        with loop:
            loop.run_until_complete(main())
    finally:
        asyncio.set_event_loop(None)
    return 0
