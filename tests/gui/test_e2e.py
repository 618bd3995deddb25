"""The desktop app driven end to end on the real farm: real workers (Chromium, ffmpeg), real job
store, a real sshd on 127.0.0.x, the real player. Each test asserts what the user sees.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QDialogButtonBox

from compositions import BACKGROUND_RGB, BOX_RGB, close_rgb, write_tiny
from hyperdesk.errors import CODES
from hyperdesk.farm.controller import FarmSettings
from hyperdesk.farm.scheduler import Policy
from hyperdesk.service import RenderService

pytestmark = pytest.mark.slow

GUI_TESTS = Path(__file__).resolve().parent
RESULTS = Path(os.environ.get("HYPERDESK_GUI_RESULTS", "/tmp/hyperdesk-gui-results.json"))


class LoopMonitor:
    """A repeating 16 ms QTimer; the worst lateness of its ticks is how long the loop was blocked."""

    def __init__(self, interval_ms: int = 16) -> None:
        self.interval = interval_ms / 1000
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.last = None
        self.worst = 0.0
        self.ticks = 0

    def start(self) -> None:
        self.last = time.monotonic()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now = time.monotonic()
        self.worst = max(self.worst, now - self.last - self.interval)
        self.last = now
        self.ticks += 1


def record(key: str, value) -> None:
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[key] = value
    RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True))


def rgb(img: QImage, x: int, y: int) -> tuple[int, int, int]:
    c = img.pixelColor(x, y)
    return c.red(), c.green(), c.blue()


def open_and_configure(w, qtbot, comp: Path, out: Path, *, workers: int = 2, chunk: int = 8) -> None:
    w.nodes_panel.local_workers.setValue(workers)
    w.open_composition(str(comp))
    qtbot.waitUntil(lambda: w.facts is not None and w.facts.ok, timeout=120_000)
    w.settings_panel.chunk.setValue(chunk)
    w.settings_panel.keyframes.setValue(chunk)
    w.settings_panel.output.setText(str(out))


def test_render_two_local_workers_assemble_and_preview(make_window, store, qtbot, tmp_path, record_property):
    comp = write_tiny(tmp_path / "tiny")
    out = tmp_path / "out" / "tiny.mp4"
    w = make_window(RenderService(store))
    open_and_configure(w, qtbot, comp, out)
    # the composition panel: facts, variables from the declarations, a real first frame
    assert w.composition_panel.size_label.text() == "160 × 90"
    assert w.composition_panel.fps_label.text() == "15"
    assert w.composition_panel.frames_label.text() == "30"
    assert list(w.composition_panel.variables.editors) == ["label"]
    qtbot.waitUntil(lambda: w.facts.thumbnail is not None or w.facts.thumbnail_error is not None, timeout=120_000)
    thumb = QImage(w.facts.thumbnail)
    assert (thumb.width(), thumb.height()) == (160, 90)
    assert close_rgb(rgb(thumb, 20, 45), BOX_RGB) and close_rgb(rgb(thumb, 120, 10), BACKGROUND_RGB)

    monitor = LoopMonitor()
    monitor.start()
    assert w.actions_by_id["render"].isEnabled()
    w.actions_by_id["render"].trigger()
    qtbot.waitUntil(lambda: w.job_state == "running", timeout=120_000)
    assert len(w.model.rows) == 4
    qtbot.waitUntil(lambda: w.job_state in ("done", "failed"), timeout=600_000)
    monitor.stop()
    assert w.job_state == "done", w.job_error
    qtbot.waitUntil(lambda: w.model.flush_count > 0 and w.model.counts()["done"] == 4, timeout=5000)

    # every row shows the sha256 the job store holds, rendered on the local workers
    records = store.chunks(w.job_id)
    assert [c.state for c in records] == ["done"] * 4
    for c in records:
        row = w.model.row_for_chunk(c.index)
        assert row.state == "done" and row.node == "local"
        assert row.sha256 == c.result["sha256"] and len(row.sha256) == 64
    assert len({a.attempt_id for r in w.model.rows for a in r.attempts}) >= 4
    # assembly ran and verified the output; the preview's player gets the output's frames
    assert w.assemble_result is not None and w.assemble_result.ok
    assert w.assemble_result.result["frames"] == 30 and out.is_file()
    assert "verified" in w.preview.verification.text()
    assert w.notifications[-1][0] == "Render finished"

    frames: list[QImage] = []
    w.preview.sink.videoFrameChanged.connect(lambda f: f.isValid() and len(frames) < 40 and frames.append(f.toImage()))
    w.show_preview()
    qtbot.waitUntil(lambda: w.preview.player.duration() > 0, timeout=30_000)
    w.preview.play()
    qtbot.waitUntil(lambda: len(frames) >= 10, timeout=30_000)
    first = frames[0].convertToFormat(QImage.Format.Format_RGB32)
    assert (first.width(), first.height()) == (160, 90)
    assert close_rgb(rgb(first, 20, 45), BOX_RGB, tol=40), rgb(first, 20, 45)  # the box at frame 0
    w.preview.pause()
    w.preview.seek_frame(10)  # scrub, then step one frame forward and two back
    qtbot.waitUntil(lambda: w.preview.current_frame() == 10, timeout=10_000)
    w.preview.step(1)
    qtbot.waitUntil(lambda: w.preview.current_frame() == 11, timeout=10_000)
    w.preview.step(-2)
    qtbot.waitUntil(lambda: w.preview.current_frame() == 9, timeout=10_000)
    qtbot.waitUntil(lambda: len(w.preview.seams.thumbs) == 4, timeout=60_000)
    assert all(t.first and t.last for t in w.preview.seams.thumbs)

    record_property("worst_timer_delay_ms", round(monitor.worst * 1000, 1))
    record("render_2_workers", {"worst_timer_delay_ms": round(monitor.worst * 1000, 1), "ticks": monitor.ticks,
                                "flushes": w.model.flush_count, "events": w.model.events_applied})
    print(f"\nworst 16 ms timer delay during the render: {monitor.worst * 1000:.1f} ms over {monitor.ticks} ticks")
    assert monitor.worst < 1.0  # a frozen window is seconds; this machine's load adds tens of ms


def test_non_retryable_failure_shows_code_and_hint(make_window, store, qtbot, tmp_path):
    comp = write_tiny(tmp_path / "broken", broken=True)
    w = make_window(RenderService(store))
    open_and_configure(w, qtbot, comp, tmp_path / "out" / "broken.mp4")
    w.actions_by_id["render"].trigger()
    qtbot.waitUntil(lambda: w.job_state == "failed", timeout=600_000)
    qtbot.waitUntil(lambda: w.inspector.row is not None and w.inspector.row.state == "failed", timeout=10_000)
    ins = w.inspector
    assert ins.row.index == 2  # frames 16-23 hold t = 1.2 s
    assert "PAGE_SCRIPT_ERROR" in ins.code.text()
    assert "the box fell over at 1.20" in ins.message.text()
    assert ins.hint.text() == CODES["PAGE_SCRIPT_ERROR"][1]
    assert ins.retryable.text().startswith("no")
    assert "PAGE_SCRIPT_ERROR" in w.job_view.detail.text()
    assert w.notifications[-1][0] == "Render failed"
    # the worker kept its work dir; frames 16 and 17 were captured before the error
    assert ins.frame_path is not None and ins.frame_path.name == "frame_000001.jpg"
    assert ins.open_dir_button.isEnabled()
    assert store.get_job(w.job_id).error["code"] == "PAGE_SCRIPT_ERROR"


def test_retryable_failure_is_retried_from_the_inspector(make_window, store, qtbot, tmp_path):
    comp = write_tiny(tmp_path / "tiny")
    marker = tmp_path / "fail-chunk-1"
    marker.write_text("on")
    service = RenderService(store, worker_command=[sys.executable, str(GUI_TESTS / "flaky_worker.py")],
                            worker_env={"FLAKY_MARKER": str(marker), "FLAKY_CHUNK": "1"},
                            settings=FarmSettings(policy=Policy(backoff_base_s=0.2, backoff_cap_s=0.5)))
    w = make_window(service)
    open_and_configure(w, qtbot, comp, tmp_path / "out" / "tiny.mp4")
    w.actions_by_id["render"].trigger()
    qtbot.waitUntil(lambda: w.job_state == "failed", timeout=600_000)
    qtbot.waitUntil(lambda: w.inspector.row is not None and w.inspector.row.index == 1, timeout=10_000)
    ins = w.inspector
    assert "BROWSER_CRASHED" in ins.code.text()
    assert ins.hint.text() == CODES["BROWSER_CRASHED"][1]
    assert ins.retryable.text().startswith("yes")
    assert ins.attempts.rowCount() == 3  # retried automatically twice, then the chunk failed
    assert "received signal 11" in ins.log.toPlainText()
    marker.unlink()  # the cause is fixed
    assert ins.retry_button.isEnabled()
    qtbot.mouseClick(ins.retry_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.job_state == "done", timeout=600_000)
    qtbot.waitUntil(lambda: w.model.row_for_chunk(1).state == "done", timeout=5000)
    assert [c.state for c in store.chunks(w.job_id)] == ["done"] * 4
    assert w.assemble_result.ok
    attempts = store.attempts(w.job_id, 1)
    assert [a.state for a in attempts] == ["failed", "failed", "failed", "done"]


def test_close_mid_job_then_resume_from_history(make_window, store, qtbot, tmp_path, gui_settings):
    comp = write_tiny(tmp_path / "tiny")
    w1 = make_window(RenderService(store))
    open_and_configure(w1, qtbot, comp, tmp_path / "out" / "tiny.mp4", workers=1, chunk=6)
    w1.actions_by_id["render"].trigger()
    qtbot.waitUntil(lambda: w1.model.counts()["done"] >= 1 and w1.model.counts()["running"] >= 1, timeout=600_000)
    job_id = w1.job_id
    w1.close()
    qtbot.waitUntil(lambda: w1.closed_event.is_set(), timeout=60_000)
    job = store.get_job(job_id)
    assert job.state == "running"  # interrupted, not cancelled: it is resumable
    done_before = [c.index for c in store.chunks(job_id) if c.state == "done"]
    assert done_before

    w2 = make_window(RenderService(store), settings=gui_settings)  # the app opened again
    rows = {r.job_id: r for r in w2.history_model.rows}
    assert job_id in rows and rows[job_id].resumable
    assert w2.history_panel.select_job(job_id)
    qtbot.mouseClick(w2.history_panel.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w2.job_id == job_id and w2.job_state == "running", timeout=60_000)
    qtbot.waitUntil(lambda: w2.job_state in ("done", "failed"), timeout=600_000)
    assert w2.job_state == "done", w2.job_error
    assert [c.state for c in store.chunks(job_id)] == ["done"] * 5
    for index in done_before:  # kept, not rendered again
        assert [a.state for a in store.attempts(job_id, index)] == ["done"]
    assert w2.assemble_result.ok


@pytest.fixture
def sshd_node(tmp_path):
    from farm.sshd import SshdNode, write_key

    key = tmp_path / "client_key"
    write_key(key)
    node = SshdNode(tmp_path / "n1", "127.0.0.2", key, name="n1")
    node.start()
    yield node
    node.stop()


def test_add_ssh_node_confirm_fingerprint_preflight_and_render(make_window, store, qtbot, tmp_path, sshd_node):
    from farm.sshd import VENV_PYTHON

    node = sshd_node
    cfg = node.node_config(slots=2)
    w = make_window(RenderService(store))
    w.nodes_panel.local_workers.setValue(0)
    qtbot.mouseClick(w.nodes_panel.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: getattr(w, "node_dialog", None) is not None and w.node_dialog.isVisible(), timeout=5000)
    d = w.node_dialog
    d.name.setText("n1")
    d.host.setText(node.address)
    d.port.setValue(node.port)
    d.user.setText("root")
    d.key.setText(str(node.client_key_path))
    d.slots.setValue(2)
    d.command.setText(f"{VENV_PYTHON} -m hyperdesk")
    d.env.setText(" ".join(f"{k}={v}" for k, v in sorted(cfg.remote_env.items())))
    qtbot.mouseClick(d.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    # the unknown host key: a dialog with its SHA256 fingerprint; nothing is pinned before "Trust and pin"
    qtbot.waitUntil(lambda: getattr(w, "host_key_dialog", None) is not None and w.host_key_dialog.isVisible(),
                    timeout=60_000)
    assert w.host_key_dialog.fingerprint_label.text() == node.fingerprint
    assert node.fingerprint.startswith("SHA256:")
    assert store.host_key(node.address, node.port) is None
    qtbot.mouseClick(w.host_key_dialog.trust_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: (w.nodes_model.row_named("n1") is not None
                             and w.nodes_model.row_named("n1").preflight is not None), timeout=180_000)
    row = w.nodes_model.row_named("n1")
    assert row.state == "online", row.reason
    assert store.host_key(node.address, node.port).fingerprint == node.fingerprint
    n = w.nodes_model.rows.index(row)
    preflight_text = w.nodes_model.index(n, 5).data()
    assert "compatible" in preflight_text and "hyperdesk" in preflight_text and "cores" in preflight_text
    assert store.get_node("n1").last_preflight is not None

    comp = write_tiny(tmp_path / "tiny")
    open_and_configure(w, qtbot, comp, tmp_path / "out" / "tiny.mp4", workers=0)
    w.actions_by_id["render"].trigger()
    qtbot.waitUntil(lambda: w.job_state in ("done", "failed"), timeout=600_000)
    assert w.job_state == "done", w.job_error
    assert {r.node for r in w.model.rows} == {"n1"}
    for c in store.chunks(w.job_id):
        assert w.model.row_for_chunk(c.index).sha256 == c.result["sha256"]


def processes_mentioning(marker: str) -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if marker in cmd:
                found.append(cmd)
    return found


def test_pause_resume_rerender_assemble_by_hand_and_cancel(make_window, store, qtbot, tmp_path):
    comp = write_tiny(tmp_path / "tiny")
    w = make_window(RenderService(store))
    open_and_configure(w, qtbot, comp, tmp_path / "out" / "tiny.mp4", workers=1, chunk=6)
    w.settings_panel.keep_chunks.setChecked(True)
    w.actions_by_id["render"].trigger()
    qtbot.waitUntil(lambda: w.model.counts()["running"] == 1, timeout=120_000)
    # pause: the running chunk finishes, nothing new starts
    assert w.actions_by_id["pause"].isEnabled()
    w.actions_by_id["pause"].trigger()
    qtbot.waitUntil(lambda: w.job_state == "paused", timeout=120_000)
    attempts = len(store.attempts(w.job_id))
    done = w.model.counts()["done"]
    qtbot.wait(2000)
    assert len(store.attempts(w.job_id)) == attempts and w.model.counts()["done"] == done < 5
    assert w.actions_by_id["resume"].isEnabled()
    w.actions_by_id["resume"].trigger()
    qtbot.waitUntil(lambda: w.job_state in ("done", "failed"), timeout=600_000)
    assert w.job_state == "done", w.job_error
    first_sha = w.assemble_result.result["sha256"]
    chunk0_sha = w.model.row_for_chunk(0).sha256

    # re-render the selected chunk: same bytes again (deterministic), the job assembles again
    w.job_view.select_chunk(0)
    assert w.actions_by_id["rerender"].isEnabled()
    w.actions_by_id["rerender"].trigger()
    qtbot.waitUntil(lambda: len(w.model.row_for_chunk(0).attempts) == 2, timeout=60_000)
    qtbot.waitUntil(lambda: w.job_state == "done", timeout=600_000)
    assert w.model.row_for_chunk(0).sha256 == chunk0_sha
    assert [a.state for a in store.attempts(w.job_id, 0)] == ["done", "done"]
    assert w.assemble_result.result["sha256"] == first_sha

    # assemble by hand (the chunk files were kept): verified, identical output
    assert w.actions_by_id["assemble"].isEnabled()
    w.assemble_result = None
    w.actions_by_id["assemble"].trigger()
    qtbot.waitUntil(lambda: w.assemble_result is not None, timeout=120_000)
    assert w.assemble_result.ok, w.assemble_result.error
    assert w.assemble_result.result["sha256"] == first_sha
    assert "verified" in w.preview.verification.text()

    # cancel a new render: no worker, Chromium or ffmpeg of that job is left
    w.actions_by_id["render"].trigger()
    qtbot.waitUntil(lambda: w.model.counts()["running"] >= 1 and w.job_state == "running", timeout=120_000)
    job_id = w.job_id
    w.actions_by_id["cancel"].trigger()
    qtbot.waitUntil(lambda: w.job_state == "cancelled", timeout=60_000)
    assert store.get_job(job_id).state == "cancelled"
    assert w.model.counts()["running"] == 0
    qtbot.waitUntil(lambda: not processes_mentioning(f"{job_id}-c"), timeout=15_000)
    assert w.actions_by_id["render"].isEnabled()
