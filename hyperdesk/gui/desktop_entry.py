"""The app's desktop integration: the launcher entry, icons and AppStream metainfo for this user
(`hyperdesk install-desktop`, cli/desktop.py).

Writes under $XDG_DATA_HOME (default ~/.local/share), no administrator needed:

    applications/io.hyperdesk.Hyperdesk.desktop          Exec = this installation's hyperdesk command
    icons/hicolor/scalable/apps/io.hyperdesk.Hyperdesk.svg
    icons/hicolor/NxN/apps/io.hyperdesk.Hyperdesk.png    N in PNG_SIZES, rendered from the SVG with Qt
    metainfo/io.hyperdesk.Hyperdesk.metainfo.xml

The templates travel with every installation: the wheel puts them under <prefix>/share (data
files), the PyInstaller app under its bundle's share/, a source checkout has them in resources/icons
and packaging/. Idempotent: a file whose content is already right is not rewritten.
`--uninstall` removes exactly these files.
"""
from __future__ import annotations

import os
import shlex
import shutil
import sys
import sysconfig
from pathlib import Path

from hyperdesk.errors import HyperdeskError

APP_ID = "io.hyperdesk.Hyperdesk"
PNG_SIZES = (16, 32, 48, 64, 128, 256, 512)

ICON_SVG = f"icons/hicolor/scalable/apps/{APP_ID}.svg"
DESKTOP_FILE = f"applications/{APP_ID}.desktop"
METAINFO_FILE = f"metainfo/{APP_ID}.metainfo.xml"

_SOURCE_TREE = Path(__file__).resolve().parents[2]
# Where each shipped file lies in a source checkout (the wheel maps them to share/, see pyproject).
_SOURCE_LOCATIONS = {
    ICON_SVG: _SOURCE_TREE / "resources" / "icons" / f"{APP_ID}.svg",
    DESKTOP_FILE: _SOURCE_TREE / "packaging" / f"{APP_ID}.desktop",
    METAINFO_FILE: _SOURCE_TREE / "packaging" / f"{APP_ID}.metainfo.xml",
}


def png_path(size: int) -> str:
    return f"icons/hicolor/{size}x{size}/apps/{APP_ID}.png"


def share_roots() -> list[Path]:
    """Directories that may hold hyperdesk's shipped share/ files, most specific first."""
    roots: list[Path] = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        roots.append(Path(bundle) / "share")
    for scheme in (None, f"{os.name}_user"):
        try:
            data = sysconfig.get_path("data", scheme) if scheme else sysconfig.get_path("data")
        except KeyError:
            continue
        roots.append(Path(data) / "share")
    roots.append(Path(sys.prefix) / "share")
    out: list[Path] = []
    for r in roots:
        if r not in out:
            out.append(r)
    return out


def shipped_file(rel: str) -> Path | None:
    """A file hyperdesk ships (ICON_SVG, DESKTOP_FILE, METAINFO_FILE), wherever this install keeps it."""
    for root in share_roots():
        p = root / rel
        if p.is_file():
            return p
    src = _SOURCE_LOCATIONS.get(rel)
    if src is not None and src.is_file():
        return src
    return None


def icon_svg_path() -> Path | None:
    """The app icon (SVG) of this installation; the GUI may use it for its window icon."""
    return shipped_file(ICON_SVG)


def launcher_argv() -> list[str]:
    """The command that starts this very installation of hyperdesk."""
    if getattr(sys, "frozen", False):
        return [str(Path(sys.executable).absolute())]
    beside = Path(sys.executable).parent / "hyperdesk"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside.absolute())]
    found = shutil.which("hyperdesk")
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "hyperdesk"]


def _exec_quote(word: str) -> str:
    """Quote one argument for a desktop entry's Exec key (Desktop Entry Specification, "Exec key")."""
    word = word.replace("%", "%%")  # a literal percent sign; %f etc. are field codes
    if word and not any(c in word for c in ' \t\n"\'\\><~|&;$*?#()`'):
        return word
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in word)
    return f'"{escaped}"'


def desktop_entry_text(template: str, argv: list[str]) -> str:
    """The template with Exec/TryExec pointing at argv (the %f field code is kept).

    The entry file is a string-valued key file, so a backslash in Exec must itself be escaped once more.
    """
    exec_words = " ".join(_exec_quote(w) for w in argv).replace("\\", "\\\\")
    out = []
    for line in template.splitlines():
        if line.startswith("Exec="):
            words = shlex.split(line[len("Exec="):])
            rest = " ".join(words[1:])  # "gui %f"
            line = f"Exec={exec_words}" + (f" {rest}" if rest else "")
        elif line.startswith("TryExec="):
            line = f"TryExec={argv[0]}"
        out.append(line)
    return "\n".join(out) + "\n"


def render_pngs(svg: bytes, sizes: tuple[int, ...] = PNG_SIZES) -> dict[int, bytes]:
    """PNG bytes of the SVG at every size, rendered with Qt's SVG renderer (no GUI needed)."""
    # Lazy, and offscreen: the command runs without a display and Qt must not look for one.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt  # lazy: after QT_QPA_PLATFORM
    from PySide6.QtGui import QImage, QPainter  # lazy: after QT_QPA_PLATFORM
    from PySide6.QtSvg import QSvgRenderer  # lazy: after QT_QPA_PLATFORM

    renderer = QSvgRenderer(QByteArray(svg))
    if not renderer.isValid():
        raise HyperdeskError("INTERNAL_ERROR", "the app icon SVG does not parse")
    out: dict[int, bytes] = {}
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        buf = QByteArray()
        dev = QBuffer(buf)
        dev.open(QIODevice.OpenModeFlag.WriteOnly)
        # PySide6's stubs type the format as bytes, but the binding accepts only a str at run time.
        image.save(dev, "PNG")  # type: ignore[call-overload]
        dev.close()
        out[size] = bytes(buf.data())
    return out


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def planned_files(argv: list[str] | None = None, *, with_pngs: bool = True) -> dict[str, bytes]:
    """Relative path under the data home -> content, for this installation."""
    files: dict[str, bytes] = {}
    missing = [rel for rel in (ICON_SVG, DESKTOP_FILE, METAINFO_FILE) if shipped_file(rel) is None]
    if missing:
        raise HyperdeskError("INTERNAL_ERROR", f"this installation lacks {', '.join(missing)}",
                             hint="Reinstall hyperdesk from its wheel or app bundle; both carry the desktop files.")
    svg = shipped_file(ICON_SVG).read_bytes()  # type: ignore[union-attr]
    files[ICON_SVG] = svg
    template = shipped_file(DESKTOP_FILE).read_text(encoding="utf-8")  # type: ignore[union-attr]
    files[DESKTOP_FILE] = desktop_entry_text(template, argv or launcher_argv()).encode("utf-8")
    files[METAINFO_FILE] = shipped_file(METAINFO_FILE).read_bytes()  # type: ignore[union-attr]
    if with_pngs:
        for size, png in render_pngs(svg).items():
            files[png_path(size)] = png
    return files


def all_paths() -> list[str]:
    return [DESKTOP_FILE, METAINFO_FILE, ICON_SVG] + [png_path(s) for s in PNG_SIZES]


def install(root: Path, files: dict[str, bytes]) -> list[tuple[str, str]]:
    """Write every file whose content differs; returns (path, "written" | "unchanged")."""
    done = []
    for rel, content in files.items():
        target = root / rel
        if target.is_file() and target.read_bytes() == content:
            done.append((str(target), "unchanged"))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        done.append((str(target), "written"))
    return done


def uninstall(root: Path) -> list[tuple[str, str]]:
    done = []
    for rel in all_paths():
        target = root / rel
        if target.is_file():
            target.unlink()
            done.append((str(target), "removed"))
    return done
