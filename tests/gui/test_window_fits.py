"""The window fits a small screen: long paths are elided, docks scroll, nothing widens the window."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QRect, QSize

from compositions import write_tiny
from hyperdesk.gui.main_window import clamp_to, default_size
from hyperdesk.service import RenderService


def long_project(root: Path, length: int) -> Path:
    """A composition folder whose index.html path is at least *length* characters."""
    d = root
    while len(str(d / "index.html")) < length:
        d = d / "a-rather-long-folder-name"
    return write_tiny(d)


def test_window_at_1024x700_with_a_200_character_path_stays_within_the_screen(make_window, store, qtbot,
                                                                               tmp_path):
    comp = long_project(tmp_path, 200)
    assert len(str(comp / "index.html")) >= 200
    w = make_window(RenderService(store))
    qtbot.wait(50)  # the first show's fit to the (800×800 offscreen) screen is done
    w.resize(1024, 700)
    qtbot.wait(50)
    w.open_composition(str(comp))
    qtbot.waitUntil(lambda: w.facts is not None, timeout=60000)
    output = str(comp / "renders" / ("x" * 120 + ".mp4"))
    w.job_view.set_job(f"tiny → {output}", "running", tooltip=output)
    w.job_view.set_detail(f"Output {output} — verified")
    qtbot.wait(100)
    assert w.size() == QSize(1024, 700)
    hint = w.minimumSizeHint()
    assert hint.width() <= 1024 and hint.height() <= 700
    assert w.minimumSize().width() <= 1024 and w.minimumSize().height() <= 700
    # the path is elided in the middle; the tooltip has it whole
    label = w.composition_panel.path_label
    assert label.toolTip() == str(comp)
    shown = label.shown_text()
    assert "…" in shown and shown.startswith(str(comp)[:3]) and shown.endswith(str(comp)[-3:])
    assert w.job_view.title.toolTip() == output
    # every dock scrolls: none asks for more than a sliver
    for dock in w.docks.values():
        assert dock.minimumSizeHint().width() < 200, dock.objectName()


def test_first_launch_size_fits_the_screen_and_a_restored_geometry_is_clamped():
    assert default_size(QRect(0, 0, 1920, 1050)) == QSize(1360, 860)
    small = default_size(QRect(0, 0, 1024, 700))
    assert small.width() <= 1024 and small.height() <= 700
    screen = QRect(0, 0, 1024, 700)
    clamped = clamp_to(QRect(300, 200, 1487, 900), screen)
    assert screen.contains(clamped) and clamped.size() == QSize(1024, 700)
    assert clamp_to(QRect(10, 20, 500, 400), screen) == QRect(10, 20, 500, 400)


@pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xwininfo")), reason="needs Xvfb and xwininfo")
def test_hyperdesk_gui_on_a_1024x700_screen_opens_a_window_that_fits(tmp_path):
    """`hyperdesk gui PATH` (a 180-character path) on a 1024×700 X screen: the window is at most 1024×700."""
    comp = long_project(tmp_path, 180)
    display = next(f":{n}" for n in range(140, 200)
                   if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists())
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1024x700x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", HYPERDESK_DATA_DIR=str(tmp_path / "data"),
               HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"))
    proc = None
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{display[1:]}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        proc = subprocess.Popen([sys.executable, "-m", "hyperdesk", "gui", str(comp / "index.html")], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        size = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            tree = subprocess.run(["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True).stdout
            found = re.search(r'"hyperdesk — [^"]*":.*?(\d+)x(\d+)\+', tree)
            if found:
                size = (int(found.group(1)), int(found.group(2)))
                time.sleep(2)  # the composition's facts arrive: the window must not grow with them
                tree = subprocess.run(["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True).stdout
                found = re.search(r'"hyperdesk — [^"]*":.*?(\d+)x(\d+)\+', tree)
                assert found
                size = (int(found.group(1)), int(found.group(2)))
                break
            time.sleep(0.3)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
        assert size is not None, "no hyperdesk window on the X screen"
        assert size[0] <= 1024 and size[1] <= 700, size
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        os.killpg(xvfb.pid, signal.SIGTERM)
        xvfb.wait(10)


def test_a_geometry_saved_on_a_bigger_screen_is_restored_within_this_one(make_window, store, qtbot, gui_settings):
    w = make_window(RenderService(store))
    w.resize(1487, 1100)  # what the issue saw saved: wider and taller than this (offscreen) screen
    w.move(200, 150)
    qtbot.wait(50)
    w.close()
    qtbot.waitUntil(lambda: w.closed_event.is_set(), timeout=10000)
    w2 = make_window(RenderService(store), settings=gui_settings)
    qtbot.wait(50)
    screen = w2.screen().availableGeometry()
    assert screen.contains(w2.frameGeometry()), (w2.frameGeometry(), screen)
