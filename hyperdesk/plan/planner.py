"""plan(): compile and freeze everything a render needs into a planDir, then hash it.

plan-contract.md sections 1, 2, 4, 6 and 11. The planDir is built in a sibling
`<planDir>.partial.<pid>.<8 hex>` and renamed into place only after plan.json is written, so a
failed plan leaves nothing behind; one whose process was killed outright is swept by the next plan
in the same folder (its pid no longer runs).
"""
from __future__ import annotations

import datetime as _dt
import logging
import math
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal
from collections.abc import Callable

from hyperdesk.capture.session import CaptureSession, PageSpec, Timeouts
from hyperdesk.composition.compile import CompiledComposition, compile_project
from hyperdesk.composition.project import find_project
from hyperdesk.dirs import asset_cache_dir, pid_alive
from hyperdesk.encode.args import lock_encoder_settings
from hyperdesk.encode.media import extract_video_frames, mix_audio
from hyperdesk.encode.probe import probe_media
from hyperdesk.errors import HyperdeskError, disk_full, is_disk_full
from hyperdesk.faults import FaultPlan
from hyperdesk.plan.aio import run_coroutine
from hyperdesk.plan.chunking import plan_chunks
from hyperdesk.plan.config import RenderConfig, check_variables, runtime_env_snapshot
from hyperdesk.plan.hashing import canonical_json, compute_plan_hash, pretty_json, sha256_file
from hyperdesk.plan.seam_audit import decide_preroll
from hyperdesk.models import (
    AssetTable,
    ChunkPolicy,
    CompositionMeta,
    FontManifest,
    Fps,
    LockedRenderConfig,
    PlanManifest,
    PlanResult,
    PlanWarning,
    VideoEntry,
    VideoSource,
    VideoTable,
    WorkerEnv,
)
from hyperdesk.plan.env import local_worker_env
from hyperdesk.plan.paths import check_writable_parent
from hyperdesk.plan.timelines import page_timeouts, timeline_warnings

log = logging.getLogger("hyperdesk.plan")


def frame_count(duration_s: float, fps: Fps) -> int:
    """Composition contract 9.3."""
    x = duration_s * fps.num / fps.den
    if abs(x - round(x)) <= 1e-3:
        return int(round(x))
    return int(math.ceil(x))


_PARTIAL = re.compile(r"^.+\.partial\.(\d+)\.[0-9a-f]{8}$")


def sweep_partials(parent: Path) -> list[Path]:
    """Remove the `.partial` plan dirs that processes which no longer run left in `parent`."""

    removed: list[Path] = []
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _PARTIAL.match(entry.name)
        if not m or not entry.is_dir() or entry.is_symlink():
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or pid_alive(pid):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    if removed:
        log.info("removed %d stale partial plan dir(s) in %s", len(removed), parent)
    return removed


def check_frame_count(total: int, duration: float, fps: Fps, source: str, max_frames: int) -> None:
    """DURATION_TOO_LONG before any work that grows with the duration (extraction, the audio mix)."""
    if total > max_frames:
        raise HyperdeskError(
            "DURATION_TOO_LONG",
            f"the composition lasts {duration:g} s ({source}), {total} frames at {fps.ffmpeg()} fps: over the cap "
            f"of {max_frames} frames",
            details={"duration_s": duration, "duration_source": source, "frames": total, "max_frames": max_frames,
                     "fps": fps.ffmpeg()})


def _check_target(plan_dir: Path) -> None:
    check_writable_parent(plan_dir, "the plan directory")
    if plan_dir.exists() and (not plan_dir.is_dir() or any(plan_dir.iterdir())):
        raise HyperdeskError("OUTPUT_NOT_WRITABLE", f"plan directory exists and is not empty: {plan_dir}",
                             details={"path": str(plan_dir)})


def _dir_size(root: Path) -> tuple[int, int, dict[str, int], list[tuple[int, str]]]:
    total = 0
    count = 0
    by_top: dict[str, int] = {}
    entries: list[tuple[int, str]] = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = Path(dirpath) / name
            size = full.stat().st_size
            rel = full.relative_to(root).as_posix()
            total += size
            count += 1
            top = rel.split("/", 1)[0]
            by_top[top] = by_top.get(top, 0) + size
            entries.append((size, rel))
    entries.sort(reverse=True)
    return total, count, by_top, entries[:10]


def _check_size(root: Path, limit: int) -> None:
    total, _count, by_top, largest = _dir_size(root)
    if total > limit:
        raise HyperdeskError(
            "PLAN_TOO_LARGE",
            f"the plan would be {total} bytes, over the cap of {limit} bytes",
            details={"size_bytes": total, "limit_bytes": limit, "by_directory": by_top,
                     "largest": [{"path": p, "size": s} for s, p in largest]},
        )


def _write_json(path: Path, model: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = model.model_dump(mode="json") if hasattr(model, "model_dump") else model
    path.write_bytes(pretty_json(data))


def lock_config(config: RenderConfig, *, width: int, height: int, fps: Fps) -> LockedRenderConfig:
    settings = lock_encoder_settings(
        config.format, config.quality, fps, width, height,
        crf=config.crf, bitrate=config.bitrate,
        keyframe_interval=config.keyframe_interval, encoder_threads=config.encoder_threads,
    )
    settings = dict(settings)
    settings.update(
        include_audio=config.include_audio,
        variables=dict(config.variables),
        runtime_env=runtime_env_snapshot(),
    )
    return LockedRenderConfig(**settings)


async def probe_duration(compiled_dir: Path, fonts_dir: Path, plan_root: Path, width: int, height: int,
                         fps: Fps, variables: dict) -> tuple[float, list[PlanWarning]]:
    """Load the compiled page once and read __hf.duration (composition contract 10.2)."""
    spec = PageSpec(compiled_dir=compiled_dir, fonts_dir=fonts_dir, plan_dir=plan_root, width=width, height=height,
                    fps=fps, variables=variables, capture_format="jpeg", jpeg_quality=95, png_fast=True,
                    transparent=False, videos=[])
    log.info("probing the composition duration in a browser page")
    with tempfile.TemporaryDirectory(prefix="hyperdesk-probe-") as work:
        session = await CaptureSession.open(spec, Path(work), mode="screenshot", timeouts=page_timeouts(compiled_dir))
        try:
            duration = float(await session.duration())
            warnings = [PlanWarning(code=w.code, message=w.message, url=getattr(w, "url", None))
                        for w in session.warnings]
        finally:
            await session.close()
    return duration, warnings


def _extract_videos(compiled: CompiledComposition, partial: Path, fps: Fps, duration_s: float, total_frames: int,
                    prober: Callable, png_frames: bool) -> list[VideoEntry]:
    entries: list[VideoEntry] = []
    comp_end = total_frames * fps.den / fps.num
    for video in compiled.videos or []:
        media_id = video.media_id
        src_rel = video.src
        src = partial / "compiled" / src_rel
        probe = prober(src)
        start = float(video.start_s or 0.0)
        media_start = float(video.media_start_s or 0.0)
        rate = min(5.0, max(0.1, float(video.playback_rate or 1.0)))
        loop = bool(video.loop)
        natural_end = start + max(0.0, (probe.duration_s - media_start) / rate)
        end = video.end_s
        end = float(end) if end is not None else (comp_end if loop else natural_end)
        end = min(end, comp_end)
        # Extract the source once over what the window can show; a looping or held video reuses it.
        window = max(0.0, min(end, natural_end) - start)
        codec = (probe.codec or "").lower()
        alpha_codec = codec in ("vp8", "vp9", "prores", "png", "qtrle")  # codecs that can carry alpha (11.1)
        frame_format: Literal["jpg", "png"] = "png" if (png_frames or alpha_codec) else "jpg"
        frames_dir = f"video-frames/{media_id}"
        out_dir = partial / frames_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        count = 0
        if window > 0:
            count = extract_video_frames(
                src, out_dir, media_start_s=media_start, window_s=window, rate=rate, fps=fps,
                frame_format=frame_format, is_vfr=bool(getattr(probe, "is_vfr", False)), codec=codec,
                color_transfer=getattr(probe, "color_transfer", None), media_id=media_id,
                color_space=getattr(probe, "color_space", None),
                width=int(getattr(probe, "width", 0) or 0) or None,
                height=int(getattr(probe, "height", 0) or 0) or None,
            )
        entries.append(VideoEntry(
            media_id=media_id, src=src_rel, start_s=start, end_s=end, media_start_s=media_start,
            playback_rate=rate, loop=loop, has_audio=bool(video.has_audio),
            frames_dir=frames_dir, frame_format=frame_format, frame_count=count, extraction_fps=fps,
            source=VideoSource(
                sha256=sha256_file(src), duration_s=float(probe.duration_s), width=int(probe.width or 0),
                height=int(probe.height or 0), codec=codec, is_vfr=bool(getattr(probe, "is_vfr", False)),
                has_alpha=bool(getattr(probe, "has_alpha", False)),
                color_transfer=getattr(probe, "color_transfer", None),
            ),
        ))
    return entries


def _mix_audio(compiled: CompiledComposition, partial: Path, fps: Fps, total_frames: int) -> bool:
    comp_end = total_frames * fps.den / fps.num
    tracks = []
    for track in compiled.audio_tracks or []:
        start = float(track.start_s or 0.0)
        if start >= comp_end:
            continue
        src = partial / "compiled" / track.src
        tracks.append({
            "src": src,
            "start_s": start,
            "end_s": track.end_s,
            "media_start_s": float(track.media_start_s or 0.0),
            "playback_rate": float(track.playback_rate or 1.0),
            "volume": float(track.volume if track.volume is not None else 1.0),
        })
    work = partial / ".audio-work"
    work.mkdir(exist_ok=True)
    try:
        # No audio at all: no silent track here (hours of it at the frame cap); assembly makes it.
        mixed = mix_audio(tracks, total_frames, fps, partial / "audio.m4a", work, silence_when_empty=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # Sources without an audio stream are skipped by the mixer: count what it really mixed.
    return bool(mixed.get("tracks")) if isinstance(mixed, dict) else bool(tracks)


def plan(composition: Path | str, config: RenderConfig, plan_dir: Path | str, *,
         worker_env: WorkerEnv | None = None, exclude: tuple[Path, ...] = (),
         faults: FaultPlan | None = None) -> PlanResult:
    """Compile, freeze and hash a composition into plan_dir (plan-contract.md 1-6, 11).

    ``faults`` (tests only): ``loopback_only`` keeps the asset resolver's downloads on this machine."""
    plan_dir = Path(plan_dir).absolute()
    project = find_project(composition, config.entry if config.entry != "index.html" else None)
    project_dir, entry = project.root, project.entry
    limits = config.project_limits()
    _check_target(plan_dir)
    requested_fps = config.parsed_fps()
    if config.format not in ("mp4", "mov", "webm", "png-sequence"):
        raise HyperdeskError("FORMAT_NOT_SUPPORTED_IN_DISTRIBUTED", f"format {config.format!r} is not supported",
                             details={"format": config.format, "reason": "not one of mp4, mov, webm, png-sequence"})
    check_variables(config.variables)
    if config.max_frames < 1:
        raise HyperdeskError("INVALID_RENDER_CONFIG", f"the frame cap must be at least 1, got {config.max_frames}",
                             details={"field": "max_frames", "value": config.max_frames})
    env = worker_env or _local_env()
    sweep_partials(plan_dir.parent)
    partial = plan_dir.parent / f"{plan_dir.name}.partial.{os.getpid()}.{secrets.token_hex(4)}"
    partial.mkdir()
    try:
        compiled_dir = partial / "compiled"
        fonts_dir = partial / "fonts"
        fonts_dir.mkdir()
        (partial / "video-frames").mkdir()
        compiled = compile_project(
            project_dir, entry, compiled_dir, fonts_dir,
            variables=dict(config.variables),
            asset_dirs=[Path(d) for d in config.asset_dirs],
            cache_dir=asset_cache_dir(),
            fps=requested_fps,
            exclude=tuple(exclude) + (plan_dir, partial),
            allow_outside=[Path(d) for d in config.allow_outside],
            loopback_only=faults is not None and faults.loopback_only,
            whole=project.whole, include=config.include, limits=limits,
            allow_missing_assets=config.allow_missing_assets,
        )
        fps = requested_fps or compiled.fps_attr or Fps(num=30, den=1)
        width, height = int(compiled.width), int(compiled.height)
        warnings: list[PlanWarning] = list(compiled.warnings or [])
        warnings += timeline_warnings(compiled_dir, compiled.composition_id, Timeouts().page_timeline_wait_s())
        duration = compiled.duration_s
        source: Literal["attribute", "probe"] = "attribute"
        if duration is None:
            source = "probe"
            duration, probe_warnings = run_coroutine(
                probe_duration(compiled_dir, fonts_dir, partial, width, height, fps, dict(config.variables)))
            warnings.extend(probe_warnings)
        if isinstance(duration, (int, float)) and duration == math.inf:
            raise HyperdeskError("DURATION_TOO_LONG", f"the composition's duration is infinite ({source})",
                                 hint="An endlessly repeating timeline needs data-duration on the root (seconds).",
                                 details={"duration_source": source, "value": "inf", "max_frames": config.max_frames})
        if not (isinstance(duration, (int, float)) and math.isfinite(duration) and duration > 0):
            raise HyperdeskError("DURATION_ZERO", f"the composition's duration is {duration!r} ({source})",
                                 details={"duration_source": source, "value": duration})
        total = frame_count(float(duration), fps)
        if total < 1:
            raise HyperdeskError("DURATION_ZERO", f"a duration of {duration} s gives 0 frames at {fps.ffmpeg()} fps",
                                 details={"duration_source": source, "value": duration})
        check_frame_count(total, float(duration), fps, source, config.max_frames)
        locked = lock_config(config, width=width, height=height, fps=fps)

        videos = _extract_videos(compiled, partial, fps, float(duration), total, probe_media,
                                 png_frames=locked.capture_format == "png")
        _check_size(partial, config.max_plan_bytes)
        has_audio = False
        if locked.include_audio:
            has_audio = _mix_audio(compiled, partial, fps, total)

        table = plan_chunks(total, locked.keyframe_interval, ChunkPolicy(
            explicit_chunk_frames=config.chunk_frames, target_chunk_frames=config.target_chunk_frames,
            max_chunk_frames=config.max_chunk_frames, max_chunks=config.max_chunks))
        audit_spec = PageSpec(
            compiled_dir=compiled_dir, fonts_dir=fonts_dir, plan_dir=partial, width=width, height=height, fps=fps,
            variables=dict(config.variables), capture_format=locked.capture_format,
            jpeg_quality=locked.jpeg_quality, png_fast=locked.png_fast,
            transparent=locked.transparent_background, videos=videos)
        ready_s = faults.ready_timeout_s if faults and faults.ready_timeout_s else None
        table, preroll_warnings = run_coroutine(decide_preroll(
            config.preroll, table, audit_spec, timeouts=page_timeouts(compiled_dir, ready_s), faults=faults))
        warnings.extend(preroll_warnings)

        media = compiled.media
        meta = CompositionMeta(
            composition_id=compiled.composition_id, entry=entry, width=width, height=height, fps=fps,
            duration_s=float(duration), duration_source=source, total_frames=total,
            root_timeline=bool(compiled.root_timeline),
            sub_compositions=list(compiled.sub_compositions or []),
            media=media if media is not None else {},
            variables=list(compiled.variables or []),
            fonts=list(compiled.fonts or []),
        )
        _write_json(partial / "meta" / "composition.json", meta)
        encoder_bytes = canonical_json(locked.model_dump(mode="json"))
        (partial / "meta" / "encoder.json").write_bytes(encoder_bytes)
        _write_json(partial / "meta" / "chunks.json", table)
        _write_json(partial / "meta" / "videos.json", VideoTable(videos=videos))
        _write_json(partial / "meta" / "assets.json", AssetTable(assets=list(compiled.assets or [])))
        _write_json(partial / "meta" / "sources.json", compiled.sources)
        if not (fonts_dir / "manifest.json").exists():
            _write_json(fonts_dir / "manifest.json", compiled.font_manifest or FontManifest())
        _check_size(partial, config.max_plan_bytes)

        env_dict = env.model_dump(mode="json")
        plan_hash, hashes = compute_plan_hash(partial, encoder_bytes, env_dict)
        size_bytes = sum((partial / rel).stat().st_size for rel in hashes)
        manifest = PlanManifest(
            plan_hash=plan_hash, worker_env=env, composition_id=meta.composition_id, width=width, height=height,
            fps=fps, format=locked.format, codec=locked.codec, total_frames=total, duration_s=float(duration),
            chunk_count=len(table.chunks), has_audio=has_audio, audio_included=locked.include_audio,
            size_bytes=size_bytes, file_count=len(hashes),
            created_at=_dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            warnings=warnings, project_dir=str(project_dir), project_scope=compiled.sources.scope,
            project_files=compiled.sources.files, project_bytes=compiled.sources.bytes,
            missing_assets=sorted({w.url for w in warnings if w.code == "ASSET_MISSING" and w.url}),
        )
        _write_json(partial / "plan.json", manifest)
        if plan_dir.exists():
            plan_dir.rmdir()  # empty (checked above)
        os.rename(partial, plan_dir)
    except HyperdeskError:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if is_disk_full(exc):
            raise disk_full(plan_dir.parent, what="planning", cause=exc) from exc
        raise
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return PlanResult(plan_dir=str(plan_dir), plan_hash=plan_hash, manifest=manifest)


def _local_env() -> WorkerEnv:
    return local_worker_env()
