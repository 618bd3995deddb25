"""Chromium capture: one browser, one composition page, frames on demand.

``browser`` finds the Chromium executable and its version, ``flags`` and ``fontconfig`` are how it
is started, ``server`` serves the compiled page on loopback, ``launch`` runs the browser for a
session, ``readiness`` loads the page until it is ready, ``frames`` captures one frame, and
``session`` (``CaptureSession``) puts them together. ``glinfo`` reads the WebGL renderer for
``doctor``.
"""
