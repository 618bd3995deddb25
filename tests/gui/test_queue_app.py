"""The app as a render manager (issue 15): re-plan after a fix, interrupted jobs offered at launch, a
non-retryable failure keeping the chunks that were running, the queue and batch from the app. Real
Chromium and ffmpeg, the real job store; asserted is what the user sees (banner, states, frames)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QToolBar

from compositions import BOX_RGB, TINY, close_rgb, write_tiny
from hyperdesk.service import RenderService
from test_e2e import open_and_configure
from tests.mediautil import count_frames, decode_frames, pixel


def test_replan_offered_after_a_source_change_and_the_replanned_render_succeeds(make_window, store, qtbot,
                                                                                tmp_path):
    comp = write_tiny(tmp_path / "tiny", broken=True)
    out = tmp_path / "out" / "tiny.mp4"
    w = make_window(RenderService(store))
    open_and_configure(w, qtbot, comp, out, workers=1, chunk=8)
    w.actions_by_id["render"].trigger()
    qtbot.waitUntil(lambda: w.job_state in ("done", "failed"), timeout=600_000)
    assert w.job_state == "failed" and w.job_error["code"] == "PAGE_SCRIPT_ERROR"
    failed_id = w.job_id
    assert not w.banner.isVisible()  # nothing changed yet: no re-plan offered

    write_tiny(comp)  # the fix
    w.actions_by_id["retry_failed"].trigger()
    # (the check that ran when the job failed may show the banner first, without the retry button,
    # when the fix lands before it finished; the Retry's own check then adds it)
    qtbot.waitUntil(lambda: w.banner.isVisible() and w.banner.button("Retry the old plan") is not None,
                    timeout=60_000)
    assert "changed since job" in w.banner.label.text()
    replan = w.banner.button("Re-plan and render")
    assert replan is not None and w.banner.button("Retry the old plan") is not None
    qtbot.mouseClick(replan, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.job_id != failed_id and w.job_state == "running", timeout=120_000)
    qtbot.waitUntil(lambda: w.job_state in ("done", "failed"), timeout=600_000)
    assert w.job_state == "done", w.job_error
    assert store.get_job(failed_id).state == "failed"
    assert count_frames(out) == 30
    # frames 18-20 are the ones the broken script stopped: the fixed composition draws its box there
    frame = decode_frames(out)[19]
    box_x = round(120 * (19 / 15) / 2)  # a linear 2 s move of 120 px, frame 19 at 15 fps
    assert close_rgb(pixel(frame, box_x + 20, 45)[:3], BOX_RGB)


def test_an_interrupted_job_is_offered_for_resume_at_launch(make_window, store, qtbot, tmp_path, gui_settings):
    comp = write_tiny(tmp_path / "tiny")
    w1 = make_window(RenderService(store))
    open_and_configure(w1, qtbot, comp, tmp_path / "out" / "tiny.mp4", workers=1, chunk=6)
    w1.actions_by_id["render"].trigger()
    qtbot.waitUntil(lambda: w1.model.counts()["done"] >= 1 and w1.model.counts()["running"] >= 1, timeout=600_000)
    job_id = w1.job_id
    w1.close()  # a clean quit mid-render; kill -9 leaves the same record
    qtbot.waitUntil(lambda: w1.closed_event.is_set(), timeout=60_000)
    done_before = [c.index for c in store.chunks(job_id) if c.state == "done"]

    w2 = make_window(RenderService(store), settings=gui_settings)  # the app opened again
    assert store.get_job(job_id).state == "interrupted"
    assert w2.banner.isVisible()
    assert "1 job stopped" in w2.banner.label.text() and "Finished chunks are kept" in w2.banner.label.text()
    qtbot.mouseClick(w2.banner.button("Resume all"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w2.job_id == job_id and w2.job_state == "running", timeout=60_000)
    qtbot.waitUntil(lambda: w2.job_state in ("done", "failed"), timeout=600_000)
    assert w2.job_state == "done", w2.job_error
    for index in done_before:  # kept, not rendered again
        assert [a.state for a in store.attempts(job_id, index)] == ["done"]
    # the Queue panel (refreshed every second) shows it done too
    qtbot.waitUntil(lambda: {e.id: e.state for e in w2.queue_model.rows}.get(job_id) == "done", timeout=5_000)


# Chunk 2 (frames 12-17) is slow, chunk 3 (frames 18-23) throws on its first frames (18-20, so the seam
# audit of the last chunk, and its warm-up frame 23, see a working page): the failure comes
# while chunk 2 is still running on the other worker.
SLOW_THEN_BROKEN = """<script>
const slowSeen = new Set();
window.addEventListener("hf-seek", (e) => {
  const t = e.detail.time;
  if (t >= 0.8 && t < 1.2 && !slowSeen.has(t)) {  // busy work (the page's clock is virtual: no Date.now() wait)
    slowSeen.add(t); let x = 0; for (let i = 0; i < 4e7; i++) { x += Math.sqrt(i); } window.slowSum = x;
  }
  if (t >= 1.2 && t < 1.4) { throw new Error("the box fell over at " + t.toFixed(2)); }
});
</script>"""


def test_a_non_retryable_failure_keeps_the_running_chunks(make_window, store, qtbot, tmp_path):
    comp = tmp_path / "tiny"
    comp.mkdir()
    (comp / "index.html").write_text(TINY.replace("%SCRIPT%", SLOW_THEN_BROKEN))
    w = make_window(RenderService(store))
    open_and_configure(w, qtbot, comp, tmp_path / "out" / "tiny.mp4", workers=2, chunk=6)
    w.actions_by_id["render"].trigger()
    qtbot.waitUntil(lambda: w.job_state in ("done", "failed"), timeout=600_000)
    assert w.job_state == "failed" and w.job_error["code"] == "PAGE_SCRIPT_ERROR"
    job_id = w.job_id
    chunks = {c.index: c.state for c in store.chunks(job_id)}
    attempts = {i: [a.state for a in store.attempts(job_id, i)] for i in chunks}
    assert attempts[3] == ["failed"]  # not retried: the error is the page's
    assert chunks[2] == "done" and attempts[2] == ["done"]  # was running at the failure: finished and kept
    assert chunks[4] != "done" and attempts[4] == []  # no new chunk was handed out after the failure
    assert w.model.row_for_chunk(2).state == "done"


def test_add_to_queue_and_batch_from_the_app(make_window, store, qtbot, tmp_path):
    comp = write_tiny(tmp_path / "tiny")
    w = make_window(RenderService(store))
    open_and_configure(w, qtbot, comp, tmp_path / "out" / "tiny.mp4", workers=2, chunk=30)
    w.queue_panel.pause_button.setChecked(True)  # line everything up first
    assert w.queue.paused and w.queue_panel.pause_button.text() == "Resume queue"
    job = w.queue_actions.add_to_queue()
    assert job is not None
    rows = tmp_path / "rows.csv"
    rows.write_text("label\nfirst\nsecond\n")
    w.actions_by_id["batch"].trigger()
    dialog = w.queue_actions.batch_dialog
    dialog.set_table(str(rows), str(tmp_path / "out" / "tiny-{label}.mp4"))
    assert dialog.preview.rowCount() == 2 and dialog.queue_button.text() == "Queue 2 jobs"
    dialog.queue_button.click()
    w.queue_actions.refresh()
    names = sorted(e.name for e in w.queue_model.rows)
    assert names == ["tiny", "tiny row 1", "tiny row 2"]
    assert {e.state for e in w.queue_model.rows} == {"queued"}
    # Raise moves a job up the queue (the run order is priority, then the order queued)
    assert w.queue_panel.select_job(next(e.id for e in w.queue_model.rows if e.name == "tiny row 2"))
    qtbot.mouseClick(w.queue_panel.raise_button, Qt.MouseButton.LeftButton)
    assert [e.name for e in w.queue_model.rows] == ["tiny row 2", "tiny", "tiny row 1"]
    # dragging "tiny row 1" to the top of the Queue panel makes it run first (the drop the view makes)
    model = w.queue_model
    last = next(n for n, e in enumerate(model.rows) if e.name == "tiny row 1")
    assert last == 2 and model.flags(model.index(last, 0)) & Qt.ItemFlag.ItemIsDragEnabled
    drag = model.mimeData([model.index(last, 0)])
    model.dropMimeData(drag, Qt.DropAction.MoveAction, 0, 0, QModelIndex())
    assert [e.name for e in model.rows] == ["tiny row 1", "tiny row 2", "tiny"]
    assert model.rows[0].priority > model.rows[1].priority > model.rows[2].priority
    # a bad table names its row before anything is queued
    rows.write_text("label,nope\nok,1\n")
    w.actions_by_id["batch"].trigger()
    dialog = w.queue_actions.batch_dialog
    dialog.set_table(str(rows), str(tmp_path / "out" / "bad-{row}.mp4"))
    assert "row 1" in dialog.status.text() and "'nope'" in dialog.status.text()
    assert not dialog.queue_button.isEnabled()
    dialog.reject()

    # the queue's actions stand beside Render in the toolbar
    toolbar = [a.text() for a in w.findChild(QToolBar, "toolbar_job").actions()]
    render_at = toolbar.index(w.actions_by_id["render"].text())
    assert toolbar[render_at + 1:render_at + 3] == [w.actions_by_id["add_to_queue"].text(),
                                                    w.actions_by_id["batch"].text()], toolbar
    # resumed elsewhere (`hyperdesk queue resume` writes the same store): the panel's button follows
    w.queue.pause(False)
    qtbot.waitUntil(lambda: not w.queue_panel.pause_button.isChecked(), timeout=5_000)
    assert w.queue_panel.pause_button.text() == "Pause queue"
    seen = len(w.notifications)
    qtbot.waitUntil(lambda: all(e.state == "done" for e in w.queue.entries()), timeout=900_000)
    qtbot.waitUntil(lambda: {e.state for e in w.queue_model.rows} == {"done"}, timeout=5_000)  # the panel too
    # a desktop notification for each job the queue finished, then one for the queue
    said = w.notifications[seen:]
    finished = [m for t, m in said if t == "Render finished"]
    for name in ("tiny row 1: tiny-first.mp4 is ready", "tiny row 2: tiny-second.mp4 is ready",
                 "tiny: tiny.mp4 is ready"):
        assert sum(m.startswith(name) for m in finished) == 1, said
    assert ("Queue finished", "3 done") in said
    for name in ("tiny.mp4", "tiny-first.mp4", "tiny-second.mp4"):
        assert count_frames(Path(tmp_path / "out" / name)) == 30
