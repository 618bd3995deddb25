"""render_chunk(): a pure function of a planDir and a chunk index (plan-contract.md 7-9)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import secrets
import shutil
import socket
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from hyperdesk import __version__
from hyperdesk.capture.browser import find_browser
from hyperdesk.capture.session import CaptureSession, DriverHold, PageSpec
from hyperdesk.capture.spec import RequestedMode
from hyperdesk.encode.probe import pinned_packet_count
from hyperdesk.encode.stream import StreamingEncoder
from hyperdesk.dirs import claim
from hyperdesk.errors import HyperdeskError, unexpected_error
from hyperdesk.faults import FaultPlan
from hyperdesk.models import ChunkResult, ChunkTimings, ResultWarning, WorkerEnv, WorkerInfo
from hyperdesk.plan.aio import run_coroutine
from hyperdesk.plan.config import RUNTIME_ENV_PREFIXES
from hyperdesk.plan.env import local_worker_env
from hyperdesk.plan.hashing import frame_dir_hash, pretty_json, sha256_bytes, sha256_file
from hyperdesk.plan.paths import check_writable_parent
from hyperdesk.plan.timelines import page_timeouts
from hyperdesk.plan.verify import LoadedPlan, check_worker_env, load_plan

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

GIB = 1024 ** 3
DEFAULT_RECYCLE_AFTER = 12  # chunks per browser session of a warm worker
DEFAULT_MEMORY_CEILING = 2 * GIB  # resident memory of a warm worker's browser above which it restarts


def tree_rss(pid: int | None) -> int:
    """Resident bytes of process `pid` and all its descendants (Linux /proc; 0 elsewhere)."""
    if not pid:
        return 0
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        child, parent = int(name), int(fields[1])
        children.setdefault(parent, []).append(child)
        rss[child] = int(fields[21]) * page
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


class WarmBrowser:
    """A worker's browser and its composition page, kept between the chunks of one plan (a warm
    worker): a chunk after the first pays no browser boot and no page load. Only a page whose frames
    are a pure function of the frame time is reused (``ChunkTable.page_pure``: the seam audit found no
    history in it); its next chunk starts like a cold one, with the warm-up frame before its first.
    The browser restarts after `recycle_after` chunks or when its processes hold more than
    `memory_ceiling` bytes, and after any failed chunk."""

    def __init__(self, recycle_after: int = DEFAULT_RECYCLE_AFTER,
                 memory_ceiling: int = DEFAULT_MEMORY_CEILING) -> None:
        self.recycle_after = max(1, recycle_after)
        self.memory_ceiling = memory_ceiling
        self.session: CaptureSession | None = None
        self.key: tuple[Any, ...] | None = None
        self.chunks = 0  # chunks rendered by the current session
        self.rendered: set[int] = set()  # their indices
        self.folder: Path | None = None
        self._driver = DriverHold()

    async def prepare(self) -> None:
        """Start Playwright's driver before the first chunk (a Node process, ~0.5 s of a core): a warm
        worker does it while it waits, so that it overlaps the job's planning. A failure here is left
        to the first chunk's browser start to report."""
        try:
            await self._driver.take()
        except Exception:  # noqa: BLE001 - reported by the chunk that needs the driver
            log.debug("the Playwright driver did not start ahead of the first chunk", exc_info=True)

    async def end(self) -> None:
        """The worker's end: close the session and stop the driver."""
        try:
            await self.close()
        finally:
            await self._driver.release()

    async def session_for(self, key: tuple[Any, ...], folder: Path, index: int,
                          opener: Callable[[Path], Any]) -> tuple[CaptureSession, int]:
        """The warm session for `key`, or a new one opened in `folder` (the old one closed);
        returns it and the chunk's place in it (1 = new). A chunk this session rendered before (a
        retry) gets a new browser: a second attempt must be independent of the first, or a page
        that draws differently at each load (NONDETERMINISTIC_OUTPUT) would go unnoticed."""
        if self.session is not None and (self.key != key or self.folder != folder or index in self.rendered):
            await self.close()
        if self.session is None:
            folder.mkdir(parents=True, exist_ok=True)
            claim(folder)  # a sweep removes it once this worker is gone (a killed one cannot)
            self.folder = folder
            try:
                self.session = await opener(folder)
            except BaseException:
                await self.close()
                raise
            self.key, self.chunks = key, 0
        else:
            self.session.next_chunk()
        self.chunks += 1
        self.rendered.add(index)
        return self.session, self.chunks

    async def chunk_done(self) -> None:
        """After a chunk that succeeded: keep the session, unless it reached a limit."""
        session = self.session
        if session is None:
            return
        if self.chunks >= self.recycle_after or tree_rss(session.browser_pid) > self.memory_ceiling:
            await self.close()

    async def close(self) -> None:
        session, folder = self.session, self.folder
        self.session, self.key, self.folder, self.chunks = None, None, None, 0
        self.rendered = set()
        try:
            if session is not None:
                await session.close()
        finally:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)


def _ms(since: float) -> float:
    return round((time.monotonic() - since) * 1000.0, 1)


@contextlib.contextmanager
def applied_runtime_env(snapshot: dict[str, str]) -> Iterator[None]:
    """Apply the plan's runtime env snapshot and restore the process environment exactly (9.4)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(RUNTIME_ENV_PREFIXES)}
    try:
        for key in saved:
            if key not in snapshot:
                del os.environ[key]
        for key, value in snapshot.items():
            if key.startswith(RUNTIME_ENV_PREFIXES):
                os.environ[key] = value
        yield
    finally:
        for key in [k for k in os.environ if k.startswith(RUNTIME_ENV_PREFIXES)]:
            if key not in saved:
                del os.environ[key]
        for key, value in saved.items():
            os.environ[key] = value


def _check_out(out: Path, plan_dir: Path) -> None:
    try:
        inside = out.resolve().is_relative_to(plan_dir.resolve())
    except OSError:
        inside = False
    if inside:
        raise HyperdeskError("OUTPUT_NOT_WRITABLE", f"the chunk output {out} lies inside the plan directory",
                             details={"path": str(out)})
    check_writable_parent(out, "the chunk output")


def validate_chunk(plan_dir: Path, index: int, *, worker_env: WorkerEnv | None = None,
                   faults: FaultPlan | None = None) -> LoadedPlan:
    """Validation steps 1-9 of plan-contract 9.2, in order, before any browser starts; without
    *worker_env* this machine's is checked (as *faults* may change what it reports)."""
    loaded = load_plan(plan_dir)  # steps 1, 2, 4
    chunks = loaded.chunks.chunks
    if not (0 <= index < len(chunks)) or chunks[index].end_frame <= chunks[index].start_frame:
        raise HyperdeskError("CHUNK_INDEX_OUT_OF_RANGE",
                             f"chunk index {index} is outside 0..{len(chunks) - 1}",
                             details={"index": index, "chunk_count": len(chunks)})
    own = worker_env if worker_env is not None else local_worker_env(faults=faults)
    check_worker_env(loaded, own)  # steps 5-7
    if loaded.encoder.browser_gpu_mode != "software":
        raise HyperdeskError("BROWSER_GPU_NOT_SOFTWARE",
                             f"the plan asks for browser_gpu_mode {loaded.encoder.browser_gpu_mode!r}; "
                             "only 'software' renders",
                             retryable=False, details={"browser_gpu_mode": loaded.encoder.browser_gpu_mode})
    snapshot = loaded.encoder.runtime_env
    if not isinstance(snapshot, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in snapshot.items()):
        raise HyperdeskError("MISSING_RUNTIME_ENV_SNAPSHOT", "the plan has no runtime env snapshot",
                             details={"runtime_env": snapshot})
    return loaded


def render_chunk(plan_dir: Path | str, index: int, out: Path | str, *, attempt_id: str | None = None,
                 progress: Progress | None = None, worker_env: WorkerEnv | None = None,
                 browser: str | None = None, mode: RequestedMode = "auto",
                 faults: FaultPlan | None = None) -> ChunkResult:
    """Render frames [start, end) of chunk `index` into `out`; see plan-contract.md 9.

    `faults` (tests only) may change the versions this machine reports, the WebGL renderer the
    software-GL check reads and the readiness limit; never pixels."""
    try:
        return run_coroutine(render_chunk_async(plan_dir, index, out, attempt_id=attempt_id, progress=progress,
                                                worker_env=worker_env, browser=browser, mode=mode, faults=faults))
    except KeyboardInterrupt:
        raise HyperdeskError("CANCELLED", f"chunk {index} was cancelled") from None


async def render_chunk_async(plan_dir: Path | str, index: int, out: Path | str, *, attempt_id: str | None = None,
                             progress: Progress | None = None, worker_env: WorkerEnv | None = None,
                             browser: str | None = None, mode: RequestedMode = "auto",
                             faults: FaultPlan | None = None, warm: WarmBrowser | None = None) -> ChunkResult:
    """render_chunk() inside a running loop; with `warm`, the browser and page of the worker's
    previous chunk of the same plan are reused (and kept for its next one)."""
    t_total = time.monotonic()
    plan_dir = Path(plan_dir).absolute()
    out = Path(out).absolute()
    loaded = validate_chunk(plan_dir, index, worker_env=worker_env, faults=faults)
    verify_ms = _ms(t_total)
    _check_out(out, plan_dir)
    attempt_id = attempt_id or f"{os.getpid()}-{secrets.token_hex(4)}"
    snapshot = loaded.encoder.runtime_env
    assert isinstance(snapshot, dict), "validate_chunk checked the snapshot"
    with applied_runtime_env(snapshot):
        work = out.parent / f"{out.name}.work.{attempt_id}"
        try:
            work.mkdir(parents=True)
            claim(work)  # a sweep removes it once this process is gone (a killed worker cannot)
        except OSError as exc:
            raise HyperdeskError("OUTPUT_NOT_WRITABLE", f"cannot create the work dir {work}: {exc}",
                                 details={"path": str(work)}) from None
        try:
            result = await _render(loaded, index, out, work, attempt_id, progress, browser, mode,
                                   t_total, verify_ms, worker_env, faults, warm)
        except HyperdeskError as exc:
            if exc.code == "DISK_FULL":  # nothing to diagnose: free the space the attempt took
                shutil.rmtree(work, ignore_errors=True)
            elif warm is not None:
                exc.details["work_dir"] = str(work)  # not the warm browser's folder, which goes with it
            else:
                exc.details.setdefault("work_dir", str(work))
            raise
        except asyncio.CancelledError:
            # A cancelled attempt has nothing to inspect: its work dir (Chromium profile included) goes now.
            shutil.rmtree(work, ignore_errors=True)
            raise HyperdeskError("CANCELLED", f"chunk {index} was cancelled") from None
        except Exception as exc:  # an unexpected failure is still a typed one, with the work dir kept
            unexpected = unexpected_error(exc, work.parent)
            if unexpected.code == "DISK_FULL":  # nothing to diagnose: free the space the attempt took
                shutil.rmtree(work, ignore_errors=True)
            else:
                unexpected.details["work_dir"] = str(work)
            raise unexpected from exc
        shutil.rmtree(work, ignore_errors=True)
        return result


async def _render(loaded: LoadedPlan, index: int, out: Path, work: Path, attempt_id: str,
                  progress: Progress | None, browser: str | None, mode: RequestedMode, t_total: float,
                  verify_ms: float, worker_env: WorkerEnv | None, faults: FaultPlan | None,
                  warm: WarmBrowser | None = None) -> ChunkResult:
    cfg = loaded.encoder
    plan_dir = loaded.plan_dir
    sl = loaded.chunks.chunks[index]
    n = sl.end_frame - sl.start_frame
    ext = "jpg" if cfg.capture_format == "jpeg" else "png"
    captured = work / "captured"
    captured.mkdir()
    (work / "logs").mkdir()
    frame_dir_output = cfg.format == "png-sequence"
    info = find_browser(browser)
    spec = PageSpec(
        compiled_dir=plan_dir / "compiled", fonts_dir=plan_dir / "fonts", plan_dir=plan_dir,
        width=cfg.width, height=cfg.height, fps=cfg.fps, variables=dict(cfg.variables),
        capture_format=cfg.capture_format, jpeg_quality=cfg.jpeg_quality, png_fast=cfg.png_fast,
        transparent=cfg.transparent_background, videos=list(loaded.videos.videos),
    )
    # A test may shorten the 45 s readiness limit (for pages that never get ready).
    timeouts = page_timeouts(plan_dir / "compiled", faults.ready_timeout_s if faults else None)
    preroll_from = loaded.chunks.preroll_from
    if warm is not None and not loaded.chunks.page_pure:
        # Only a page the seam audit found pure is reused; one with history (or never audited: pre-roll
        # forced on or off) would draw a chunk after another differently than on its own page.
        await warm.close()
        warm = None
    session_chunk = 1
    if warm is None:
        session = await CaptureSession.open(spec, work, browser=info, mode=mode, timeouts=timeouts, faults=faults)
    else:
        key = (str(plan_dir), loaded.manifest.plan_hash, info.path, mode, timeouts, faults)
        session, session_chunk = await warm.session_for(
            key, out.parent / f"browser.work.{os.getpid()}", index,
            lambda folder: CaptureSession.open(spec, folder, browser=info, mode=mode, timeouts=timeouts,
                                               faults=faults))
    ok = False
    encoder = None
    frame_hashes: list[str] = []
    frame_ms: list[float] = []
    capture_ms = 0.0
    preroll = range(preroll_from, sl.start_frame - 1) if preroll_from is not None else range(0)
    preroll_ms = 0.0
    try:
        if preroll:
            # Before the encoder starts: ffmpeg waiting on an idle pipe would only hold memory.
            t_preroll = time.monotonic()
            await session.preroll(preroll.start, preroll.stop)
            preroll_ms = _ms(t_preroll)
        if not frame_dir_output:
            encoder = StreamingEncoder(cfg, work / "output.partial", work / "logs" / "ffmpeg.log")
            await encoder.start()
        t_capture = time.monotonic()
        for j in range(n):
            t_frame = time.monotonic()
            data = await session.capture(sl.start_frame + j)
            frame_ms.append((time.monotonic() - t_frame) * 1000.0)
            (captured / f"frame_{j:06d}.{ext}").write_bytes(data)
            frame_hashes.append(sha256_bytes(data))
            if encoder is not None:
                await encoder.write(data)
            if progress is not None:
                progress(j + 1, n)
        capture_ms = _ms(t_capture)
        t_tail = time.monotonic()
        if encoder is not None:
            # The encoder still holds its lookahead and whatever it fell behind by (about 1.2 s
            # at 720p on 2 cores): a cold browser shuts down meanwhile instead of after it.
            closing = asyncio.ensure_future(session.close() if warm is None else asyncio.sleep(0))
            try:
                await encoder.finish()
                encoder = None
            finally:
                await closing
        encode_tail_ms = _ms(t_tail)
        ok = True
    except BaseException:
        if encoder is not None:
            with contextlib.suppress(Exception):
                await encoder.abort()
        raise
    finally:
        timings_session = dict(session.timings) if session_chunk == 1 else {}
        warnings = [ResultWarning(**w) for w in session.warnings]
        capture_mode, browser_kind = session.capture_mode, session.browser_kind
        browser_version = session.browser_version
        if warm is None:
            await session.close()
        elif ok:
            await warm.chunk_done()
        else:
            # A failed chunk's page is never reused; the browser's logs stay with the attempt for the inspector.
            with contextlib.suppress(OSError):
                for entry in (session.work_dir / "logs").iterdir():
                    if entry.is_file():
                        shutil.copyfile(entry, work / "logs" / entry.name)
            await warm.close()

    if frame_dir_output:
        os.rename(captured, out)
        digest, per_file = frame_dir_hash(out)
        for j, h in enumerate(frame_hashes):
            if per_file.get(f"frame_{j:06d}.png") != h:
                shutil.rmtree(out, ignore_errors=True)
                raise HyperdeskError("OUTPUT_HASH_MISMATCH", f"frame {j} changed on disk after capture",
                                     details={"frame": j})
        size = sum((out / name).stat().st_size for name in per_file)
        kind: Literal["file", "frame-dir"] = "frame-dir"
    else:
        partial = work / "output.partial"
        packets = pinned_packet_count(partial)
        if packets != n:
            raise HyperdeskError("ENCODE_FAILED", f"the encoded chunk has {packets} packets, expected {n}",
                                 details={"packets": packets, "expected": n})
        digest = sha256_file(partial)
        size = partial.stat().st_size
        os.replace(partial, out)
        kind = "file"

    env = worker_env or loaded.manifest.worker_env
    perf_path = out.parent / f"{out.name}.perf.json"
    result = ChunkResult(
        plan_hash=loaded.manifest.plan_hash, chunk_index=index, start_frame=sl.start_frame, end_frame=sl.end_frame,
        attempt_id=attempt_id, output_path=str(out), output_kind=kind, sha256=digest, size_bytes=size,
        frames_encoded=n, frame_sha256=frame_hashes, capture_mode=capture_mode, browser_kind=browser_kind,
        timings=ChunkTimings(
            total_ms=_ms(t_total), verify_ms=verify_ms,
            browser_boot_ms=float(timings_session.get("browser_boot_ms", 0.0)),
            page_ready_ms=float(timings_session.get("page_ready_ms", 0.0)),
            capture_ms=capture_ms, encode_ms=capture_ms + encode_tail_ms if not frame_dir_output else 0.0,
            encode_tail_ms=encode_tail_ms,
        ),
        worker=WorkerInfo(host=socket.gethostname(), hyperdesk_version=__version__,
                          browser_version=browser_version or env.browser_version, ffmpeg_identity=env.ffmpeg_identity),
        warnings=warnings, perf_path=str(perf_path), session_chunk=session_chunk,
    )
    _write_perf(perf_path, result, frame_ms, len(preroll), preroll_ms)
    return result


def _write_perf(path: Path, result: ChunkResult, frame_ms: list[float], preroll_frames: int,
                preroll_ms: float) -> None:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    ordered = sorted(frame_ms) or [0.0]

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * (len(ordered) - 1) + 0.5))], 2)

    data: dict[str, Any] = {
        "plan_hash": result.plan_hash, "chunk_index": result.chunk_index, "attempt_id": result.attempt_id,
        "start_frame": result.start_frame, "end_frame": result.end_frame,
        "timings": result.timings.model_dump(),
        "frame_capture_ms": {"p50": round(statistics.median(ordered), 2), "p95": pct(0.95),
                             "max": round(ordered[-1], 2)},
        "preroll": {"frames": preroll_frames, "ms": preroll_ms},
        "children_cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "children_peak_rss_kib": usage.ru_maxrss,
        "cpu_count": os.cpu_count(), "load_average": list(os.getloadavg()),
    }
    path.write_bytes(pretty_json(data))

