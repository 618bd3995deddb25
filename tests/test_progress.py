"""What a person sees of a resumed render (issue 19, item 7): the progress line counts the frames of
the chunks kept from the earlier run and ends at the whole frame count ("90/90 frames", not "30/90").
EventPrinter is fed the events a resumed job emits, as the service hands them to it."""
from __future__ import annotations

import re

import pytest

from hyperdesk.cli.progress import EventPrinter
from hyperdesk.farm import events as ev

JOB = "j0b1d000"
CHUNKS = [(0, 0, 30), (1, 30, 60), (2, 60, 90)]  # (index, start frame, end frame): 90 frames


def resumed_job(kept: list[int]) -> list[ev.Event]:
    """The events of a job resumed with `kept` chunks done already: the others are rendered (progress
    part-way, then done) and the job is assembled."""
    events: list[ev.Event] = [ev.JobStarted(
        job_id=JOB, plan_hash="a" * 64, plan_dir="/plans/a", output="/renders/out.mp4", chunk_count=len(CHUNKS),
        total_frames=90, nodes=["local"], resumed=True, kept_chunks=kept, chunks=CHUNKS, fps=10.0)]
    for index, start, end in CHUNKS:
        if index in kept:
            continue
        attempt = f"{JOB}-c{index}-a2"
        events += [
            ev.AttemptStarted(job_id=JOB, chunk_index=index, attempt_id=attempt, node="local", number=2,
                              frames_total=end - start),
            ev.ChunkProgress(job_id=JOB, chunk_index=index, attempt_id=attempt, node="local", frames_done=10,
                             frames_total=end - start, fps=20.0),
            ev.ChunkProgress(job_id=JOB, chunk_index=index, attempt_id=attempt, node="local", frames_done=20,
                             frames_total=end - start, fps=20.0),
            ev.ChunkDone(job_id=JOB, chunk_index=index, attempt_id=attempt, node="local", sha256="b" * 64,
                         output_path=f"/jobs/{JOB}/chunks/{index}.mp4", seconds=1.5, frames=end - start),
        ]
    events += [ev.AssembleStarted(job_id=JOB),
               ev.JobDone(job_id=JOB, output="/renders/out.mp4", sha256="c" * 64, frames=90, seconds=3.0,
                          result={})]
    return events


def printed(capsys: pytest.CaptureFixture[str], events: list[ev.Event]) -> list[str]:
    printer = EventPrinter(json_events=False)
    for event in events:
        printer(event)
    out, err = capsys.readouterr()
    assert out == ""
    return err.splitlines()


def bar_counts(lines: list[str]) -> list[int]:
    return [int(m.group(1)) for line in lines for m in [re.search(r"\] (\d+)/90 frames ", line)] if m]


@pytest.mark.parametrize("kept", [[0, 1], [1], [0, 2]])
def test_the_progress_line_of_a_resumed_job_counts_the_kept_chunks_and_ends_at_the_whole_count(capsys, kept):
    lines = printed(capsys, resumed_job(kept))
    kept_frames = sum(end - start for index, start, end in CHUNKS if index in kept)
    assert f"job {JOB}: 90 frames in 3 chunks on local, {len(kept)} chunks kept" in lines
    counts = bar_counts(lines)
    assert counts, lines
    # from its first line the bar holds the kept frames (a bar of only this run's frames starts at 10/90)
    assert min(counts) >= kept_frames + 10, (counts, lines)
    assert counts == sorted(counts), counts
    # it ends at the whole count, drawn when the last chunk is done, above the assembly line
    last = max(index for index, _s, _e in CHUNKS if index not in kept)
    assembling = lines.index("assembling and verifying …")
    assert counts[-1] == 90 and "] 90/90 frames " in lines[assembling - 1], lines
    assert lines[assembling - 2].startswith(f"chunk {last}: done on local"), lines
    assert lines[assembling - 1].startswith("[" + "#" * 30 + "]"), lines[assembling - 1]


def test_a_job_that_keeps_nothing_counts_from_zero(capsys):
    """The control: without kept chunks the bar shows this run's frames (10/90 after the first progress)."""
    counts = bar_counts(printed(capsys, resumed_job([])))
    assert counts[0] == 10 and counts[-1] == 90, counts
