"""Encoder arguments against plan contract 8.1–8.3 and locked settings against 2.3."""
from __future__ import annotations

import pytest

from hyperdesk.encode.args import (
    default_keyframe_interval,
    dir_input_args,
    lock_encoder_settings,
    pipe_input_args,
    track_timescale,
    video_encode_args,
)
from hyperdesk.errors import HyperdeskError
from hyperdesk.models import Fps, LockedRenderConfig

BITEXACT = ["-an", "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact"]
COLOUR = ["-colorspace:v", "bt709", "-color_primaries:v", "bt709", "-color_trc:v", "bt709", "-color_range", "tv"]


def cfg(format="mp4", quality="standard", fps=30, w=320, h=180, **kw) -> LockedRenderConfig:
    return LockedRenderConfig(**lock_encoder_settings(format, quality, fps, w, h, **kw))


def test_h264_standard_exact():
    assert video_encode_args(cfg()) == [
        "-r", "30",
        "-c:v", "libx264", "-preset", "medium", "-crf", "18",
        "-threads", "4",
        "-bf", "0",
        "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-force_key_frames", "expr:eq(mod(n,60),0)",
        "-x264-params",
        "aq-mode=3:aq-strength=0.8:deblock=1,1:colorprim=bt709:transfer=bt709:colormatrix=bt709"
        ":scenecut=0:open-gop=0:repeat-headers=1",
        *COLOUR,
        "-vf", "scale=in_range=pc:out_range=tv",
        "-pix_fmt", "yuv420p",
        "-video_track_timescale", "90000",
        "-avoid_negative_ts", "make_zero",
        *BITEXACT,
        "-f", "mp4",
    ]


@pytest.mark.parametrize("quality,preset,crf,tuning", [
    ("draft", "ultrafast", "28", "aq-mode=3"),
    ("standard", "medium", "18", "aq-mode=3:aq-strength=0.8:deblock=1,1"),
    ("high", "slow", "15", "aq-mode=3:aq-strength=0.8:deblock=1,1"),
])
def test_h264_quality_presets(quality, preset, crf, tuning):
    a = video_encode_args(cfg(quality=quality))
    assert a[a.index("-preset") + 1] == preset
    assert a[a.index("-crf") + 1] == crf
    assert a[a.index("-x264-params") + 1].startswith(tuning + ":colorprim=bt709")


def test_h264_overrides_and_odd_size():
    a = video_encode_args(cfg(crf=23, keyframe_interval=15, encoder_threads=2, w=321, h=181))
    assert a[a.index("-crf") + 1] == "23"
    assert a[a.index("-threads") + 1] == "2"
    assert a[a.index("-force_key_frames") + 1] == "expr:eq(mod(n,15),0)"
    assert a[a.index("-vf") + 1] == "scale=in_range=pc:out_range=tv,pad=ceil(iw/2)*2:ceil(ih/2)*2"
    b = video_encode_args(cfg(bitrate="8M"))
    assert "-crf" not in b and b[b.index("-b:v") + 1] == "8M"
    assert b[b.index("-preset") + 2:b.index("-preset") + 4] == ["-b:v", "8M"]
    even_w_odd_h = video_encode_args(cfg(w=320, h=181))
    assert "pad=" in even_w_odd_h[even_w_odd_h.index("-vf") + 1]


def test_h265_exact():
    assert video_encode_args(cfg(codec="h265", quality="high", keyframe_interval=30, encoder_threads=6)) == [
        "-r", "30",
        "-c:v", "libx265", "-preset", "slow", "-crf", "15",
        "-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-force_key_frames", "expr:eq(mod(n,30),0)",
        "-bf", "0",
        "-x265-params",
        "pools=6:frame-threads=4:colorprim=bt709:transfer=bt709:colormatrix=bt709:log-level=error"
        ":keyint=30:min-keyint=30:scenecut=0:open-gop=0:repeat-headers=1",
        "-tag:v", "hvc1",
        *COLOUR,
        "-vf", "scale=in_range=pc:out_range=tv",
        "-pix_fmt", "yuv420p",
        "-video_track_timescale", "90000",
        "-avoid_negative_ts", "make_zero",
        *BITEXACT,
        "-f", "mp4",
    ]


def test_vp9_exact():
    assert video_encode_args(cfg("webm", "draft", fps=Fps.of(30000, 1001))) == [
        "-r", "30000/1001",
        "-c:v", "libvpx-vp9", "-b:v", "0", "-crf", "28", "-deadline", "realtime", "-cpu-used", "4",
        "-row-mt", "1", "-threads", "4", "-auto-alt-ref", "0",
        "-g", "60", "-keyint_min", "60",
        "-pix_fmt", "yuva420p",
        "-metadata:s:v:0", "alpha_mode=1",
        "-avoid_negative_ts", "make_zero",
        *BITEXACT,
        "-f", "webm",
    ]
    a = video_encode_args(cfg("webm", "standard", bitrate="5000k", vp9_cpu_used=2))
    assert a[a.index("-c:v"):a.index("-deadline") + 2] == ["-c:v", "libvpx-vp9", "-b:v", "5000k", "-deadline", "good"]
    assert a[a.index("-cpu-used") + 1] == "2"


def test_prores_exact_ignores_quality():
    expected = [
        "-r", "24000/1001",
        "-c:v", "prores_ks", "-profile:v", "4444", "-vendor", "apl0", "-threads", "4",
        "-pix_fmt", "yuva444p10le",
        "-video_track_timescale", "24000",
        *BITEXACT,
        "-f", "mov",
    ]
    for q in ("draft", "standard", "high"):
        assert video_encode_args(cfg("mov", q, fps=Fps.of(24000, 1001))) == expected


def test_png_has_no_encode():
    with pytest.raises(HyperdeskError):
        video_encode_args(cfg("png-sequence"))


def test_input_args():
    c = cfg(fps=Fps.of(30000, 1001))
    assert pipe_input_args(c) == ["-f", "image2pipe", "-c:v", "mjpeg", "-framerate", "30000/1001", "-i", "-"]
    assert pipe_input_args(cfg("webm")) == ["-f", "image2pipe", "-c:v", "png", "-framerate", "30", "-i", "-"]
    assert dir_input_args(c, "/w/captured/frame_%06d.jpg") == [
        "-framerate", "30000/1001", "-start_number", "0", "-i", "/w/captured/frame_%06d.jpg"]


def test_lock_defaults_per_format():
    s = lock_encoder_settings("mp4", "standard", 30, 1920, 1080)
    assert s == {
        "format": "mp4", "codec": "h264", "quality": "standard", "preset": "medium", "crf": 18, "bitrate": None,
        "vp9_cpu_used": 4, "pix_fmt": "yuv420p", "encoder_threads": 4, "keyframe_interval": 60,
        "timescale": 90000, "width": 1920, "height": 1080, "fps": {"num": 30, "den": 1},
        "capture_format": "jpeg", "jpeg_quality": 95, "png_fast": True, "transparent_background": False,
    }
    LockedRenderConfig(**s)  # the planner's use
    mov = lock_encoder_settings("mov", "high", Fps.of(25), 640, 360)
    assert (mov["codec"], mov["preset"], mov["crf"], mov["pix_fmt"], mov["capture_format"],
            mov["transparent_background"], mov["keyframe_interval"]) == (
        "prores", "4444", None, "yuva444p10le", "png", True, 50)
    webm = lock_encoder_settings("webm", "draft", 60, 640, 360)
    assert (webm["codec"], webm["preset"], webm["crf"], webm["pix_fmt"], webm["capture_format"]) == (
        "vp9", "realtime", 28, "yuva420p", "png")
    png = lock_encoder_settings("png-sequence", "standard", 30, 640, 360)
    assert (png["codec"], png["pix_fmt"], png["capture_format"], png["transparent_background"]) == (
        "png", "rgba", "png", True)
    assert lock_encoder_settings("mp4", "standard", 30, 64, 64, bitrate="8M")["crf"] is None
    assert lock_encoder_settings("mp4", codec="h265")["codec"] == "h265"


def test_timescale_and_default_gop():
    assert track_timescale(Fps.of(30)) == 90000
    assert track_timescale(Fps.of(30000, 1001)) == 90000
    assert track_timescale(Fps.of(24000, 1001)) == 24000
    assert track_timescale(Fps.of(60000, 1001)) == 60000
    assert track_timescale(Fps.of(7)) == 7 * 1429
    for num in (1, 7, 23, 24, 25, 30, 48, 50, 59, 60, 120, 144, 240):
        ts = track_timescale(Fps.of(num))
        assert ts % num == 0 and ts >= 10000
    assert default_keyframe_interval(Fps.of(30)) == 60
    assert default_keyframe_interval(Fps.of(30000, 1001)) == 60
    assert default_keyframe_interval(Fps.of(24000, 1001)) == 48
    assert default_keyframe_interval(Fps.of(1)) == 2
    assert default_keyframe_interval(Fps.of(9, 4)) == 5  # 4.5 rounds up


@pytest.mark.parametrize("kwargs,field", [
    ({"crf": 20, "bitrate": "8M"}, "crf"),
    ({"crf": 52}, "crf"),
    ({"crf": -1}, "crf"),
    ({"format": "gif"}, "format"),
    ({"format": "mp4", "codec": "vp9"}, "codec"),
    ({"quality": "ultra"}, "quality"),
    ({"keyframe_interval": 0}, "keyframe_interval"),
    ({"encoder_threads": 0}, "encoder_threads"),
    ({"bitrate": "fast"}, "bitrate"),
    ({"format": "mov", "crf": 10}, "crf"),
    ({"fps": 500}, "fps"),
])
def test_lock_invalid(kwargs, field):
    args = {"format": "mp4", "quality": "standard", "fps": 30, "width": 320, "height": 180}
    args.update(kwargs)
    with pytest.raises(HyperdeskError) as ei:
        lock_encoder_settings(**args)
    assert ei.value.code == "INVALID_RENDER_CONFIG"
    assert ei.value.details["field"] == field


def test_vp9_crf_range_is_63():
    assert lock_encoder_settings("webm", crf=63)["crf"] == 63
    with pytest.raises(HyperdeskError):
        lock_encoder_settings("webm", crf=64)
