"""Chunk table under load: 10,000 progress events into a 1,000-chunk job, paced vs. unpaced.

    .venv/bin/python benchmarks/gui_model.py [--chunks 1000] [--events 10000] [--rate 2000]

Runs offscreen with the real JobView (table, sort proxy, progress delegate, stacked bar) shown at
1400x900, so every repaint really paints. Two deliveries:

* burst  — all events applied at once (a stalled loop catching up), then the loop runs;
* stream — events arrive over time at --rate events/s from a timer (a busy render).

Each is measured for the paced model (dirty rows flushed by a 150 ms timer, one dataChanged per
contiguous run of rows) and for the baseline in the same run: the same model emitting dataChanged
for every event, which is what a model without pacing does. Printed: wall time, dataChanged
signals, viewport paints, delegate paint calls, and the ratios baseline / paced.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import importlib  # noqa: E402

importlib.import_module("hyperdesk.gui")  # the PySide6 refcount guard, before any Qt call
from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from hyperdesk.farm import events as fe  # noqa: E402
from hyperdesk.gui.chunk_model import ChunkTableModel  # noqa: E402
from hyperdesk.gui.delegates import ProgressDelegate  # noqa: E402
from hyperdesk.gui.job_view import JobView  # noqa: E402

JOB = "bench"


class UnpacedModel(ChunkTableModel):
    """The baseline: every event is signalled at once (no coalescing)."""

    def _mark(self, n: int) -> None:
        self._dirty.add(n)
        self.flush()


def make_events(chunks: int, events: int, frames: int = 240) -> tuple[list, list]:
    starts = [fe.AttemptStarted(job_id=JOB, chunk_index=i, attempt_id=f"a{i}", number=1,
                                node="local" if i % 2 else "n1", frames_total=frames) for i in range(chunks)]
    per = max(1, events // chunks)
    progress = []
    for k in range(1, per + 1):
        for i in range(chunks):
            progress.append(fe.ChunkProgress(job_id=JOB, chunk_index=i, attempt_id=f"a{i}", node="local",
                                             frames_done=frames * k // per, frames_total=frames, fps=12.5))
    return starts, progress[:events]


def pump(ms: float) -> None:
    end = time.monotonic() + ms / 1000
    while time.monotonic() < end:
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)


def setup(model_cls, chunks: int):
    model = model_cls()
    model.reset_job(JOB, [(i, i * 240, (i + 1) * 240) for i in range(chunks)])
    view = JobView(model)
    view.resize(1400, 900)
    view.show()
    pump(300)
    return model, view


def counters(model, view) -> dict:
    return {"data_changed": model.data_changed_count, "table_paints": view.table.paint_count,
            "paint_s": view.table.paint_seconds, "delegate_paints": ProgressDelegate.paint_count,
            "bar_paints": view.bar.paint_count, "flush_s": model.flush_seconds}


def diff(a: dict, b: dict) -> dict:
    return {k: b[k] - a[k] for k in a}


def run_burst(model_cls, chunks: int, events: int) -> dict:
    model, view = setup(model_cls, chunks)
    starts, progress = make_events(chunks, events)
    model.apply_many(starts)
    pump(400)
    before = counters(model, view)
    t0 = time.perf_counter()
    for e in progress:
        model.apply(e)
    t_apply = time.perf_counter() - t0
    pump(600)  # the paced flush (150 ms) and the repaints it causes
    out = diff(before, counters(model, view))
    out.update(apply_s=t_apply, cpu_s=t_apply + out["flush_s"] + out["paint_s"])
    assert all(r.frames_done == 240 for r in model.rows), "every row reached its last progress event"
    view.close()
    model.stop_timers()
    return out


def run_stream(model_cls, chunks: int, events: int, rate: float) -> dict:
    model, view = setup(model_cls, chunks)
    starts, progress = make_events(chunks, events)
    model.apply_many(starts)
    pump(400)
    before = counters(model, view)
    tick_ms = 10
    per_tick = max(1, int(rate * tick_ms / 1000))
    state = {"i": 0, "busy": 0.0, "late": 0.0, "last": None}

    def feed() -> None:
        now = time.perf_counter()
        if state["last"] is not None:
            state["late"] = max(state["late"], now - state["last"] - tick_ms / 1000)
        state["last"] = now
        t = time.perf_counter()
        chunk = progress[state["i"]: state["i"] + per_tick]
        for e in chunk:
            model.apply(e)
        state["i"] += len(chunk)
        state["busy"] += time.perf_counter() - t
        if state["i"] >= len(progress):
            timer.stop()

    timer = QTimer()
    timer.setInterval(tick_ms)
    timer.timeout.connect(feed)
    t0 = time.perf_counter()
    timer.start()
    while timer.isActive():
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
    wall = time.perf_counter() - t0
    pump(400)
    out = diff(before, counters(model, view))
    out.update(wall_s=wall, apply_s=state["busy"], cpu_s=state["busy"] + out["flush_s"] + out["paint_s"],
               worst_tick_late_ms=state["late"] * 1000)
    view.close()
    model.stop_timers()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=1000)
    ap.add_argument("--events", type=int, default=10000)
    ap.add_argument("--rate", type=float, default=2000.0, help="events per second in the stream run")
    args = ap.parse_args()
    app = QApplication.instance() or QApplication([])
    app.setApplicationName("hyperdesk-benchmark")
    print(f"{args.events} progress events into a {args.chunks}-chunk job (JobView 1400x900, offscreen)\n")
    rows = []
    for name, fn in (("burst", lambda c: run_burst(c, args.chunks, args.events)),
                     ("stream", lambda c: run_stream(c, args.chunks, args.events, args.rate))):
        paced = fn(ChunkTableModel)
        base = fn(UnpacedModel)
        rows.append((name, paced, base))
    for name, paced, base in rows:
        print(f"[{name}]")
        print(f"  {'':22}{'paced':>12}{'unpaced':>12}{'ratio':>9}")
        for k in paced:
            p, b = paced[k], base[k]
            ratio = (b / p) if p else float("inf") if b else 1.0
            fmt = "{:>12.3f}" if isinstance(p, float) else "{:>12d}"
            print(f"  {k:22}" + fmt.format(p) + fmt.format(b) + f"{ratio:>8.1f}x")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
