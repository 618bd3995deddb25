"""What a user expects of a render manager, as the user sees it: progress in frames, job names,
Reveal output / Play, a preview that starts on frame 0 and ends on the last frame, a live frame,
a dark theme, and errors that name the project's file."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication, QImage, QPalette
from PySide6.QtMultimedia import QMediaPlayer

from compositions import BACKGROUND_RGB, BOX_RGB, close_rgb, write_tiny
from hyperdesk.capture.server import project_locations
from hyperdesk.gui.delegates import JobProgressBar
from hyperdesk.service import RenderService


def rgb(img: QImage, x: int, y: int) -> tuple[int, int, int]:
    c = img.pixelColor(x, y)
    return c.red(), c.green(), c.blue()


def test_the_job_bar_fills_by_frames_with_chunk_states_in_a_thin_strip(qtbot):
    bar = JobProgressBar()
    qtbot.addWidget(bar)
    bar.resize(600, bar.sizeHint().height())
    bar.set_summary({"done": 3, "running": 2, "waiting": 3, "failed": 0, "retrying": 0, "total": 8,
                     "frames_done": 46, "frames_total": 300})
    assert bar.fraction() == pytest.approx(46 / 300)
    assert bar.caption.startswith("46/300 frames · 3/8 chunks")
    strip = bar.segments()
    assert [s for s, _r in strip] == ["done", "running", "waiting"]
    assert all(r.height() <= 6 and r.top() > bar.BAR_HEIGHT for _s, r in strip)
    img = bar.grab().toImage()
    # the bar's fill ends near 46/300 of its width, not at the chunks' 5/8
    filled = sum(1 for x in range(1, 599) if img.pixelColor(x, 4).blue() > 150 and img.pixelColor(x, 4).red() < 100)
    assert 80 <= filled <= 100, filled


def test_loopback_urls_become_project_paths():
    msg = "Uncaught page script error: boom (http://127.0.0.1:56479/index.html:46:28)"
    assert project_locations(msg, "/home/me/promo") == \
        "Uncaught page script error: boom (/home/me/promo/index.html:46:28)"
    assert project_locations("at f (http://127.0.0.1:8000/js/a.js:3:1)", "/p/") == "at f (/p/js/a.js:3:1)"
    assert project_locations("http://127.0.0.1:9/__hd/fonts/x.woff2", "/p") == "http://127.0.0.1:9/__hd/fonts/x.woff2"


def test_dark_theme_toggle_in_the_view_menu(make_window, store, gui_settings):
    w = make_window(RenderService(store))
    view = next(a.menu() for a in w.menuBar().actions() if a.text() == "&View")
    action = next(a for a in view.actions() if a.text() == "&Dark theme")
    assert action.isCheckable()
    light = QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness()
    try:
        action.setChecked(not action.isChecked())
        assert action.isChecked()  # offscreen starts light
        assert QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 100
        assert str(gui_settings.value("view/dark")).lower() == "true"
    finally:
        action.setChecked(False)
    assert QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() == light


@pytest.mark.slow
def test_finished_job_preview_names_and_output_actions_then_a_failed_render(make_window, store, qtbot, tmp_path):
    comp = write_tiny(tmp_path / "tiny")
    out = tmp_path / "out" / "tiny.mp4"
    w = make_window(RenderService(store))
    w.nodes_panel.local_workers.setValue(2)
    w.open_composition(str(comp))
    qtbot.waitUntil(lambda: w.facts is not None and w.facts.ok, timeout=120_000)
    w.settings_panel.chunk.setValue(8)
    w.settings_panel.keyframes.setValue(8)
    w.settings_panel.output.setText(str(out))
    assert not w.actions_by_id["reveal_output"].isEnabled() and not w.actions_by_id["play_output"].isEnabled()
    w.actions_by_id["render"].trigger()
    qtbot.waitUntil(lambda: w.job_state in ("done", "failed"), timeout=600_000)
    assert w.job_state == "done", w.job_error
    qtbot.waitUntil(lambda: w.model.flush_count > 0 and w.model.counts()["done"] == 4, timeout=5000)

    # the header and the history name the job by its composition id, not a hex id or index.html
    assert w.job_view.title.text().startswith("tiny → ")
    row = w.history_model.rows[0]
    assert row.name == "tiny" and w.history_model.index(0, 0).data() == "tiny"
    assert w.notifications[-1] == ("Render finished", "tiny: tiny.mp4 is ready") or \
        w.notifications[-1][1].startswith("tiny: tiny.mp4 is ready (")
    assert w.job_view.bar.fraction() == 1.0 and w.job_view.bar.caption.startswith("30/30 frames")

    # a live frame: the newest finished chunk's last frame
    qtbot.waitUntil(lambda: w.job_view.live.isVisible() and w.job_view.live.pixmap() is not None
                    and not w.job_view.live.pixmap().isNull(), timeout=30_000)

    # Reveal output and Play: in the Job menu and in History's right-click menu
    opened: list[str] = []

    class Handler(QObject):
        @Slot(QUrl)
        def open(self, url):
            opened.append(url.toLocalFile())

    handler = Handler()
    QDesktopServices.setUrlHandler("file", handler, "open")
    try:
        assert w.actions_by_id["reveal_output"].isEnabled() and w.actions_by_id["play_output"].isEnabled()
        w.actions_by_id["play_output"].trigger()
        w.actions_by_id["reveal_output"].trigger()
        assert opened == [str(out), str(out.parent)]
        w.history_panel.select_job(w.job_id)
        menu = w.history_panel.context_menu()
        texts = {a.text(): a for a in menu.actions()}
        assert texts["Reveal output"].isEnabled() and texts["Play"].isEnabled()
        texts["Play"].trigger()
        texts["Reveal output"].trigger()
        assert opened[2:] == [str(out), str(out.parent)]
    finally:
        QDesktopServices.unsetUrlHandler("file")

    # the preview: paused on frame 0 before play (the box at the left), the last frame at the end
    preview = w.preview
    qtbot.waitUntil(lambda: preview.shown_frame == 0 and preview.sink.videoFrame().isValid(), timeout=30_000)
    first = preview.sink.videoFrame().toImage().convertToFormat(QImage.Format.Format_RGB32)
    assert close_rgb(rgb(first, 20, 45), BOX_RGB, tol=40), rgb(first, 20, 45)
    assert preview.position_label.text().startswith("frame 0 / 29")
    preview.play()
    qtbot.waitUntil(lambda: preview.player.mediaStatus() == QMediaPlayer.MediaStatus.EndOfMedia, timeout=30_000)
    qtbot.wait(200)
    frame = preview.sink.videoFrame()
    assert frame.isValid()  # not the empty frame the player ends with
    last = frame.toImage().convertToFormat(QImage.Format.Format_RGB32)
    assert close_rgb(rgb(last, 140, 45), BOX_RGB, tol=40), rgb(last, 140, 45)
    assert close_rgb(rgb(last, 20, 45), BACKGROUND_RGB, tol=40), rgb(last, 20, 45)
    assert preview.shown_frame == 29 and preview.position_label.text().startswith("frame 29 / 29")
    assert "verified" in preview.verification.text()

    # a new render: the old "verified" line goes, the preview says it is rendering
    broken = write_tiny(tmp_path / "broken", broken=True)
    w.open_composition(str(broken))
    qtbot.waitUntil(lambda: w.facts is not None and w.facts.ok and w.composition == str(broken), timeout=120_000)
    w.settings_panel.chunk.setValue(8)
    w.settings_panel.keyframes.setValue(8)
    w.settings_panel.output.setText(str(tmp_path / "out" / "broken.mp4"))
    w.actions_by_id["render"].trigger()
    assert preview.verification.text() == ""
    assert preview.position_label.text().startswith("rendering")
    assert not w.job_view.live.isVisible()
    qtbot.waitUntil(lambda: w.job_state == "failed", timeout=600_000)
    qtbot.waitUntil(lambda: w.model.row_for_chunk(2).state == "failed", timeout=10_000)
    failed = w.model.row_for_chunk(2)
    # the row says what went wrong, and the error names the project's file, not the loopback server
    assert failed.last_line.startswith("PAGE_SCRIPT_ERROR: "), failed.last_line
    message = failed.error["message"]
    assert "127.0.0.1" not in message, message
    lines = (broken / "index.html").read_text().splitlines()
    throw_line = next(n for n, line in enumerate(lines, 1) if "throw" in line)
    assert f"{Path(broken) / 'index.html'}:{throw_line}:" in message, message
    assert "127.0.0.1" not in store.get_job(w.job_id).error["message"]
