"""Replay farm event streams into the GUI, the way FarmController produces them.

A replay writes the same job-store rows the controller writes (so history, rows_from_store and
the inspector see what they would see) and passes the controller's own event models
(hyperdesk.farm.events) to the render service's listeners. Streams can be saved to / loaded from
JSONL (one farm event per line), e.g. a stream recorded from a real render.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Iterable, Optional

from hyperdesk.errors import HyperdeskError
from hyperdesk.farm import events as fe
from hyperdesk.store.models import AttemptRecord, JobRecord

def load_jsonl(path: Path) -> list[fe.Event]:
    return [fe.parse_event(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def save_jsonl(path: Path, events: Iterable[fe.FarmEvent]) -> None:
    path.write_text("".join(e.model_dump_json() + "\n" for e in events))


def fake_sha(index: int) -> str:
    return hashlib.sha256(f"chunk-{index}".encode()).hexdigest()


class FarmReplay:
    def __init__(self, store: Any, sink: Any, *, job_id: str = "a1b2c3d4", chunks: int = 8, frames: int = 30,
                 work_dir: Optional[Path] = None, output: str = "/tmp/hyperdesk-replay/out.mp4",
                 composition: str = "/tmp/hyperdesk-replay/index.html", fmt: str = "mp4") -> None:
        self.store = store
        self.sink = sink  # RenderService._emit, or a list to record into
        self.job_id = job_id
        self.frames = frames
        self.count = chunks
        self.output = output
        self.work_dir = work_dir or Path("/tmp/hyperdesk-replay") / job_id
        now = time.time()
        self.job = JobRecord(id=job_id, state="running", plan_dir=str(self.work_dir / "plan"), plan_hash="f" * 64,
                             output=output, format=fmt, chunk_count=chunks, created_at=now, updated_at=now,
                             work_dir=str(self.work_dir), spec={"composition": composition, "executors": []},
                             controller_pid=None)
        store.create_job(self.job, [(i, i * frames, (i + 1) * frames) for i in range(chunks)])
        self.numbers: dict[int, int] = {}
        self.recorded: list[fe.FarmEvent] = []

    def feed(self, event: fe.FarmEvent) -> None:
        self.recorded.append(event)
        if callable(self.sink):
            self.sink(event)
        else:
            self.sink.append(event)

    # ---- the controller's steps, store first, then the event ----------------------------------

    def start(self, nodes: tuple[tuple[str, str, int], ...] = (("local", "local", 2),)) -> None:
        self.feed(fe.JobStarted(job_id=self.job_id, plan_hash=self.job.plan_hash, plan_dir=self.job.plan_dir,
                                output=self.output, chunk_count=self.count, total_frames=self.count * self.frames,
                                nodes=[n for n, _k, _s in nodes]))
        for name, kind, slots in nodes:
            self.feed(fe.NodeStateChanged(job_id=self.job_id, node=name, kind=kind, state="connecting", slots=slots))
            self.feed(fe.NodeStateChanged(job_id=self.job_id, node=name, kind=kind, state="online", slots=slots))

    def attempt(self, index: int, node: str = "local") -> str:
        number = self.store.next_attempt_number(self.job_id, index)
        attempt_id = f"{self.job_id}-c{index}-a{number}"
        self.store.add_attempt(AttemptRecord(id=attempt_id, job_id=self.job_id, chunk_index=index, number=number,
                                             node=node, state="running", started_at=time.time()))
        self.store.set_chunk(self.job_id, index, "running")
        self.feed(fe.AttemptStarted(job_id=self.job_id, chunk_index=index, attempt_id=attempt_id, node=node,
                                    number=number, frames_total=self.frames))
        self.feed(fe.AttemptAccepted(job_id=self.job_id, chunk_index=index, attempt_id=attempt_id, node=node,
                                     pid=1000 + index, pgid=1000 + index, host="replayhost"))
        return attempt_id

    def progress(self, index: int, attempt_id: str, done: int, fps: float = 12.0, node: str = "local") -> None:
        self.feed(fe.ChunkProgress(job_id=self.job_id, chunk_index=index, attempt_id=attempt_id, node=node,
                                   frames_done=done, frames_total=self.frames, fps=fps))

    def log(self, index: int, attempt_id: str, line: str, node: str = "local") -> None:
        self.feed(fe.AttemptLog(job_id=self.job_id, chunk_index=index, attempt_id=attempt_id, node=node, line=line))

    def done(self, index: int, attempt_id: str, node: str = "local", sha: Optional[str] = None) -> str:
        sha = sha or fake_sha(index)
        out = str(self.work_dir / "chunks" / f"{attempt_id}.mp4")
        result = {"chunk_index": index, "sha256": sha, "output_path": out, "start_frame": index * self.frames,
                  "end_frame": (index + 1) * self.frames, "attempt_id": attempt_id}
        self.store.finish_chunk(self.job_id, index, result, attempt_id)
        self.feed(fe.ChunkDone(job_id=self.job_id, chunk_index=index, attempt_id=attempt_id, node=node, sha256=sha,
                               output_path=out, seconds=1.5, frames=self.frames))
        return sha

    def fail(self, index: int, attempt_id: str, code: str, message: str, *, action: str, node: str = "local",
             log_tail: tuple[str, ...] = ("capture frame 12", "error: boom")) -> None:
        err = HyperdeskError(code, message)
        self.store.end_attempt(attempt_id, "failed", error_code=code, error_message=message, log_tail=list(log_tail))
        self.store.set_chunk(self.job_id, index, "failed" if action in ("chunk_failed", "fail_job") else "pending")
        self.feed(fe.AttemptFailed(job_id=self.job_id, chunk_index=index, attempt_id=attempt_id, node=node, code=code,
                                   message=message, hint=err.hint, retryable=err.retryable, action=action,
                                   retry_in_s=2.0 if action == "retry" else 0.0, log_tail=list(log_tail)))

    def render_chunk(self, index: int, node: str = "local", steps: int = 3) -> str:
        a = self.attempt(index, node)
        for k in range(1, steps + 1):
            self.progress(index, a, self.frames * k // steps, node=node)
        return self.done(index, a, node)

    def job_failed(self, code: str, message: str) -> None:
        err = HyperdeskError(code, message)
        self.store.update_job(self.job_id, state="failed", error=err.to_dict())
        self.feed(fe.JobFailed(job_id=self.job_id, code=code, message=message, hint=err.hint))

    def job_done(self, output: Optional[str] = None) -> None:
        result = {"output_path": output or self.output, "sha256": "e" * 64, "frames": self.count * self.frames,
                  "duration_s": self.count * self.frames / 30, "size_bytes": 1234, "warnings": []}
        self.store.update_job(self.job_id, state="done", result=result)
        self.feed(fe.AssembleStarted(job_id=self.job_id))
        self.feed(fe.JobDone(job_id=self.job_id, output=result["output_path"], sha256=result["sha256"],
                             frames=result["frames"], seconds=3.0, result=result))
