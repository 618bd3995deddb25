"""State colours and small formatting helpers shared by every view.

Colours live here, in one table, so the stacked job bar, the chunk table, the nodes panel and the
history agree on what "failed" looks like (CueGUI keeps them in config for the same reason).
"""
from __future__ import annotations


from PySide6.QtGui import QColor

STATE_COLORS: dict[str, str] = {
    "done": "#3fa34d",
    "running": "#2f7ed8",
    "waiting": "#8a8f98",
    "failed": "#d64541",
    "retrying": "#e08e0b",
    # nodes
    "online": "#3fa34d",
    "busy": "#2f7ed8",
    "offline": "#8a8f98",
    "incompatible": "#e08e0b",
    "blocklisted": "#d64541",
    "testing": "#2f7ed8",
    "unknown": "#8a8f98",
    # jobs
    "planning": "#2f7ed8",
    "pausing": "#e08e0b",
    "paused": "#e08e0b",
    "assembling": "#8e5bd6",
    "cancelled": "#8a8f98",
}

_cache: dict[str, QColor] = {}


def state_color(state: str) -> QColor:
    color = _cache.get(state)
    if color is None:
        color = QColor(STATE_COLORS.get(state, "#8a8f98"))
        _cache[state] = color
    return color


def fmt_duration(seconds: float | None) -> str:
    """`4.2s`, `3m05s`, `1h02m`; empty for unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return ""
    if seconds < 10:
        return f"{seconds:.1f}s"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"
