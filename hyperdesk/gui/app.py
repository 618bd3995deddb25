"""Start the desktop app: one QApplication, one qasync loop shared by Qt and asyncio."""
from __future__ import annotations

import asyncio
import os
import sys

APP_NAME = "hyperdesk"


def _ensure_display() -> None:
    """Without a display Qt aborts the whole process; say so instead."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                                 or os.environ.get("QT_QPA_PLATFORM")):
        from hyperdesk.errors import HyperdeskError

        raise HyperdeskError("INVALID_RENDER_CONFIG", "no display: the desktop app needs X11 or Wayland",
                             hint="Run it in a desktop session, or use hyperdesk render on the command line "
                                  "(QT_QPA_PLATFORM=offscreen runs it without a window).")


def make_settings(path: str | None = None):
    from PySide6.QtCore import QSettings

    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(APP_NAME, APP_NAME)


def create_window(composition: str | None = None, *, store=None, settings=None, bridge=None, **window_kwargs):
    """The main window on an existing QApplication and running qasync loop (also used by tests)."""
    from hyperdesk.gui.farm_bridge import FarmBridge, warm_imports
    from hyperdesk.gui.main_window import MainWindow

    warm_imports()
    from hyperdesk.store import JobStore

    store = store or JobStore()
    bridge = bridge or FarmBridge(store)
    window = MainWindow(bridge, settings or make_settings(), **window_kwargs)
    if composition:
        window.open_composition(composition)
    return window


def _close_on_signals(window) -> None:
    """Ctrl+C / SIGTERM close the window the normal way: the farm stops, the job stays resumable."""
    import signal

    from PySide6.QtCore import QTimer

    def request_close(*_args) -> None:
        QTimer.singleShot(0, window.close)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, request_close)
    # Python runs signal handlers only between bytecodes; a slow no-op timer gives it the chance
    # while Qt waits in C++.
    window._signal_pump = QTimer(window)
    window._signal_pump.timeout.connect(lambda: None)
    window._signal_pump.start(250)


def run_gui(composition: str | None = None) -> int:
    """Open the main window (optionally with a composition) and run until it closes."""
    _ensure_display()
    from PySide6.QtWidgets import QApplication
    import qasync

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationDisplayName("hyperdesk")
    app.setDesktopFileName("io.hyperdesk.Hyperdesk")  # Wayland matches windows to the desktop entry by it
    from hyperdesk.cli.desktop_cmd import icon_svg_path

    icon = icon_svg_path()
    if icon is not None:
        from PySide6.QtGui import QIcon

        app.setWindowIcon(QIcon(str(icon)))
    # The window closes itself after an async shutdown (farm stopped, layout saved); the loop ends then.
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)

    async def main() -> None:
        window = create_window(composition)
        window.show()
        _close_on_signals(window)
        await window.closed_event.wait()

    try:
        with loop:
            loop.run_until_complete(main())
    finally:
        asyncio.set_event_loop(None)
    return 0
