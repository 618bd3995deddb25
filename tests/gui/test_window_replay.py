"""The real main window fed the controller's own event models through the render service.

These cover what the end-to-end tests cannot reach cheaply: hundreds of chunks, a failure of each
kind, retry bookkeeping, history reopening, copying and notifications.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from farm_replay import FarmReplay, fake_sha, load_jsonl, save_jsonl
from hyperdesk.errors import CODES
from hyperdesk.gui.chunk_model import column_index
from hyperdesk.service import RenderService


class RecordingService(RenderService):
    """The real service, with the job steering calls recorded instead of reaching a controller."""

    def __init__(self, store):
        super().__init__(store)
        self.calls = []

    async def retry_chunks(self, job_id, indices=None, *, avoid_node=None):
        if avoid_node:
            for index in indices:
                self.calls.append(("retry_elsewhere", job_id, index, avoid_node))
        else:
            self.calls.append(("retry", job_id, list(indices)))
        return list(indices)

    async def resume(self, job_id, *, local=None, accept_host_keys=None, retry_chunks=None):
        self.calls.append(("resume", job_id))
        return job_id


def test_a_replayed_render_shows_every_chunk_done_with_the_stored_sha(make_window, store, qtbot):
    service = RecordingService(store)
    w = make_window(service)
    rp = FarmReplay(store, service._emit, chunks=12)
    rp.start(nodes=(("local", "local", 2), ("n1", "ssh", 1)))
    for i in range(12):
        rp.render_chunk(i, node="n1" if i % 3 == 0 else "local")
    qtbot.waitUntil(lambda: w.model.counts()["done"] == 12, timeout=5000)
    qtbot.waitUntil(lambda: w.job_view.bar.counts.get("done") == 12, timeout=5000)
    for c in store.chunks(rp.job_id):
        row = w.model.row_for_chunk(c.index)
        assert row.sha256 == c.result["sha256"] == fake_sha(c.index)
        assert row.node == ("n1" if c.index % 3 == 0 else "local")
    # the table shows 12 characters, the tooltip and the copy action the whole hash
    w.job_view.select_chunk(4)
    idx = w.job_view.table.currentIndex().siblingAtColumn(column_index("sha256"))
    assert idx.data() == fake_sha(4)[:12]
    assert idx.data(Qt.ItemDataRole.ToolTipRole) == fake_sha(4)
    w.job_view.copy_sha256()
    assert QGuiApplication.clipboard().text() == fake_sha(4)
    rp.job_done()
    qtbot.waitUntil(lambda: w.job_state == "done", timeout=5000)
    assert w.notifications and w.notifications[-1][0] == "Render finished"
    assert "verified" in w.preview.verification.text()
    assert w.history_model.rows and w.history_model.rows[0].job_id == rp.job_id


def test_a_non_retryable_failure_shows_code_and_hint_in_the_inspector(make_window, store, qtbot):
    service = RecordingService(store)
    w = make_window(service)
    rp = FarmReplay(store, service._emit, chunks=4)
    rp.start()
    rp.render_chunk(0)
    a = rp.attempt(1)
    rp.progress(1, a, 5)
    rp.log(1, a, "page: Uncaught ReferenceError: nope is not defined")
    rp.fail(1, a, "PAGE_SCRIPT_ERROR", "ReferenceError: nope is not defined (index.html)", action="fail_job",
            log_tail=("loading index.html", "Uncaught ReferenceError: nope is not defined"))
    rp.job_failed("PAGE_SCRIPT_ERROR", "ReferenceError: nope is not defined (index.html)")
    qtbot.waitUntil(lambda: w.job_state == "failed", timeout=5000)
    qtbot.waitUntil(lambda: w.inspector.row is not None and w.inspector.row.index == 1, timeout=5000)
    ins = w.inspector
    assert "PAGE_SCRIPT_ERROR" in ins.code.text()
    assert ins.hint.text() == CODES["PAGE_SCRIPT_ERROR"][1]
    assert ins.retryable.text().startswith("no")
    assert "Uncaught ReferenceError" in ins.log.toPlainText()
    assert ins.attempts.rowCount() == 1 and ins.attempts.item(0, 3).text() == "failed"
    assert w.notifications[-1][0] == "Render failed"
    assert "PAGE_SCRIPT_ERROR" in w.job_view.detail.text()
    ins.copy_diagnostics()
    text = QGuiApplication.clipboard().text()
    assert "error: PAGE_SCRIPT_ERROR" in text and f"hint: {CODES['PAGE_SCRIPT_ERROR'][1]}" in text


def test_retry_buttons_of_the_inspector_reach_the_farm(make_window, store, qtbot):
    service = RecordingService(store)
    w = make_window(service)
    rp = FarmReplay(store, service._emit, chunks=3)
    rp.start(nodes=(("local", "local", 1), ("n1", "ssh", 1)))
    a = rp.attempt(2, node="n1")
    rp.fail(2, a, "BROWSER_CRASHED", "Chromium exited with signal 9", action="retry", node="n1")
    qtbot.waitUntil(lambda: w.model.row_for_chunk(2).display_state == "retrying", timeout=5000)
    w.job_view.select_chunk(2)
    ins = w.inspector
    assert "BROWSER_CRASHED" in ins.code.text() and ins.retryable.text().startswith("yes")
    assert ins.retry_button.isEnabled() and ins.retry_else_button.isEnabled()
    qtbot.mouseClick(ins.retry_else_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: ("retry_elsewhere", rp.job_id, 2, "n1") in service.calls, timeout=5000)
    qtbot.mouseClick(ins.retry_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: ("retry", rp.job_id, [2]) in service.calls, timeout=5000)
    # the second attempt on another node succeeds: the row is done, both attempts are listed
    b = rp.attempt(2, node="local")
    rp.done(2, b)
    qtbot.waitUntil(lambda: ins.attempts.rowCount() == 2, timeout=5000)
    assert [ins.attempts.item(n, 3).text() for n in range(ins.attempts.rowCount())] == ["failed", "done"]


def test_a_stored_job_reopens_from_history_with_its_failure(make_window, store, qtbot, gui_settings):
    rp = FarmReplay(store, [], chunks=5)  # recorded, not shown: the job is only in the store
    rp.start()
    for i in (0, 1):
        rp.render_chunk(i)
    a = rp.attempt(2)
    rp.fail(2, a, "ENCODE_FAILED", "ffmpeg exited with status 1", action="chunk_failed",
            log_tail=("[libx264] error", "Conversion failed!"))
    rp.job_failed("ENCODE_FAILED", "chunk 2 failed 3 times")
    service = RecordingService(store)
    w = make_window(service)
    assert w.history_model.rows[0].job_id == rp.job_id and w.history_model.rows[0].resumable
    assert w.history_panel.select_job(rp.job_id)
    qtbot.mouseClick(w.history_panel.open_button, Qt.MouseButton.LeftButton)
    assert w.job_id == rp.job_id and len(w.model.rows) == 5
    assert [r.state for r in w.model.rows] == ["done", "done", "failed", "waiting", "waiting"]
    assert w.model.row_for_chunk(1).sha256 == fake_sha(1)
    w.job_view.select_chunk(2)
    assert "ENCODE_FAILED" in w.inspector.code.text()
    assert w.inspector.hint.text() == CODES["ENCODE_FAILED"][1]
    assert "Conversion failed!" in w.inspector.log.toPlainText()
    assert w.actions_by_id["resume"].isEnabled()
    qtbot.mouseClick(w.history_panel.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: ("resume", rp.job_id) in service.calls, timeout=5000)


def test_a_recorded_stream_replays_from_jsonl(make_window, store, qtbot, tmp_path):
    recorder = FarmReplay(store, [], job_id="feedc0de", chunks=6)
    recorder.start()
    for i in range(6):
        recorder.render_chunk(i, steps=10)
    path = tmp_path / "stream.jsonl"
    save_jsonl(path, recorder.recorded)
    service = RecordingService(store)
    w = make_window(service)
    for e in load_jsonl(path):
        service._emit(e)
    qtbot.waitUntil(lambda: w.model.counts()["done"] == 6, timeout=5000)
    assert w.model.events_applied >= 6 * 12
    assert w.model.flush_count <= 3  # everything arrived at once: one or two paced flushes
