"""Plan-time media work with the pinned ffmpeg: video frame extraction (composition contract 11.1).

The audio functions (11.2 mix, 10.2 fit) live in `hyperdesk.encode.audio` and are re-exported here.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

from hyperdesk.encode.assembly import concat_mux  # noqa: F401 (re-export, docs/internals.md)
from hyperdesk.encode.audio import AudioTrack, fit_audio, mix_audio, prepare_audio_track  # noqa: F401 (re-export)
from hyperdesk.encode.ffmpeg import fmt_time, run_ffmpeg
from hyperdesk.errors import HyperdeskError
from hyperdesk.models import Fps

__all__ = ["extract_video_frames", "extraction_args", "tonemap_filter", "concat_mux", "AudioTrack", "fit_audio",
           "mix_audio", "prepare_audio_track"]

VPX_DECODERS = {"vp8": "libvpx", "vp9": "libvpx-vp9"}
HDR_TRANSFERS = ("smpte2084", "arib-std-b67")
_FRAME_RE = re.compile(r"^frame_(\d{6})\.(jpg|png)$")


def tonemap_filter(transfer: str) -> str:
    """PQ/HLG BT.2020 → BT.709 SDR (zscale + hable), ending in yuv420p."""
    return (
        f"zscale=tin={transfer}:min=bt2020nc:pin=bt2020:t=linear:npl=100,format=gbrpf32le,"
        "zscale=p=bt709,tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p"
    )


def extraction_args(
    src: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    media_start_s: float,
    window_s: float,
    rate: float,
    fps: Fps,
    frame_format: str,
    is_vfr: bool,
    codec: str | None,
    color_transfer: str | None = None,
) -> list[str]:
    """The ffmpeg arguments of 11.1 (without the executable)."""
    if frame_format not in ("jpg", "png"):
        raise ValueError(f"frame_format must be jpg or png, not {frame_format!r}")
    args: list[str] = ["-ss", fmt_time(max(0.0, media_start_s))]
    dec = VPX_DECODERS.get((codec or "").lower())
    if dec:
        args += ["-c:v", dec]
    args += ["-i", os.fspath(src), "-t", fmt_time(window_s * rate), "-map", "0:v:0", "-an", "-sn", "-dn"]
    F = fps.ffmpeg()
    hdr = color_transfer in HDR_TRANSFERS
    if is_vfr:
        if hdr:
            args += ["-vf", tonemap_filter(color_transfer)]  # type: ignore[arg-type]
        args += ["-fps_mode", "cfr", "-r", F]
    else:
        vf = f"fps={F}"
        if hdr:
            vf += "," + tonemap_filter(color_transfer)  # type: ignore[arg-type]
        args += ["-vf", vf]
    if frame_format == "jpg":
        args += ["-q:v", "2"]
    else:
        args += ["-compression_level", "1"]
    args += ["-start_number", "1", "-y", os.path.join(os.fspath(out_dir), f"frame_%06d.{frame_format}")]
    return args


def extract_video_frames(
    src: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    media_start_s: float,
    window_s: float,
    rate: float,
    fps: Fps,
    frame_format: str,
    is_vfr: bool,
    codec: str | None,
    color_transfer: Any = ...,
    media_id: str | None = None,
    log_path: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
) -> int:
    """Extract a video's frames at the render fps over its window into `out_dir/frame_%06d.<ext>`
    (1-based); returns the frame count. Loop/hold is the planner's lookup rule, not done here.

    `color_transfer` (the probe's) selects HDR tone-mapping; when omitted the source is probed.
    Raises VIDEO_EXTRACTION_FAILED (ffmpeg failed, or produced no frame).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    details = {"media_id": media_id, "src": str(src)}
    if color_transfer is ...:
        from hyperdesk.encode.probe import probe_media

        try:
            color_transfer = probe_media(src).color_transfer
        except HyperdeskError as exc:
            raise HyperdeskError("VIDEO_EXTRACTION_FAILED", f"cannot read video {src}: {exc.message}",
                                 details={**details, **exc.details}) from exc
    if not (window_s > 0 and math.isfinite(window_s)):
        raise HyperdeskError("VIDEO_EXTRACTION_FAILED", f"video {src} has an empty window ({window_s} s)",
                             details={**details, "window_s": window_s})
    for stale in out.iterdir():
        if _FRAME_RE.match(stale.name):
            stale.unlink()
    args = extraction_args(src, out, media_start_s=media_start_s, window_s=window_s, rate=rate, fps=fps,
                           frame_format=frame_format, is_vfr=is_vfr, codec=codec, color_transfer=color_transfer)
    run_ffmpeg(["-loglevel", "error", *args], error_code="VIDEO_EXTRACTION_FAILED", log_path=log_path,
               timeout=timeout, message=f"cannot extract the frames of {src}", details=details,
               capture_stdout=False)
    names = sorted(p.name for p in out.iterdir() if _FRAME_RE.match(p.name))
    count = len(names)
    if count == 0 or names[-1] != f"frame_{count:06d}.{frame_format}":
        raise HyperdeskError("VIDEO_EXTRACTION_FAILED",
                             f"extracting {src} produced {count} frames" + ("" if count == 0 else " with gaps"),
                             details={**details, "frames": count, "media_start_s": media_start_s, "window_s": window_s})
    return count
