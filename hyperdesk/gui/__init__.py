"""The desktop app (PySide6 + qasync). Only this package imports Qt.

PySide6 is pinned to 6.11.3 in pyproject.toml: 6.12.0's abi3 wheel returns None and the bools of
`Signal.emit()` without taking a reference (it relies on Python 3.12's immortal objects), which on
Python 3.11 aborts the process ("deallocating None") after a few thousand Qt calls.
"""
