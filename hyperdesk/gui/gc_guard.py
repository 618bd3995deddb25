"""Python's cyclic garbage collector runs only in the GUI thread.

Python collects reference cycles in whichever thread happens to allocate when a threshold is
crossed: in the app that is often a worker thread (asyncio's child watcher, ``to_thread`` planning).
A cycle that holds the last reference to a parentless Qt object (a closed window, a timer) then
deletes it in that thread; Qt cannot stop timers from another thread, so the dead object's timers
stay registered and the next one that fires dereferences freed memory (measured: SIGSEGV in
``QTimerInfoList::activateTimers`` in the queue's GUI test, after earlier tests' windows were
collected by a worker thread). So automatic collection is switched off and a Qt timer runs the
same generational collections in the GUI thread."""
from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

_INTERVAL_MS = 500


class MainThreadGC(QObject):
    """Switches automatic collection off and collects from a timer in the thread that made it."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check)
        self.timer.start(_INTERVAL_MS)

    def check(self) -> None:
        """Collect the generations whose counts crossed Python's own thresholds."""
        t0, t1, t2 = self.thresholds
        c0, c1, c2 = gc.get_count()
        if c0 > t0:
            gc.collect(2 if c2 > t2 else 1 if c1 > t1 else 0)

    def collect(self) -> None:
        """A full collection now (in this thread)."""
        gc.collect()


_guard: MainThreadGC | None = None


def install(app: QObject) -> MainThreadGC:
    """Install the guard once per process, owned by *app* (the QApplication)."""
    global _guard
    if _guard is None:
        _guard = MainThreadGC(app)
    return _guard
