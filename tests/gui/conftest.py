"""GUI test set-up: a qasync loop owned by a fixture (pytest-qt does not integrate qasync), an
isolated job store, data dir and QSettings file per test, and a helper to drive coroutines."""
from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest

# Before any Qt call: PySide6 6.12 on Python 3.11 leaks references to None/True/False (see
# hyperdesk/gui/__init__.py); without the guard a long test session aborts in none_dealloc.
importlib.import_module("hyperdesk.gui")


@pytest.fixture(scope="session", autouse=True)
def _gc_in_gui_thread(qapp):
    """As the app does (hyperdesk/gui/gc_guard.py): Qt objects are collected in the GUI thread only."""
    from hyperdesk.gui import gc_guard

    gc_guard.install(qapp)


@pytest.fixture
def qloop(qapp):
    """A qasync loop that is 'running' for the whole test: Qt events drive asyncio callbacks."""
    import qasync

    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    yield loop
    # Teardown: cancel whatever the test left, let the cancellations run, then drop the loop.
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in pending:
        t.cancel()
    if pending:
        from PySide6.QtCore import QCoreApplication, QEventLoop as QtLoop
        import time

        deadline = time.monotonic() + 10
        while any(not t.done() for t in pending) and time.monotonic() < deadline:
            QCoreApplication.processEvents(QtLoop.ProcessEventsFlag.AllEvents, 50)
    # Not loop.stop(): it calls QApplication.exit(), and with no exec() running that leaves Qt's
    # quitNow flag set, so every later nested event loop (qtbot.wait) returns at once.
    loop._QEventLoop__is_running = False
    asyncio.events._set_running_loop(None)
    loop.close()
    asyncio.set_event_loop(None)
    from hyperdesk.gui import gc_guard

    gc_guard.install(qapp).collect()  # the test's windows and loop go now, in this thread


@pytest.fixture
def run(qtbot, qloop) -> Callable[..., Any]:
    """run(coro, timeout=s): drive a coroutine on the qasync loop until it finishes; return its result."""

    def _run(awaitable: Awaitable[Any], timeout: float = 60.0) -> Any:
        task = asyncio.ensure_future(awaitable)
        qtbot.waitUntil(task.done, timeout=int(timeout * 1000))
        return task.result()

    return _run


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    monkeypatch.setenv("HYPERDESK_DATA_DIR", str(d))
    return d


@pytest.fixture
def store(data_dir: Path):
    from hyperdesk.store import JobStore

    s = JobStore(data_dir / "hyperdesk.sqlite3")
    yield s
    s.close()


@pytest.fixture
def gui_settings(tmp_path: Path):
    from hyperdesk.gui.app import make_settings

    return make_settings(str(tmp_path / "settings.ini"))


@pytest.fixture
def make_window(qtbot, qloop, store, gui_settings):
    """make_window(service=None, **kwargs): the real main window on the test's store and settings."""
    from hyperdesk.gui.app import create_window

    windows = []

    def _make(service=None, settings=None, **kwargs):
        kwargs.setdefault("confirm_close", False)
        w = create_window(None, store=store, settings=settings or gui_settings, service=service, **kwargs)
        qtbot.addWidget(w)
        w.show()
        windows.append(w)
        return w

    yield _make
    for w in windows:
        if not w._closed:
            task = asyncio.ensure_future(w.shutdown())
            qtbot.waitUntil(task.done, timeout=30000)
