"""Fidelity with HyperFrames, by pixel values (issue 16, items 4 and 5).

* Video colour: a source's frames decode to the same RGB on the page whatever its colour tags
  (untagged, BT.709 matrix only, fully tagged BT.709, BT.601, full range), within ±2 of the exact
  decode of its YCbCr values: PNG frames carry no colour chunks that make Chromium colour-manage
  them, and JPEG frames are plain JFIF.
* Inter weights: 300 and 800 draw with their own weight, not as 400 and 700, also when the weight
  is set only at run time (a class added by a script).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mediautil as mu
from hyperdesk.plan.config import RenderConfig
from hyperdesk.plan.planner import plan
from hyperdesk.plan.still import render_still

# A red whose dark channels show a transfer-curve mistake: a gamma 2.4 curve applied by colour
# management took G 0x17 -> 0x0a and B 0x0e -> 0x03 (the red bar).
COLOUR = (0xC8, 0x17, 0x0E)
TOL = 2
KR_KB = {"bt709": (0.2126, 0.0722), "bt601": (0.299, 0.114)}


# ---------------------------------------------------------------------------------- video colour


def ycbcr(rgb: tuple[int, int, int], matrix: str, full: bool) -> tuple[int, int, int]:
    kr, kb = KR_KB[matrix]
    r, g, b = (c / 255 for c in rgb)
    y = kr * r + (1 - kr - kb) * g + kb * b
    pb, pr = (b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))
    if full:
        return round(255 * y), round(128 + 255 * pb), round(128 + 255 * pr)
    return round(16 + 219 * y), round(128 + 224 * pb), round(128 + 224 * pr)


def exact_rgb(yuv: tuple[int, int, int], matrix: str, full: bool) -> tuple[float, float, float]:
    """The exact decode of stored YCbCr values: what the source's author meant."""
    kr, kb = KR_KB[matrix]
    y8, cb, cr = yuv
    y = y8 / 255 if full else (y8 - 16) / 219
    pb, pr = ((cb - 128) / 255, (cr - 128) / 255) if full else ((cb - 128) / 224, (cr - 128) / 224)
    r, b = y + 2 * (1 - kr) * pr, y + 2 * (1 - kb) * pb
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    clip = [255 * min(1.0, max(0.0, c)) for c in (r, g, b)]
    return clip[0], clip[1], clip[2]


# name -> (size, matrix the values are computed with, full range, container tags)
SOURCES = {
    "untagged": ("1280x720", "bt709", False, {}),  # HD and untagged: decoded as BT.709
    "matrix709": ("320x180", "bt709", False, {"colorspace": "bt709"}),
    "tagged709": ("320x180", "bt709", False, {"colorspace": "bt709", "color_primaries": "bt709",
                                               "color_trc": "bt709", "color_range": "tv"}),
    "bt601": ("320x180", "bt601", False, {"colorspace": "smpte170m", "color_primaries": "smpte170m",
                                           "color_trc": "smpte170m", "color_range": "tv"}),
    "fullrange": ("320x180", "bt709", True, {"colorspace": "bt709", "color_primaries": "bt709",
                                              "color_trc": "bt709", "color_range": "pc"}),
}
CODECS = {"h264": ("mp4", ["-c:v", "libx264", "-preset", "ultrafast", "-qp", "0"]),  # frames as JPEG
          "vp9": ("webm", ["-c:v", "libvpx-vp9", "-lossless", "1", "-deadline", "realtime"])}  # as PNG


def make_source(path: Path, size: str, yuv: tuple[int, int, int], tags: dict, codec_args: list[str]) -> None:
    """A solid clip holding exactly the YCbCr values ``yuv`` (lossless), with only ``tags``."""
    w, h = (int(v) for v in size.split("x"))
    frame = bytes([yuv[0]]) * (w * h) + bytes([yuv[1]]) * (w * h // 4) + bytes([yuv[2]]) * (w * h // 4)
    tag_args = [a for k, v in tags.items() for a in (f"-{k}", v)]
    # The frames are tagged as the output is, so ffmpeg converts nothing on the way.
    params = {"colorspace": "colorspace", "color_primaries": "color_primaries", "color_trc": "color_trc",
              "color_range": "range"}
    setparams = ":".join(f"{params[k]}={v}" for k, v in tags.items()) or "colorspace=unknown"
    mu.ffmpeg("-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", size, "-r", "10", "-i", "-",
              "-vf", f"setparams={setparams}", *codec_args, *tag_args, "-y", path, input=frame * 3)
    got = mu.ffmpeg("-i", path, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-").stdout
    assert (got[0], got[w * h], got[w * h + w * h // 4]) == yuv, f"{path.name} does not hold {yuv}"


def colour_chunks(path: Path) -> list[str]:
    """The colour-management chunks of a PNG, or the ICC segments (APP2) of a JPEG."""
    data = path.read_bytes()
    if path.suffix == ".png":
        found, pos = [], 8
        while pos < len(data):
            length, kind = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8].decode("latin-1")
            if kind in ("cICP", "gAMA", "iCCP", "sRGB", "cHRM", "mDCV", "cLLI"):
                found.append(kind)
            pos += 12 + length
        return found
    return ["APP2/ICC"] if b"ICC_PROFILE" in data else []


# Output format -> the format video frames are extracted in for a codec without alpha (h264).
FORMATS = {"mp4": "jpg", "png-sequence": "png"}


@pytest.fixture(scope="module", params=list(FORMATS))
def colour_render(request, tmp_path_factory):
    """One composition with a tile per (source, codec), planned for an output format; returns
    (frame, {tile: (x, y, expected)}, plan dir)."""
    fmt = request.param
    root = tmp_path_factory.mktemp(f"video-colour-{fmt}")
    project = root / "project"
    project.mkdir()
    tiles, html = {}, []
    for row, (codec, (ext, args)) in enumerate(CODECS.items()):
        for col, (name, (size, matrix, full, tags)) in enumerate(SOURCES.items()):
            yuv = ycbcr(COLOUR, matrix, full)
            make_source(project / f"{name}-{codec}.{ext}", size, yuv, tags, args)
            x, y = 8 + col * 62, 20 + row * 80
            tiles[f"{name}/{codec}"] = (x + 28, y + 28, exact_rgb(yuv, matrix, full))
            html.append(f'<video src="{name}-{codec}.{ext}" muted data-start="0" data-duration="0.2" '
                        f'style="position:absolute;left:{x}px;top:{y}px;width:56px;height:56px;'
                        f'object-fit:fill"></video>')
    (project / "index.html").write_text(
        "<!doctype html><html><head><style>html,body{margin:0;background:#000}</style></head><body>"
        '<div id="root" data-composition-id="colour" data-width="320" data-height="180" '
        'data-duration="0.2" data-fps="10" data-no-timeline style="position:relative;width:320px;'
        'height:180px">' + "".join(html) + "</div></body></html>")
    work = root / "work"
    work.mkdir()
    planned = plan(project, RenderConfig(format=fmt), work / "plan")
    still = render_still(Path(planned.plan_dir), 0, work / "still.png")
    (rgb,) = mu.decode_frames(still)
    return fmt, rgb, tiles, Path(planned.plan_dir)


@pytest.mark.parametrize("codec", list(CODECS))
@pytest.mark.parametrize("name", list(SOURCES))
def test_video_colour_as_the_page_shows_it(colour_render, name, codec):
    fmt, frame, tiles, _ = colour_render
    x, y, want = tiles[f"{name}/{codec}"]
    patch = frame[y - 6:y + 6, x - 6:x + 6].reshape(-1, 3).astype(float)
    got = tuple(float(v) for v in np.median(patch, axis=0))
    off = max(abs(a - b) for a, b in zip(got, want, strict=True))
    assert off <= TOL, (f"{name} ({codec}, {fmt}): page shows {got}, "
                        f"the source holds {tuple(round(v, 1) for v in want)}")


def test_extracted_frames_carry_no_colour_tags(colour_render):
    fmt, _, _, plan_dir = colour_render
    frames = sorted((plan_dir / "video-frames").glob("*/frame_*.*"))
    assert {p.suffix for p in frames} == ({".png"} if fmt == "png-sequence" else {".jpg", ".png"})
    tagged = {p.parent.name: colour_chunks(p) for p in frames if colour_chunks(p)}
    assert tagged == {}, f"frames Chromium would colour-manage: {tagged}"
