"""The chunk table model: event folding, paced repaints, sorting and filtering."""
from __future__ import annotations

from PySide6.QtCore import Qt

from hyperdesk.farm import events as fe
from hyperdesk.gui.chunk_model import COLUMNS, SORT_ROLE, ChunkSortProxy, ChunkTableModel, column_index

JOB = "job1"


class ev:
    """The farm events these tests feed, built from their positional short forms."""

    @staticmethod
    def AttemptStarted(job, index, attempt, number, node):
        return fe.AttemptStarted(job_id=job, chunk_index=index, attempt_id=attempt, number=number, node=node,
                                 frames_total=30)

    @staticmethod
    def ChunkProgress(job, index, attempt, done, total, fps, node="local"):
        return fe.ChunkProgress(job_id=job, chunk_index=index, attempt_id=attempt, node=node, frames_done=done,
                                frames_total=total, fps=fps)

    @staticmethod
    def ChunkDone(job, index, attempt, sha, path, node="local"):
        return fe.ChunkDone(job_id=job, chunk_index=index, attempt_id=attempt, node=node, sha256=sha,
                            output_path=path, seconds=1.0, frames=30)

    @staticmethod
    def ChunkFailed(job, index, attempt, node, code, message, hint="", retryable=False, final=False, log_tail=()):
        return fe.AttemptFailed(job_id=job, chunk_index=index, attempt_id=attempt, node=node, code=code,
                                message=message, hint=hint, retryable=retryable,
                                action="chunk_failed" if final else "retry", log_tail=list(log_tail))


def make_model(qtbot, n=10, frames=30, flush_ms=50):
    m = ChunkTableModel(flush_ms=flush_ms)
    m.reset_job(JOB, [(i, i * frames, (i + 1) * frames) for i in range(n)])
    return m


def cell(m, row, col_id, role=Qt.ItemDataRole.DisplayRole):
    return m.index(row, column_index(col_id)).data(role)


def test_progress_events_are_batched_into_few_repaints(qtbot):
    m = make_model(qtbot, n=100)
    changed = []
    m.dataChanged.connect(lambda a, b, roles=None: changed.append((a.row(), b.row())))
    for i in range(100):
        m.apply(ev.AttemptStarted(JOB, i, f"a{i}", 1, "local"))
    for k in range(1, 31):
        for i in range(100):
            m.apply(ev.ChunkProgress(JOB, i, f"a{i}", k, 30, 10.0))
    assert not changed, "no signal before the pacing timer fires"
    qtbot.waitUntil(lambda: m.flush_count >= 1, timeout=2000)
    # 3,100 events, every row dirty: one contiguous range, one dataChanged
    assert changed == [(0, 99)]
    assert cell(m, 5, "state") == "running"
    assert cell(m, 5, "progress", Qt.ItemDataRole.UserRole + 2)[0] == 1.0
    assert cell(m, 5, "fps") == "10.0"


def test_only_changed_rows_are_signalled(qtbot):
    m = make_model(qtbot, n=50)
    changed = []
    m.dataChanged.connect(lambda a, b, roles=None: changed.append((a.row(), b.row())))
    for i in (3, 4, 5, 20, 41):
        m.apply(ev.AttemptStarted(JOB, i, f"a{i}", 1, "n1"))
    m.flush()
    assert changed == [(3, 5), (20, 20), (41, 41)]


def test_done_failed_retrying_and_counts(qtbot):
    m = make_model(qtbot, n=4)
    m.apply(ev.AttemptStarted(JOB, 0, "a0", 1, "local"))
    m.apply(ev.ChunkDone(JOB, 0, "a0", "ab" * 32, "/x/c0.mp4"))
    m.apply(ev.AttemptStarted(JOB, 1, "a1", 1, "n1"))
    m.apply(ev.ChunkFailed(JOB, 1, "a1", "n1", "BROWSER_CRASHED", "Chromium exited", hint="check memory",
                           retryable=True, final=False, log_tail=("line 1", "line 2")))
    m.apply(ev.AttemptStarted(JOB, 2, "a2", 1, "local"))
    m.apply(ev.ChunkFailed(JOB, 2, "a2", "local", "PAGE_SCRIPT_ERROR", "boom", retryable=False, final=True))
    m.flush()
    assert m.counts() == {"done": 1, "running": 0, "waiting": 2, "failed": 1}
    assert cell(m, 0, "sha256") == "ab" * 6
    assert cell(m, 0, "sha256", Qt.ItemDataRole.ToolTipRole) == "ab" * 32
    assert cell(m, 1, "state") == "retrying"
    assert cell(m, 1, "error") == "BROWSER_CRASHED"
    assert cell(m, 1, "last_line") == "line 2"
    assert cell(m, 2, "state") == "failed"
    assert "hint" not in (cell(m, 2, "error", Qt.ItemDataRole.ToolTipRole) or "")  # empty hint is not shown
    summary = m.summary()
    assert summary["retrying"] == 1 and summary["total"] == 4
    # the retry on another node supersedes nothing (the first attempt ended) and clears the error on success
    m.apply(ev.AttemptStarted(JOB, 1, "a1b", 2, "local"))
    m.apply(ev.ChunkDone(JOB, 1, "a1b", "cd" * 32, "/x/c1.mp4"))
    m.flush()
    r = m.row_for_chunk(1)
    assert (r.state, r.attempt, r.node, r.error) == ("done", 2, "local", None)
    assert [a.outcome for a in r.attempts] == ["failed", "done"]


def test_superseded_attempt_events_are_ignored(qtbot):
    m = make_model(qtbot, n=2)
    m.apply(ev.AttemptStarted(JOB, 0, "old", 1, "n1"))
    m.apply(ev.ChunkProgress(JOB, 0, "old", 10, 30, 5.0))
    m.apply(ev.AttemptStarted(JOB, 0, "new", 2, "n2"))
    m.apply(ev.ChunkProgress(JOB, 0, "old", 25, 30, 5.0))  # late progress of the superseded attempt
    r = m.row_for_chunk(0)
    assert (r.frames_done, r.node, r.attempt) == (0, "n2", 2)
    assert r.attempts[0].outcome == "superseded"
    m.apply(ev.ChunkDone(JOB, 0, "new", "11" * 32, "/x"))
    m.apply(ev.ChunkDone(JOB, 0, "old", "22" * 32, "/y"))  # a late duplicate result: the first one stays
    assert r.sha256 == "11" * 32
    m.apply(ev.ChunkProgress("other-job", 1, "x", 3, 30, 1.0))  # another job's events never land here
    assert m.row_for_chunk(1).frames_done == 0


def test_sort_proxy_orders_by_state_and_filters(qtbot):
    m = make_model(qtbot, n=6)
    m.apply(ev.AttemptStarted(JOB, 4, "a4", 1, "local"))
    m.apply(ev.AttemptStarted(JOB, 2, "a2", 1, "local"))
    m.apply(ev.ChunkFailed(JOB, 2, "a2", "local", "ENCODE_FAILED", "x", retryable=True, final=True))
    m.apply(ev.AttemptStarted(JOB, 5, "a5", 1, "local"))
    m.apply(ev.ChunkDone(JOB, 5, "a5", "00" * 32, "/x"))
    m.flush()
    proxy = ChunkSortProxy()
    proxy.setSourceModel(m)
    proxy.sort(column_index("state"), Qt.SortOrder.AscendingOrder)
    order = [int(proxy.index(r, 0).data()) for r in range(proxy.rowCount())]
    assert order[0] == 2 and order[1] == 4 and order[-1] == 5  # failed, running, ..., done
    proxy.sort(column_index("frames"), Qt.SortOrder.DescendingOrder)
    assert proxy.index(0, 0).data() == "5"
    proxy.set_state_filter({"failed", "retrying"})
    assert proxy.rowCount() == 1 and proxy.index(0, 0).data() == "2"
    assert proxy.index(0, column_index("frames")).data(SORT_ROLE) == 60


def test_clock_columns_refresh_only_running_rows(qtbot):
    m = make_model(qtbot, n=5)
    m.apply(ev.AttemptStarted(JOB, 1, "a1", 1, "local"))
    m.apply(ev.AttemptStarted(JOB, 2, "a2", 1, "local"))
    m.flush()
    changed = []
    m.dataChanged.connect(lambda a, b, roles=None: changed.append((a.row(), a.column(), b.row(), b.column())))
    m._tick()
    timed = [i for i, c in enumerate(COLUMNS) if c.timed]
    assert changed == [(1, c, 2, c) for c in timed]


def test_suspended_model_keeps_changes(qtbot):
    m = make_model(qtbot, n=3, flush_ms=20)
    m.set_suspended(True)
    m.apply(ev.AttemptStarted(JOB, 0, "a0", 1, "local"))
    qtbot.wait(60)
    assert m.flush_count == 0
    m.set_suspended(False)
    assert m.flush_count == 1 and m.row_for_chunk(0).state == "running"


def test_job_eta_counts_each_chunks_whole_wall_time(qtbot):
    t = [100.0]
    m = ChunkTableModel(clock=lambda: t[0])
    m.reset_job(JOB, [(i, i * 30, (i + 1) * 30) for i in range(4)])
    m.apply(ev.AttemptStarted(JOB, 0, "a0", 1, "local"))  # events are timed by the model's clock on arrival
    t[0] = 110.0
    m.apply(ev.ChunkDone(JOB, 0, "a0", "00" * 32, "/x"))  # 30 frames in 10 s, start-up included
    m.apply(ev.AttemptStarted(JOB, 1, "a1", 1, "local"))
    t[0] = 112.0
    m.apply(ev.ChunkProgress(JOB, 1, "a1", 15, 30, 60.0))  # capture runs at 60 fps
    s = m.summary()
    # 75 frames left at 3 frames/s per busy slot (one slot): 25 s, not 75 / 60 = 1.25 s
    assert s["eta"] == 25.0 and s["fps"] == 60.0
