"""Encoder arguments (plan contract 8.1–8.3) and the locked encoder settings (2.3).

`video_encode_args` returns everything that follows the input: the base set of 8.2 in table order,
with the closed-GOP set of 8.3 added — its four GOP options right after the codec's own options
(before `-x264-params` / `-x265-params` / `-pix_fmt`), its x264/x265 parameters appended to the
`-x264-params` / `-x265-params` value.
"""
from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

from hyperdesk.errors import HyperdeskError
from hyperdesk.models import Fps, LockedRenderConfig

# 8.1: quality -> (x264/x265 preset, CRF, VP9 deadline, x264 tuning)
QUALITY_PRESETS: dict[str, tuple[str, int, str, str]] = {
    "draft": ("ultrafast", 28, "realtime", "aq-mode=3"),
    "standard": ("medium", 18, "good", "aq-mode=3:aq-strength=0.8:deblock=1,1"),
    "high": ("slow", 15, "good", "aq-mode=3:aq-strength=0.8:deblock=1,1"),
}

FORMAT_CODECS: dict[str, tuple[str, ...]] = {
    "mp4": ("h264", "h265"),
    "mov": ("prores",),
    "webm": ("vp9",),
    "png-sequence": ("png",),
}
PIX_FMT = {"mp4": "yuv420p", "webm": "yuva420p", "mov": "yuva444p10le", "png-sequence": "rgba"}
CRF_RANGE = {"h264": (0, 51), "h265": (0, 51), "vp9": (0, 63)}
PRORES_PRESET = "4444"
PNG_PRESET = "none"
_BITRATE_RE = re.compile(r"^[1-9][0-9]*(\.[0-9]+)?[kKmMgG]?$")
BT709_PARAMS = "colorprim=bt709:transfer=bt709:colormatrix=bt709"
CLOSED_GOP_X264 = "scenecut=0:open-gop=0:repeat-headers=1"


def _config_error(field: str, value: Any, reason: str) -> HyperdeskError:
    return HyperdeskError(
        "INVALID_RENDER_CONFIG",
        f"invalid {field} {value!r}: {reason}",
        details={"field": field, "value": value, "reason": reason},
    )


def _as_fps(fps: Any) -> Fps:
    if isinstance(fps, Fps):
        return Fps.of(fps.num, fps.den)
    if isinstance(fps, dict):
        return Fps.of(int(fps["num"]), int(fps.get("den", 1)))
    if isinstance(fps, (tuple, list)) and len(fps) == 2:
        return Fps.of(int(fps[0]), int(fps[1]))
    if isinstance(fps, Fraction):
        return Fps.of(fps.numerator, fps.denominator)
    if isinstance(fps, int) and not isinstance(fps, bool):
        return Fps.of(fps, 1)
    raise _config_error("fps", fps if isinstance(fps, (int, float, str)) else str(fps),
                        "not a supported frame rate form")


def track_timescale(fps: Fps) -> int:
    """2.3: 90000 when one frame is a whole number of 90 kHz ticks, else num × ceil(10000 / num)."""
    if (90000 * fps.den) % fps.num == 0:
        return 90000
    return fps.num * math.ceil(10000 / fps.num)


def default_keyframe_interval(fps: Fps) -> int:
    """round(2 × fps) (halves rounded up), at least 1."""
    return max(1, math.floor(Fraction(2 * fps.num, fps.den) + Fraction(1, 2)))


def lock_encoder_settings(
    format: str,
    quality: str = "standard",
    fps: Any = 30,
    width: int = 1920,
    height: int = 1080,
    crf: int | None = None,
    bitrate: str | None = None,
    keyframe_interval: int | None = None,
    encoder_threads: int = 4,
    *,
    codec: str | None = None,
    vp9_cpu_used: int = 4,
) -> dict[str, Any]:
    """The byte-relevant encoder fields of LockedRenderConfig (2.3) for a request.

    Returns a dict with format, codec, quality, preset, crf, bitrate, vp9_cpu_used, pix_fmt,
    encoder_threads, keyframe_interval, timescale, width, height, fps ({num, den}), capture_format,
    jpeg_quality, png_fast and transparent_background. Raises INVALID_RENDER_CONFIG.
    """
    if format not in FORMAT_CODECS:
        raise _config_error("format", format, "choose mp4, mov, webm or png-sequence")
    codecs = FORMAT_CODECS[format]
    codec = codec or codecs[0]
    if codec not in codecs:
        raise _config_error("codec", codec, f"not valid for {format} (allowed: {', '.join(codecs)})")
    if quality not in QUALITY_PRESETS:
        raise _config_error("quality", quality, "choose draft, standard or high")
    fps_m = _as_fps(fps)
    if not (1 <= fps_m.value <= 240):
        raise _config_error("fps", fps_m.ffmpeg(), "must lie in [1, 240]")
    for name, v in (("width", width), ("height", height)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise _config_error(name, v, "must be a positive integer")
    if crf is not None and bitrate is not None:
        raise _config_error("crf", crf, "crf and bitrate are mutually exclusive")
    if codec in ("prores", "png"):
        if crf is not None:
            raise _config_error("crf", crf, f"{codec} has no rate control (quality is ignored)")
        if bitrate is not None:
            raise _config_error("bitrate", bitrate, f"{codec} has no rate control (quality is ignored)")
    if crf is not None:
        lo, hi = CRF_RANGE[codec]
        if not isinstance(crf, int) or isinstance(crf, bool) or not lo <= crf <= hi:
            raise _config_error("crf", crf, f"must be an integer in {lo}–{hi} for {codec}")
    if bitrate is not None and (not isinstance(bitrate, str) or not _BITRATE_RE.match(bitrate)):
        raise _config_error("bitrate", bitrate, "write it like 8M or 5000k")
    if keyframe_interval is None:
        keyframe_interval = default_keyframe_interval(fps_m)
    elif not isinstance(keyframe_interval, int) or isinstance(keyframe_interval, bool) or keyframe_interval < 1:
        raise _config_error("keyframe_interval", keyframe_interval, "must be an integer >= 1")
    if not isinstance(encoder_threads, int) or isinstance(encoder_threads, bool) or encoder_threads < 1:
        raise _config_error("encoder_threads", encoder_threads, "must be an integer >= 1")
    if not isinstance(vp9_cpu_used, int) or not -8 <= vp9_cpu_used <= 8:
        raise _config_error("vp9_cpu_used", vp9_cpu_used, "must be an integer in -8…8")

    x_preset, q_crf, deadline, _tuning = QUALITY_PRESETS[quality]
    if codec in ("h264", "h265"):
        preset, eff_crf = x_preset, (None if bitrate is not None else (crf if crf is not None else q_crf))
    elif codec == "vp9":
        preset, eff_crf = deadline, (None if bitrate is not None else (crf if crf is not None else q_crf))
    elif codec == "prores":
        preset, eff_crf = PRORES_PRESET, None
    else:
        preset, eff_crf = PNG_PRESET, None
    return {
        "format": format,
        "codec": codec,
        "quality": quality,
        "preset": preset,
        "crf": eff_crf,
        "bitrate": bitrate,
        "vp9_cpu_used": vp9_cpu_used,
        "pix_fmt": PIX_FMT[format],
        "encoder_threads": encoder_threads,
        "keyframe_interval": keyframe_interval,
        "timescale": track_timescale(fps_m),
        "width": width,
        "height": height,
        "fps": {"num": fps_m.num, "den": fps_m.den},
        "capture_format": "jpeg" if format == "mp4" else "png",
        "jpeg_quality": 95,
        "png_fast": True,
        "transparent_background": format in ("mov", "webm", "png-sequence"),
    }


def _rate_control(cfg: LockedRenderConfig) -> list[str]:
    if cfg.bitrate:
        return ["-b:v", cfg.bitrate]
    crf = cfg.crf if cfg.crf is not None else QUALITY_PRESETS[cfg.quality][1]
    return ["-crf", str(crf)]


def _colour_and_scale(cfg: LockedRenderConfig) -> list[str]:
    vf = "scale=in_range=pc:out_range=tv"
    if cfg.width % 2 or cfg.height % 2:
        vf += ",pad=ceil(iw/2)*2:ceil(ih/2)*2"
    return [
        "-colorspace:v", "bt709", "-color_primaries:v", "bt709", "-color_trc:v", "bt709", "-color_range", "tv",
        "-vf", vf,
        "-pix_fmt", "yuv420p",
    ]


_BITEXACT = ["-an", "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact"]


def gop_args(cfg: LockedRenderConfig) -> list[str]:
    g = str(cfg.keyframe_interval)
    return ["-g", g, "-keyint_min", g, "-sc_threshold", "0", "-force_key_frames", f"expr:eq(mod(n,{g}),0)"]


def video_encode_args(cfg: LockedRenderConfig) -> list[str]:
    """Everything after the input for one chunk encode: 8.2 base + 8.3 closed GOP, up to `-f`.

    The output path is not included.
    """
    F = cfg.fps.ffmpeg()
    n = cfg.encoder_threads
    G = cfg.keyframe_interval
    ts = str(cfg.timescale)
    if cfg.codec == "h264":
        tuning = QUALITY_PRESETS[cfg.quality][3]
        return [
            "-r", F,
            "-c:v", "libx264", "-preset", cfg.preset, *_rate_control(cfg),
            "-threads", str(n),
            "-bf", "0",
            *gop_args(cfg),
            "-x264-params", f"{tuning}:{BT709_PARAMS}:{CLOSED_GOP_X264}",
            *_colour_and_scale(cfg),
            "-video_track_timescale", ts,
            "-avoid_negative_ts", "make_zero",
            *_BITEXACT,
            "-f", "mp4",
        ]
    if cfg.codec == "h265":
        x265 = (
            f"pools={n}:frame-threads={min(n, 4)}:{BT709_PARAMS}:log-level=error"
            f":keyint={G}:min-keyint={G}:{CLOSED_GOP_X264}"
        )
        return [
            "-r", F,
            "-c:v", "libx265", "-preset", cfg.preset, *_rate_control(cfg),
            *gop_args(cfg),
            "-bf", "0",
            "-x265-params", x265,
            "-tag:v", "hvc1",
            *_colour_and_scale(cfg),
            "-video_track_timescale", ts,
            "-avoid_negative_ts", "make_zero",
            *_BITEXACT,
            "-f", "mp4",
        ]
    if cfg.codec == "vp9":
        rc = ["-b:v", cfg.bitrate] if cfg.bitrate else ["-b:v", "0", *_rate_control(cfg)]
        return [
            "-r", F,
            "-c:v", "libvpx-vp9", *rc,
            "-deadline", cfg.preset, "-cpu-used", str(cfg.vp9_cpu_used),
            "-row-mt", "1", "-threads", str(n), "-auto-alt-ref", "0",
            "-g", str(G), "-keyint_min", str(G),
            "-pix_fmt", "yuva420p",
            "-metadata:s:v:0", "alpha_mode=1",
            "-avoid_negative_ts", "make_zero",
            *_BITEXACT,
            "-f", "webm",
        ]
    if cfg.codec == "prores":
        return [
            "-r", F,
            "-c:v", "prores_ks", "-profile:v", "4444", "-vendor", "apl0", "-threads", str(n),
            "-pix_fmt", "yuva444p10le",
            "-video_track_timescale", ts,
            *_BITEXACT,
            "-f", "mov",
        ]
    raise HyperdeskError(
        "INVALID_RENDER_CONFIG",
        f"codec {cfg.codec!r} has no encode (png-sequence chunks are the captured PNGs)",
        details={"field": "codec", "value": cfg.codec, "reason": "no encoder"},
    )


def capture_codec(cfg: LockedRenderConfig) -> str:
    return "mjpeg" if cfg.capture_format == "jpeg" else "png"


def pipe_input_args(cfg: LockedRenderConfig) -> list[str]:
    """Frames through stdin as they are captured: `-f image2pipe -c:v mjpeg|png -framerate F -i -`."""
    return ["-f", "image2pipe", "-c:v", capture_codec(cfg), "-framerate", cfg.fps.ffmpeg(), "-i", "-"]


def dir_input_args(cfg: LockedRenderConfig, pattern: str) -> list[str]:
    """Frames from the work dir: `-framerate F -start_number 0 -i <dir>/frame_%06d.<ext>`."""
    return ["-framerate", cfg.fps.ffmpeg(), "-start_number", "0", "-i", str(pattern)]


def chunk_encode_command(cfg: LockedRenderConfig, out_path: str, *, input_pattern: str | None = None) -> list[str]:
    """ffmpeg arguments (without the executable) for one chunk: pipe input unless a pattern is given."""
    inp = dir_input_args(cfg, input_pattern) if input_pattern else pipe_input_args(cfg)
    return ["-loglevel", "info", "-nostats", *inp, *video_encode_args(cfg), "-y", str(out_path)]
