"""State colours, the light/dark palette and small formatting helpers shared by every view.

Colours live here, in one table, so the stacked job bar, the chunk table, the nodes panel and the
history agree on what "failed" looks like (CueGUI keeps them in config for the same reason).
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

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


def system_is_dark() -> bool:
    """Does the desktop ask for a dark scheme (or already give the app a dark palette)?"""
    app = QGuiApplication.instance()
    if not isinstance(app, QGuiApplication):
        return False
    if QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark:
        return True
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def dark_palette() -> QPalette:
    """A dark palette in the colours of the app icon's background."""
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#25282d", QPalette.ColorRole.WindowText: "#e3e5e8",
        QPalette.ColorRole.Base: "#1b1d21", QPalette.ColorRole.AlternateBase: "#23262b",
        QPalette.ColorRole.ToolTipBase: "#2d3137", QPalette.ColorRole.ToolTipText: "#e3e5e8",
        QPalette.ColorRole.PlaceholderText: "#8a8f98", QPalette.ColorRole.Text: "#e3e5e8",
        QPalette.ColorRole.Button: "#2d3137", QPalette.ColorRole.ButtonText: "#e3e5e8",
        QPalette.ColorRole.BrightText: "#ff6b6b", QPalette.ColorRole.Link: "#5ea3f0",
        QPalette.ColorRole.Highlight: "#2f7ed8", QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Light: "#3a3f46", QPalette.ColorRole.Midlight: "#33373d",
        QPalette.ColorRole.Mid: "#4a4f57", QPalette.ColorRole.Dark: "#16181b", QPalette.ColorRole.Shadow: "#000000",
    }
    for role, color in roles.items():
        p.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b7078"))
    return p


_light: QPalette | None = None  # the palette the app had before the first switch to dark


def apply_theme(dark: bool) -> None:
    """Give the whole application the dark palette, or back the one it started with."""
    global _light
    app = QGuiApplication.instance()
    if not isinstance(app, QGuiApplication):
        return
    if _light is None:
        _light = QGuiApplication.palette()
    if dark and QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() >= 128:
        QGuiApplication.setPalette(dark_palette())
    elif not dark:
        # a desktop that started the app dark has no light palette to go back to: the style's own
        light = _light if _light.color(QPalette.ColorRole.Window).lightness() >= 128 else \
            QApplication.style().standardPalette()
        QGuiApplication.setPalette(light)
