"""What a render shows: the service's events as JSON lines (`--json`), or as lines and a live
progress bar for people (on a terminal, redrawn in place)."""
from __future__ import annotations

import sys
import time

from hyperdesk.cli.output import emit_event, say
from hyperdesk.farm import events as ev

# Events a script does not need line by line (the bar and `jobs show` hold them); `planning` is left out
# so that a render's stream still starts with `planned`, as scripts written for earlier versions expect.
QUIET_IN_JSON = ("attempt_log", "attempt_heartbeat", "planning")


def project_line(project_dir: str | None, scope: str | None, files: int, size: int) -> str:
    """What the project copy took and from where, for people:
    `project /home/me: 7 files, 17.8 KiB (only the files the composition references, and --include)`."""
    what = "the whole folder" if scope == "folder" else "only the files the composition references, and --include"
    shown = f"{size} bytes" if size < 1024 else next(
        f"{size / 1024 ** k:.1f} {unit}" for k, unit in ((3, "GiB"), (2, "MiB"), (1, "KiB")) if size >= 1024 ** k)
    return f"project {project_dir or '?'}: {files} files, {shown} ({what})"


class ProgressBar:
    """Frames, frames/s, ETA of a whole job."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total = total
        self.done_by_chunk: dict[int, int] = {}
        self.kept = 0  # frames of chunks kept from an earlier run: done, but not rendered at this rate
        self.t0 = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.enabled = enabled
        self._last = 0.0
        self._shown = -1  # the frame count of the last line drawn

    def update(self, chunk: int, done: int, force: bool = False) -> None:
        self.done_by_chunk[chunk] = done
        self._draw(min(self.total, sum(self.done_by_chunk.values())), force)

    def complete(self) -> None:
        """Every chunk is done: the last line shows the whole frame count, kept chunks included."""
        if self._shown != self.total:
            self._draw(self.total, True)

    def _draw(self, done_all: int, force: bool) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < (0.2 if self.tty else 5.0):
            return
        self._last = now
        self._shown = done_all
        rendered = min(self.total, sum(self.done_by_chunk.values())) - self.kept
        rate = max(0, rendered) / max(1e-6, now - self.t0)
        eta = 0.0 if done_all >= self.total else (self.total - done_all) / rate if rate > 0 else float("inf")
        width = 30
        filled = int(width * done_all / max(1, self.total))
        eta_txt = f"{eta:5.0f}s" if eta != float("inf") else "    ?"
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {done_all}/{self.total} frames  {rate:5.1f} fps  "
                f"ETA {eta_txt}")
        sys.stderr.write(("\r" + line) if self.tty else (line + "\n"))
        sys.stderr.flush()

    def clear(self) -> None:
        """Erase the bar so a log line can be printed above it."""
        if self.enabled and self.tty:
            sys.stderr.write("\r\033[K")

    def close(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")


class EventPrinter:
    """A service listener: JSON lines for scripts, or readable lines and a progress bar for people."""

    def __init__(self, json_events: bool) -> None:
        self.json = json_events
        self.bar: ProgressBar | None = None

    def __call__(self, event: ev.Event) -> None:
        if self.json:
            if event.model_dump().get("type") not in QUIET_IN_JSON:
                emit_event(event)
            return
        if isinstance(event, ev.JobStarted):
            self.bar = ProgressBar(event.total_frames)
            for index in event.kept_chunks:
                start, end = next(((s, e) for i, s, e in event.chunks if i == index), (0, 0))
                self.bar.done_by_chunk[index] = end - start
            self.bar.kept = sum(self.bar.done_by_chunk.values())
        if isinstance(event, ev.AssembleStarted) and self.bar is not None:
            self.bar.complete()  # the bar's last line, above what assembly prints
            self.bar.close()
            self.bar = None
        line = self.text(event)
        if line:
            if self.bar is not None:
                self.bar.clear()
            say(line)
        if self.bar is not None:
            if isinstance(event, ev.ChunkProgress):
                self.bar.update(event.chunk_index, event.frames_done)
            elif isinstance(event, ev.ChunkDone):
                self.bar.update(event.chunk_index, event.frames, force=True)
            elif isinstance(event, (ev.JobDone, ev.JobFailed, ev.JobCancelled)):
                self.bar.close()
                self.bar = None

    @staticmethod
    def text(e: ev.Event) -> str | None:
        if isinstance(e, ev.JobPlanning):
            return f"planning {e.composition} …"
        if isinstance(e, ev.JobPlanned):
            lines = [f"plan {e.plan_hash[:12]} ({'reused' if e.reused else 'new'}, {e.plan_seconds:.1f} s): "
                     f"{e.total_frames} frames in {e.chunk_count} chunks"]
            if e.project_files is not None:
                lines.append(project_line(e.project_dir, e.project_scope, e.project_files, e.project_bytes or 0))
            lines += [f"warning {w.get('code')}: {w.get('message')}" for w in e.warnings]
            return "\n".join(lines)
        if isinstance(e, ev.JobStarted):
            kept = f", {len(e.kept_chunks)} chunks kept" if e.kept_chunks else ""
            return f"job {e.job_id}: {e.total_frames} frames in {e.chunk_count} chunks on {', '.join(e.nodes)}{kept}"
        if isinstance(e, ev.NodeStateChanged):
            why = f" ({e.reason})" if e.reason else ""
            code = f" {e.code}" if e.code and e.state != "online" else ""
            return f"node {e.node}: {e.state}{code}{why}"
        if isinstance(e, ev.PlanTransferred):
            return (f"node {e.node}: plan ready, uploaded {e.files_uploaded}/{e.files_total} files "
                    f"({e.bytes_uploaded} bytes) in {e.seconds:.1f} s")
        if isinstance(e, ev.AttemptStarted):
            return f"chunk {e.chunk_index}: started on {e.node} (attempt {e.attempt_id})"
        if isinstance(e, ev.ChunkDone):
            return f"chunk {e.chunk_index}: done on {e.node} in {e.seconds:.1f} s, sha256 {e.sha256[:12]}…"
        if isinstance(e, ev.AttemptFailed):
            if e.action in ("cancelled", "ignored"):
                return None
            what = {"retry": f"retry in {e.retry_in_s:.0f} s on another node",
                    "node_lost": f"node lost, retry in {e.retry_in_s:.0f} s elsewhere",
                    "retransfer": "re-sending the plan, then one retry",
                    "node_incompatible": "node marked incompatible, chunk goes elsewhere",
                    "chunk_failed": "chunk failed", "fail_job": "job fails"}.get(e.action, e.action)
            return f"chunk {e.chunk_index}: {e.code} on {e.node}: {e.message} -> {what}"
        if isinstance(e, ev.AttemptNotice):
            return f"chunk {e.chunk_index}: {e.code} on {e.node}: {e.message}"
        if isinstance(e, ev.ChunkQueued):
            return f"chunk {e.chunk_index}: queued again ({e.reason})"
        if isinstance(e, ev.JobPaused):
            return f"job paused ({e.running} chunks finishing)"
        if isinstance(e, ev.JobResumed):
            return "job resumed"
        if isinstance(e, ev.AssembleStarted):
            return "assembling and verifying …"
        if isinstance(e, ev.JobCancelled):
            return "job cancelled"
        return None
