"""`hyperdesk doctor`: this machine's render environment, for people and for node preflight."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from hyperdesk import __version__
from hyperdesk.dirs import asset_cache_dir
from hyperdesk.errors import HyperdeskError
from hyperdesk.faults import FaultPlan


def _try(report: dict[str, Any], key: str, fn) -> Any:
    try:
        value = fn()
        report[key] = value
        return value
    except HyperdeskError as err:
        report[key] = None
        report.setdefault("problems", []).append({"item": key, **err.to_dict()})
    except Exception as exc:  # a doctor reports, it does not crash
        report[key] = None
        report.setdefault("problems", []).append({"item": key, "code": "INTERNAL_ERROR", "message": str(exc)})
    return None


def _font_fingerprint() -> dict[str, Any]:
    """The default face package every plan embeds from: name, version and a hash of its font files."""
    from hyperdesk.composition.fonts import ensure_default_font  # lazy: see cli/__init__.py

    font = ensure_default_font(asset_cache_dir())
    files = sorted(p for p in Path(font.root).rglob("*") if p.suffix in (".woff2", ".woff", ".ttf", ".otf"))
    h = hashlib.sha256()
    for f in files:
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        h.update(f.relative_to(font.root).as_posix().encode() + b"\0" + digest.encode() + b"\0")
    return {"default_family": font.family, "package": f"{font.package}@{font.version}", "files": len(files),
            "sha256": h.hexdigest(), "system_fonts_isolated": sys.platform.startswith("linux")}


def collect(check_gl: bool = True, faults: FaultPlan | None = None) -> dict[str, Any]:
    from hyperdesk.capture.browser import browser_version, find_browser  # lazy: see cli/__init__.py
    from hyperdesk.encode.ffmpeg import ffmpeg_exe, ffmpeg_identity  # lazy: see cli/__init__.py

    faults = faults or FaultPlan()  # a test's stand-ins for the versions this machine reports
    report: dict[str, Any] = {"schema_version": 1, "hyperdesk_version": __version__}
    report["platform"] = {"system": platform.system(), "machine": platform.machine(),
                          "python": platform.python_version(), "cpu_count": os.cpu_count()}
    with contextlib.suppress(ValueError, OSError):  # no sysconf names on this platform
        report["platform"]["memory_bytes"] = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    info = None
    try:
        info = find_browser()
        report["browser"] = {"path": str(info.path), "kind": info.kind, "beginframe": bool(info.beginframe)}
    except HyperdeskError as err:
        report["browser"] = None
        report.setdefault("problems", []).append({"item": "browser", **err.to_dict()})
    if info is not None:
        _try(report, "browser_version", lambda: faults.browser_version or browser_version(info))
        if check_gl:
            from hyperdesk.capture.glinfo import read_gl_renderer  # lazy: see cli/__init__.py

            gl = _try(report, "gl", lambda: asyncio.run(read_gl_renderer(info)))
            report["gl_renderer"] = (gl or {}).get("renderer")
    _try(report, "ffmpeg_path", ffmpeg_exe)
    _try(report, "ffmpeg_identity", lambda: faults.ffmpeg_identity or ffmpeg_identity())
    _try(report, "fonts", _font_fingerprint)
    report["worker_env"] = {"hyperdesk_version": __version__, "browser_version": report.get("browser_version"),
                            "ffmpeg_identity": report.get("ffmpeg_identity")}
    report["ok"] = not report.get("problems")
    return report


def cmd_doctor(args: argparse.Namespace) -> int:
    report = collect(check_gl=not args.no_gl, faults=args.faults)
    if args.json:
        print(json.dumps(report, sort_keys=True, indent=2))
        return 0 if report["ok"] else 1
    b = report.get("browser") or {}
    print(f"hyperdesk        {report['hyperdesk_version']}")
    print(f"platform         {report['platform']['system']} {report['platform']['machine']}, "
          f"{report['platform']['cpu_count']} cores, Python {report['platform']['python']}")
    print(f"chromium         {b.get('path', 'not found')} ({b.get('kind', '-')}) "
          f"version {report.get('browser_version')}")
    print(f"beginframe       {'available' if b.get('beginframe') else 'not available (screenshot capture)'}")
    if not args.no_gl:
        print(f"software GL      {report.get('gl_renderer')}")
    print(f"ffmpeg           {report.get('ffmpeg_identity')}")
    fonts = report.get("fonts") or {}
    print(f"fonts            {fonts.get('package')} ({fonts.get('files', 0)} files), "
          f"set {str(fonts.get('sha256'))[:16]}…")
    for p in report.get("problems", []):
        print(f"problem {p.get('code')}: {p.get('message')}")
        if p.get("hint"):
            print(f"  hint: {p['hint']}")
    return 0 if report["ok"] else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="print this machine's render environment")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-gl", action="store_true", help="skip the browser launch that reads the WebGL renderer")
    p.set_defaults(handler=cmd_doctor)
