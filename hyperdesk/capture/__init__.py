"""Chromium capture: browser discovery, flags, the loopback server, fontconfig, capture sessions."""
from hyperdesk.capture.browser import BrowserInfo, browser_version, find_browser
from hyperdesk.capture.fontconfig import write_fontconfig
from hyperdesk.capture.server import LoopbackServer
from hyperdesk.capture.session import CaptureSession, PageSpec, Timeouts

__all__ = [
    "BrowserInfo", "find_browser", "browser_version", "write_fontconfig", "LoopbackServer",
    "CaptureSession", "PageSpec", "Timeouts",
]
