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
from hyperdesk.encode import probe
from hyperdesk.encode.ffmpeg import fmt_time, run_ffmpeg
from hyperdesk.errors import HyperdeskError
from hyperdesk.models import Fps

__all__ = ["extract_video_frames", "extraction_args", "tonemap_filter", "source_color_matrix", "colour_filter",
           "concat_mux", "AudioTrack", "fit_audio", "mix_audio", "prepare_audio_track"]

VPX_DECODERS = {"vp8": "libvpx", "vp9": "libvpx-vp9"}
HDR_TRANSFERS = ("smpte2084", "arib-std-b67")
_FRAME_RE = re.compile(r"^frame_(\d{6})\.(jpg|png)$")


def tonemap_filter(transfer: str) -> str:
    """PQ/HLG BT.2020 → BT.709 SDR (zscale + hable), ending in yuv420p."""
    return (
        f"zscale=tin={transfer}:min=bt2020nc:pin=bt2020:t=linear:npl=100,format=gbrpf32le,"
        "zscale=p=bt709,tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p"
    )


# A stream's colour-space tag (ffprobe `color_space`) -> the scale filter's colour matrix name.
_SCALE_MATRIX = {
    "bt709": "bt709",
    "smpte170m": "bt601",
    "bt470bg": "bt601",
    "fcc": "fcc",
    "smpte240m": "smpte240m",
    "bt2020nc": "bt2020",
    "bt2020c": "bt2020",
}


def source_color_matrix(color_space: str | None, width: int | None, height: int | None) -> str | None:
    """The YCbCr matrix to decode a source with (a scale-filter name), or None for RGB-coded
    sources (`gbr`), which have none.

    A tagged source uses its tag. An untagged one (or one tagged with a matrix the scale filter
    does not know) is BT.709 when it is HD (height >= 720 or width >= 1280) and BT.601 otherwise,
    the guess players make; ffmpeg's own default is BT.601 whatever the size.
    """
    cs = (color_space or "").strip().lower()
    if cs in _SCALE_MATRIX:
        return _SCALE_MATRIX[cs]
    if cs == "gbr":
        return None
    return "bt709" if (int(height or 0) >= 720 or int(width or 0) >= 1280) else "bt601"


# A scale-filter matrix name -> zscale's.
_ZSCALE_MATRIX = {"bt709": "709", "bt601": "170m", "fcc": "fcc", "smpte240m": "240m", "bt2020": "2020_ncl"}


def colour_filter(color_matrix: str, frame_format: str) -> str:
    """The filter that decodes a source with `color_matrix` into the RGB the page must show.

    PNG frames hold that RGB. JPEG frames are JFIF, which every decoder (Chromium included) reads as
    full-range BT.601 YCbCr, so the source is recoded to that. zscale computes in floating point:
    swscale's RGB was up to 3 levels off (2.4 in a red through a JPEG), and exact only with flags
    that made extraction three times slower. The range comes from the frame (limited unless tagged)."""
    m = _ZSCALE_MATRIX.get(color_matrix, color_matrix)
    if frame_format == "jpg":
        return f"zscale=min={m}:m=470bg:r=full,format=yuvj420p"
    # zscale writes planar RGB only; the PNG encoder's packed RGB(A) is a lossless repack of it.
    return f"zscale=min={m},format=gbrp|gbrap"


# The page must show a frame's RGB values as they are, like the browser shows an untagged video
# frame. ffmpeg writes a source's primaries/transfer tags into a PNG (cICP, cHRM, gAMA) and an ICC
# profile into a PNG (iCCP) or JPEG (APP2); Chromium would then colour-manage the frame (a BT.709
# transfer tag became a gamma 2.4 curve: G 0x17 -> 0x0a). So every tag is cleared and every ICC
# profile dropped after the conversion.
UNTAG_FILTER = ("setparams=color_primaries=unknown:color_trc=unknown:colorspace=unknown,"
                "sidedata=mode=delete:type=ICC_PROFILE")


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
    color_matrix: str | None = None,
) -> list[str]:
    """The ffmpeg arguments of 11.1 (without the executable).

    `color_matrix` (see `source_color_matrix`) adds the colour conversion; HDR sources are
    tone-mapped to BT.709 first, so they always convert from BT.709."""
    if frame_format not in ("jpg", "png"):
        raise ValueError(f"frame_format must be jpg or png, not {frame_format!r}")
    args: list[str] = ["-ss", fmt_time(max(0.0, media_start_s))]
    dec = VPX_DECODERS.get((codec or "").lower())
    if dec:
        args += ["-c:v", dec]
    args += ["-i", os.fspath(src), "-t", fmt_time(window_s * rate), "-map", "0:v:0", "-an", "-sn", "-dn"]
    F = fps.ffmpeg()
    hdr = color_transfer in HDR_TRANSFERS
    filters: list[str] = [] if is_vfr else [f"fps={F}"]
    if hdr:
        filters.append(tonemap_filter(color_transfer))  # type: ignore[arg-type]
        color_matrix = "bt709"
    if color_matrix:
        filters.append(colour_filter(color_matrix, frame_format))
    filters.append(UNTAG_FILTER)
    args += ["-vf", ",".join(filters)]
    if is_vfr:
        args += ["-fps_mode", "cfr", "-r", F]
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
    color_space: Any = ...,
    width: int | None = None,
    height: int | None = None,
    media_id: str | None = None,
    log_path: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
) -> int:
    """Extract a video's frames at the render fps over its window into `out_dir/frame_%06d.<ext>`
    (1-based); returns the frame count. Loop/hold is the planner's lookup rule, not done here.

    `color_transfer` (the probe's) selects HDR tone-mapping, `color_space` (the probe's matrix
    tag, None when untagged) the YCbCr matrix the frames are decoded with (`source_color_matrix`;
    an untagged source is guessed from its size: `width`/`height`, read from the file when not
    given); when either is omitted the source is probed.
    Raises VIDEO_EXTRACTION_FAILED (ffmpeg failed, or produced no frame).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    details = {"media_id": media_id, "src": str(src)}
    try:
        if color_transfer is ... or color_space is ...:
            pr = probe.probe_media(src)
            if color_transfer is ...:
                color_transfer = pr.color_transfer
            if color_space is ...:
                color_space = pr.color_space
            width, height = width or pr.width, height or pr.height
        matrix_known = str(color_space or "").strip().lower() in (*_SCALE_MATRIX, "gbr")
        if not matrix_known and not (width and height):
            width, height = _video_size(src)
    except HyperdeskError as exc:
        raise HyperdeskError("VIDEO_EXTRACTION_FAILED", f"cannot read video {src}: {exc.message}",
                             details={**details, **exc.details}) from exc
    color_matrix = source_color_matrix(color_space, width, height)
    if not (window_s > 0 and math.isfinite(window_s)):
        raise HyperdeskError("VIDEO_EXTRACTION_FAILED", f"video {src} has an empty window ({window_s} s)",
                             details={**details, "window_s": window_s})
    for stale in out.iterdir():
        if _FRAME_RE.match(stale.name):
            stale.unlink()
    args = extraction_args(src, out, media_start_s=media_start_s, window_s=window_s, rate=rate, fps=fps,
                           frame_format=frame_format, is_vfr=is_vfr, codec=codec, color_transfer=color_transfer,
                           color_matrix=color_matrix)
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


def _video_size(src: str | os.PathLike[str]) -> tuple[int, int]:
    """Width and height of the first video stream (one light probe: no packet scan)."""
    if probe.ffprobe_exe():
        data = probe._run_ffprobe(["-select_streams", "v:0", "-show_entries", "stream=width,height"], src,
                                  code="VIDEO_EXTRACTION_FAILED")
        streams = data.get("streams") or []
        if streams:
            return int(streams[0].get("width") or 0), int(streams[0].get("height") or 0)
        return 0, 0
    video = probe.ffmpeg_info(src).get("video") or {}
    return int(video.get("width") or 0), int(video.get("height") or 0)
