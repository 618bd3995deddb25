"""Frames of a render for people to look at: the first and last frame of each chunk (the seams)
and chosen frames of an output, as small PNGs extracted with the pinned ffmpeg."""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from hyperdesk.encode.ffmpeg import ffmpeg_exe


async def run_command(argv: list[str], *, timeout: float = 600.0) -> tuple[int, str, str]:
    """Run ffmpeg in its own process group; cancelling this kills the group (a thumbnail has nothing to
    clean up) and reaps it."""
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                start_new_session=True)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        # Reap it, but never hang a cancelled caller on it: under qasync the exit notice of a killed
        # child can come late, and a window closing waits for its tasks.
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(proc.wait()), 2)
        raise
    return proc.returncode or 0, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


@dataclass
class ChunkThumbs:
    index: int
    start: int
    end: int
    first: str | None = None
    last: str | None = None
    error: str | None = None


async def extract_chunk_thumbs(index: int, start: int, end: int, chunk_path: str, out_dir: Path) -> ChunkThumbs:
    """First and last frame of one chunk output (a video file or a directory of PNGs)."""
    thumbs = ChunkThumbs(index, start, end)
    src = Path(chunk_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        pngs = sorted(p for p in src.iterdir() if p.suffix.lower() == ".png")
        if pngs:
            thumbs.first, thumbs.last = str(pngs[0]), str(pngs[-1])
        else:
            thumbs.error = "no frames"
        return thumbs
    if not src.is_file():
        thumbs.error = "chunk file not on this machine"
        return thumbs
    n = max(1, end - start)
    pattern = out_dir / f"chunk{index:05d}_%d.png"
    select = f"select='eq(n\\,0)+eq(n\\,{n - 1})',scale='min(320\\,iw)':-2"
    status, _out, err = await run_command([ffmpeg_exe(), "-v", "error", "-y", "-i", str(src), "-vf", select,
                                           "-fps_mode", "passthrough", "-frames:v", "2", str(pattern)], timeout=120)
    first = out_dir / f"chunk{index:05d}_1.png"
    last = out_dir / f"chunk{index:05d}_2.png"
    if status != 0 or not first.is_file():
        thumbs.error = (err.strip().splitlines() or [f"ffmpeg exit {status}"])[-1]
        return thumbs
    thumbs.first = str(first)
    thumbs.last = str(last if last.is_file() else first)
    return thumbs


async def build_seam_thumbs(chunks: list[tuple[int, int, int, str]], out_dir: Path) -> list[ChunkThumbs]:
    """Thumbnails for chunks (index, start, end, output path), two ffmpeg processes at a time."""
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    sem = asyncio.Semaphore(2)

    async def one(c: tuple[int, int, int, str]) -> ChunkThumbs:
        async with sem:
            return await extract_chunk_thumbs(c[0], c[1], c[2], c[3], out_dir)

    return list(await asyncio.gather(*(one(c) for c in chunks)))


async def extract_output_frames(output: str, frames: list[int], out_dir: Path) -> dict[int, str]:
    """PNG thumbnails of the given frames of the assembled output (one ffmpeg pass, or the frame files)."""
    wanted = sorted(set(f for f in frames if f >= 0))
    if not wanted:
        return {}
    src = Path(output)
    if src.is_dir():  # png-sequence: frame_000001.png is frame 0
        found = {}
        for f in wanted:
            p = src / f"frame_{f + 1:06d}.png"
            if p.is_file():
                found[f] = str(p)
        return found
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("out_*.png"):
        old.unlink()
    expr = "+".join(f"eq(n\\,{f})" for f in wanted)
    status, _out, _err = await run_command([ffmpeg_exe(), "-v", "error", "-y", "-i", str(src), "-vf",
                                            f"select='{expr}',scale='min(320\\,iw)':-2", "-fps_mode", "passthrough",
                                            "-frames:v", str(len(wanted)), str(out_dir / "out_%d.png")], timeout=300)
    found = {}
    for n, f in enumerate(wanted, start=1):
        p = out_dir / f"out_{n}.png"
        if p.is_file():
            found[f] = str(p)
    return found


async def seam_thumbs_from_output(output: str, chunks: list[tuple[int, int, int]], out_dir: Path) -> list[ChunkThumbs]:
    frames = [f for _i, s, e in chunks for f in (s, e - 1)]
    found = await extract_output_frames(output, frames, out_dir)
    return [ChunkThumbs(i, s, e, found.get(s), found.get(e - 1),
                        None if s in found else "frame not extracted") for i, s, e in chunks]
