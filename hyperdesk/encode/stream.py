"""Streaming chunk encode: captured images go to ffmpeg's stdin as they are produced (plan contract 8).

The pipe input (`-f image2pipe -c:v mjpeg|png -framerate F -i -`) and the directory input
(`-framerate F -start_number 0 -i frame_%06d.<ext>`) give byte-identical files.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

from hyperdesk.encode.args import chunk_encode_command
from hyperdesk.encode.ffmpeg import ffmpeg_exe, read_tail, run_ffmpeg, failed_for_space
from hyperdesk.errors import HyperdeskError, disk_full
from hyperdesk.models import LockedRenderConfig


class StreamingEncoder:
    """One ffmpeg process encoding the frames written to it into `out_path`.

    ffmpeg's stderr goes to `log_path`; a failure raises ENCODE_FAILED with its tail in
    `details.stderr_tail`. Use `await start()`, `await write(bytes)` per frame, then `await finish()`;
    `await abort()` kills the process (safe to call at any time, also after finish).
    """

    def __init__(self, cfg: LockedRenderConfig, out_path: str | os.PathLike[str],
                 log_path: str | os.PathLike[str]) -> None:
        self.cfg = cfg
        self.out_path = Path(out_path)
        self.log_path = Path(log_path)
        self.frames_written = 0
        self.bytes_written = 0
        self.returncode: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._log: Any = None
        self.argv: list[str] = []

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self) -> None:
        if self._proc is not None:
            raise RuntimeError("StreamingEncoder already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.argv = [ffmpeg_exe(), "-hide_banner", *chunk_encode_command(self.cfg, str(self.out_path))]
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (ffmpeg's stderr until _close_log())
        self._log.write(("$ " + " ".join(self.argv) + "\n").encode("utf-8", "replace"))
        self._log.flush()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=self._log,
            )
        except OSError as exc:
            self._close_log()
            raise self._error(f"cannot start ffmpeg: {exc}") from exc

    async def write(self, frame_bytes: bytes) -> None:
        """Send one encoded image; waits while ffmpeg's pipe is full (backpressure)."""
        proc = self._require()
        assert proc.stdin is not None
        if proc.returncode is not None:
            raise await self._failed("ffmpeg exited while frames were being written")
        try:
            proc.stdin.write(frame_bytes)
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise await self._failed("ffmpeg closed its input") from exc
        self.frames_written += 1
        self.bytes_written += len(frame_bytes)

    async def finish(self) -> int:
        """Close stdin, wait for ffmpeg; non-zero exit raises ENCODE_FAILED. Returns frames written."""
        proc = self._require()
        assert proc.stdin is not None
        try:
            if not proc.stdin.is_closing():
                proc.stdin.close()
            await proc.stdin.wait_closed()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.returncode = await proc.wait()
        self._close_log()
        if self.returncode != 0:
            raise self._error(f"ffmpeg exited with status {self.returncode}")
        return self.frames_written

    async def abort(self) -> None:
        """Kill ffmpeg (if running) and wait for it; never raises."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
                proc.kill()
        with contextlib.suppress(Exception):
            if proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.close()
        with contextlib.suppress(Exception):
            self.returncode = await proc.wait()
        self._close_log()

    async def __aenter__(self) -> StreamingEncoder:
        await self.start()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            await self.abort()

    # ------------------------------------------------------------ internals

    def _require(self) -> asyncio.subprocess.Process:
        if self._proc is None:
            raise RuntimeError("StreamingEncoder not started")
        return self._proc

    async def _failed(self, what: str) -> HyperdeskError:
        proc = self._require()
        try:
            self.returncode = await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            await self.abort()
        self._close_log()
        return self._error(f"{what} (exit status {self.returncode})")

    def _error(self, message: str) -> HyperdeskError:
        tail = read_tail(self.log_path)
        last = tail.splitlines()[-1] if tail else ""
        if failed_for_space(tail, self.out_path.parent):
            return disk_full(self.out_path.parent, what="encoding a chunk", cause=last)
        return HyperdeskError(
            "ENCODE_FAILED",
            f"{message}: {last}" if last else message,
            details={"returncode": self.returncode, "stderr_tail": tail, "log_path": str(self.log_path),
                     "output": str(self.out_path), "frames_written": self.frames_written},
        )

    def _close_log(self) -> None:
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None


def encode_frame_dir(cfg: LockedRenderConfig, frames_dir: str | os.PathLike[str], out_path: str | os.PathLike[str],
                     *, log_path: str | os.PathLike[str] | None = None, timeout: float | None = None) -> None:
    """Encode `<frames_dir>/frame_%06d.<ext>` (zero-based) into `out_path` (ENCODE_FAILED on error)."""
    ext = "jpg" if cfg.capture_format == "jpeg" else "png"
    pattern = os.path.join(os.fspath(frames_dir), f"frame_%06d.{ext}")
    run_ffmpeg(chunk_encode_command(cfg, str(out_path), input_pattern=pattern), error_code="ENCODE_FAILED",
               log_path=log_path, timeout=timeout, message="chunk encode failed", capture_stdout=False)
