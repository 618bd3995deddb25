"""Video frame extraction decodes with the source's colour matrix (issue 10, item 7).

A tagged source uses its tag; an untagged one is BT.709 when HD (height >= 720 or width >= 1280) and
BT.601 when SD. ffmpeg's default (BT.601 whatever the size, and no matrix conversion on the way to
a JPEG's full-range BT.601 YCbCr) put an HD red off by ~15 levels.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mediautil as mu
from hyperdesk.encode import probe
from hyperdesk.encode.media import UNTAG_FILTER, extract_video_frames, extraction_args, source_color_matrix
from hyperdesk.models import Fps

COLOUR = (200, 40, 60)  # a saturated red: BT.601 and BT.709 decodes differ by ~15 levels in R and G
TOL = 6


def make_clip(path: Path, size: str, matrix: str, *, tag: bool) -> Path:
    """A solid COLOUR clip whose YCbCr values are computed with `matrix` (limited range); the
    stream is tagged with that matrix only when `tag`."""
    tagging = ["-colorspace", "bt709" if matrix == "bt709" else "smpte170m"] if tag else []
    params = f"setparams=colorspace={'bt709' if matrix == 'bt709' else 'smpte170m'}" if tag \
        else "setparams=colorspace=unknown:range=unknown"
    mu.ffmpeg("-f", "lavfi", "-i", f"color=c=0x{''.join(f'{c:02X}' for c in COLOUR)}:s={size}:r=10:d=0.3,format=rgb24",
              "-vf", f"scale=out_color_matrix={matrix}:out_range=tv,format=yuv420p,{params}",
              "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", *tagging, "-y", path)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("colour")
    return {
        "hd_untagged": make_clip(d / "hd_untagged.mp4", "1280x720", "bt709", tag=False),
        "hd_tagged": make_clip(d / "hd_tagged.mp4", "1280x720", "bt709", tag=True),
        "sd_untagged": make_clip(d / "sd_untagged.mp4", "640x360", "bt601", tag=False),
        "sd_tagged_709": make_clip(d / "sd_tagged_709.mp4", "640x360", "bt709", tag=True),
    }


def centre_colour(frame_path: Path) -> tuple[int, int, int]:
    (frame,) = mu.decode_frames(frame_path)
    h, w = frame.shape[:2]
    patch = frame[h // 2 - 8:h // 2 + 8, w // 2 - 8:w // 2 + 8].reshape(-1, 3).astype(float)
    return tuple(int(round(v)) for v in np.median(patch, axis=0))


def assert_colour(got, what: str) -> None:
    off = max(abs(a - b) for a, b in zip(got, COLOUR))
    assert off <= TOL, f"{what}: extracted {got}, intended {COLOUR} (off by {off})"


def test_probe_reports_the_colour_matrix(clips):
    for backend in (None, False):  # ffprobe, then the pinned ffmpeg's fallback parser
        probe.FFPROBE = backend
        try:
            got = {name: probe.probe_media(path).color_space for name, path in clips.items()}
        finally:
            probe.FFPROBE = None
        assert got == {"hd_untagged": None, "hd_tagged": "bt709", "sd_untagged": None,
                       "sd_tagged_709": "bt709"}, backend


def test_source_color_matrix_rule():
    assert source_color_matrix(None, 1280, 720) == "bt709"
    assert source_color_matrix(None, 1920, 1080) == "bt709"
    assert source_color_matrix(None, 1280, 536) == "bt709"  # a scope crop of 1280-wide HD
    assert source_color_matrix(None, 960, 720) == "bt709"
    assert source_color_matrix(None, 640, 360) == "bt601"
    assert source_color_matrix("bt709", 640, 360) == "bt709"
    assert source_color_matrix("smpte170m", 1920, 1080) == "bt601"
    assert source_color_matrix("bt470bg", 1920, 1080) == "bt601"
    assert source_color_matrix("bt2020nc", 3840, 2160) == "bt2020"
    assert source_color_matrix("gbr", 1920, 1080) is None


@pytest.mark.parametrize("fmt", ["jpg", "png"])
@pytest.mark.parametrize("name", ["hd_untagged", "hd_tagged", "sd_untagged", "sd_tagged_709"])
def test_extracted_colour_matches_source(clips, tmp_path, name, fmt):
    """The source is probed (colour matrix and size) when the caller passes nothing."""
    n = extract_video_frames(clips[name], tmp_path / "f", media_start_s=0.0, window_s=0.2, rate=1.0,
                             fps=Fps.of(10), frame_format=fmt, is_vfr=False, codec="h264")
    assert n == 2
    assert_colour(centre_colour(tmp_path / "f" / f"frame_000001.{fmt}"), f"{name} -> {fmt}")


@pytest.mark.parametrize("name", ["hd_untagged", "sd_untagged"])
def test_planner_style_call_untagged(clips, tmp_path, name):
    """The planner passes the probe's facts: color_space=None (untagged) and no size; the size
    decides the matrix."""
    pr = probe.probe_media(clips[name])
    extract_video_frames(clips[name], tmp_path / "f", media_start_s=0.0, window_s=0.1, rate=1.0, fps=Fps.of(10),
                         frame_format="jpg", is_vfr=bool(pr.is_vfr), codec=pr.codec,
                         color_transfer=pr.color_transfer, color_space=getattr(pr, "color_space", None),
                         media_id="v1")
    assert_colour(centre_colour(tmp_path / "f" / "frame_000001.jpg"), name)


def test_extraction_args_colour_filter(tmp_path):
    jpg = extraction_args("/s/v.mp4", tmp_path, media_start_s=0, window_s=1, rate=1, fps=Fps.of(30),
                          frame_format="jpg", is_vfr=False, codec="h264", color_matrix="bt709")
    assert jpg[jpg.index("-vf") + 1] == f"fps=30,zscale=min=709:m=470bg:r=full,format=yuvj420p,{UNTAG_FILTER}"
    png = extraction_args("/s/v.mp4", tmp_path, media_start_s=0, window_s=1, rate=1, fps=Fps.of(30),
                          frame_format="png", is_vfr=True, codec="h264", color_matrix="bt601")
    assert png[png.index("-vf") + 1] == f"zscale=min=170m,format=gbrp|gbrap,{UNTAG_FILTER}"
    assert png[png.index("-fps_mode"):png.index("-fps_mode") + 4] == ["-fps_mode", "cfr", "-r", "30"]
    hdr = extraction_args("/s/v.mp4", tmp_path, media_start_s=0, window_s=1, rate=1, fps=Fps.of(30),
                          frame_format="jpg", is_vfr=False, codec="hevc", color_transfer="smpte2084",
                          color_matrix="bt2020")
    vf = hdr[hdr.index("-vf") + 1]
    assert "tonemap=tonemap=hable" in vf and vf.endswith(f"zscale=min=709:m=470bg:r=full,format=yuvj420p,{UNTAG_FILTER}")
