"""`hyperdesk install-desktop`: a user-level launcher entry, icons rendered from the SVG, metainfo."""
from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from hyperdesk.gui import desktop_entry

REPO = Path(__file__).resolve().parents[2]
APP_ID = "io.hyperdesk.Hyperdesk"


def install_desktop(*args: str) -> dict:
    r = subprocess.run([sys.executable, "-m", "hyperdesk.cli.desktop", *args, "--json"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def tree(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_install_update_and_uninstall(tmp_path: Path) -> None:
    home = tmp_path / "share"
    (home / "applications").mkdir(parents=True)
    (home / "applications" / "other.desktop").write_text("[Desktop Entry]\nName=other\n")
    first = install_desktop("--data-home", str(home))
    assert {f["action"] for f in first["files"]} == {"written"} and len(first["files"]) == 10

    entry = (home / "applications" / f"{APP_ID}.desktop").read_text()
    launcher = first["exec"]
    assert launcher == [str(Path(sys.executable).parent / "hyperdesk")]
    assert f"Exec={launcher[0]} gui %f\n" in entry and f"TryExec={launcher[0]}\n" in entry
    assert f"Icon={APP_ID}\n" in entry
    assert (home / "icons/hicolor/scalable/apps" / f"{APP_ID}.svg").read_bytes() == \
        (REPO / "resources/icons" / f"{APP_ID}.svg").read_bytes()
    for size in (16, 32, 48, 64, 128, 256, 512):
        assert png_size(home / f"icons/hicolor/{size}x{size}/apps/{APP_ID}.png") == (size, size)
    assert (home / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    if shutil.which("desktop-file-validate"):
        r = subprocess.run(["desktop-file-validate", str(home / "applications" / f"{APP_ID}.desktop")],
                           capture_output=True, text=True)
        assert r.returncode == 0 and not r.stdout.strip(), r.stdout + r.stderr

    before = tree(home)
    second = install_desktop("--data-home", str(home))
    assert {f["action"] for f in second["files"]} == {"unchanged"}
    assert tree(home) == before

    removed = install_desktop("--data-home", str(home), "--uninstall")
    assert len(removed["files"]) == 10
    assert sorted(tree(home)) == ["applications/other.desktop"]


def test_the_icon_reads_at_16_pixels() -> None:
    """The small sizes keep the three chunk bars apart: green, blue and orange rows on a dark tile."""
    pytest.importorskip("PySide6")
    from PySide6.QtGui import QImage

    png = desktop_entry.render_pngs((REPO / "resources/icons" / f"{APP_ID}.svg").read_bytes(), (16, 512))
    big = QImage.fromData(png[512])
    assert big.pixelColor(0, 0).alpha() == 0  # rounded corner: transparent
    for y, want in ((142, (0x3f, 0xa3, 0x4d)), (256, (0x2f, 0x7e, 0xd8)), (370, (0xe0, 0x8e, 0x0b))):
        c = big.pixelColor(150, y)
        assert (c.red(), c.green(), c.blue()) == want
    small = QImage.fromData(png[16])
    rows = [small.pixelColor(5, y) for y in (4, 8, 11)]
    assert rows[0].green() > rows[0].red() and rows[1].blue() > rows[1].red() and rows[2].red() > rows[2].blue()


def test_exec_quoting_follows_the_desktop_entry_spec() -> None:
    template = "[Desktop Entry]\nExec=hyperdesk gui %f\nTryExec=hyperdesk\n"
    text = desktop_entry.desktop_entry_text(template, ["/opt/my apps/100%/bin/hyperdesk"])
    assert 'Exec="/opt/my apps/100%%/bin/hyperdesk" gui %f\n' in text
    text = desktop_entry.desktop_entry_text(template, ["/usr/bin/python3", "-m", "hyperdesk"])
    assert "Exec=/usr/bin/python3 -m hyperdesk gui %f\n" in text


def test_the_shipped_metainfo_validates() -> None:
    if not shutil.which("appstreamcli"):
        pytest.skip("appstreamcli not installed")
    r = subprocess.run(["appstreamcli", "validate", "--no-net", str(REPO / "packaging" / f"{APP_ID}.metainfo.xml")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_cli_offers_install_desktop_and_nodes_provision() -> None:
    """The top-level command line registers the packaging commands (hyperdesk/cli/__init__.py)."""
    for argv in (["install-desktop", "--help"], ["nodes", "provision", "--help"]):
        r = subprocess.run([sys.executable, "-m", "hyperdesk", *argv], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "usage: hyperdesk" in r.stdout, r.stderr
