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


# ---------------------------------------------------------------------------------- fonts

LINE = "Hamburgefonstiv 0123"


def render_lines(root: Path, rows: list[str], script: str = "") -> tuple[np.ndarray, int, int]:
    """A 640x480 page with one 24 px line of text per style in ``rows`` (32 px apart) and a canvas
    below them; returns the captured frame as grey levels (0 = ink), the row pitch and the
    canvas's top."""
    canvas_top = 4 + len(rows) * 32
    project = root / "project"
    project.mkdir(parents=True)
    lines = "".join(f'<p style="top:{4 + i * 32}px;{style}">{LINE}</p>' for i, style in enumerate(rows))
    (project / "index.html").write_text(
        "<!doctype html><html><head><style>html,body{margin:0;background:#fff}"
        "p{position:absolute;left:8px;margin:0;font-size:24px;line-height:30px;height:30px;white-space:nowrap;"
        "color:#000}</style></head><body>"
        '<div id="root" data-composition-id="fonts" data-width="640" data-height="480" data-duration="0.1" '
        'data-fps="10" data-no-timeline style="position:relative;width:640px;height:480px;background:#fff">'
        f'{lines}<canvas id="c" width="640" height="60" style="position:absolute;left:0;top:{canvas_top}px">'
        "</canvas>"
        f"</div><script>{script}</script></body></html>")
    planned = plan(project, RenderConfig(format="png-sequence"), root / "plan")
    still = render_still(Path(planned.plan_dir), 0, root / "still.png")
    (rgb,) = mu.decode_frames(still)
    return rgb[..., :3].astype(float).mean(axis=2), 32, canvas_top


def band(grey: np.ndarray, top: int) -> np.ndarray:
    return grey[top:top + 30]


def ink(grey: np.ndarray, top: int) -> float:
    """Total ink of a line (0 = white): heavier weights lay more."""
    return float((255 - band(grey, top)).sum() / 255)


def width(grey: np.ndarray, top: int) -> int:
    cols = np.nonzero((band(grey, top) < 128).any(axis=0))[0]
    return int(cols[-1] - cols[0])


def test_inter_weights_are_their_own(tmp_path):
    """Issue 16, item 5: 300 and 800 draw with their own weight (not as 400 and 700), set in CSS,
    by a Tailwind class the CDN build would style at run time, and in canvas ctx.font."""
    rows = ["font-family:Inter;font-weight:300", "font-family:Inter;font-weight:400",
            "font-family:Inter;font-weight:700", "font-family:Inter;font-weight:800"]
    script = ("document.querySelectorAll('p')[4].style.fontWeight = 300;"
              "document.querySelectorAll('p')[5].style.fontWeight = 800;"
              "const c = document.getElementById('c').getContext('2d'); c.textBaseline = 'top';"
              f"c.font = '300 24px Inter'; c.fillText('{LINE}', 8, 0);"
              f"c.font = '800 24px Inter'; c.fillText('{LINE}', 8, 30);")
    # a Tailwind class names the weight; the script applies it as Tailwind's runtime CSS would
    rows += ['font-family:Inter" class="font-light', 'font-family:Inter" class="font-extrabold']
    grey, pitch, top = render_lines(tmp_path, rows, script)
    w300, w400, w700, w800 = (ink(grey, 4 + i * pitch) for i in range(4))
    assert w300 < 0.93 * w400, (w300, w400)
    assert w800 > 1.05 * w700, (w800, w700)
    assert width(grey, 4 + 3 * pitch) > width(grey, 4 + 2 * pitch)  # 800 is wider than 700
    # the run-time weights (Tailwind classes) draw exactly as the CSS ones
    assert np.array_equal(band(grey, 4 + 4 * pitch), band(grey, 4)), "font-light is not Inter 300"
    assert np.array_equal(band(grey, 4 + 5 * pitch), band(grey, 4 + 3 * pitch)), "font-extrabold is not Inter 800"
    c300, c800 = ink(grey, top), ink(grey, top + 30)
    assert c800 > 1.4 * c300, (c300, c800)


def test_generic_families_draw_the_hyperframes_designs(tmp_path):
    """Issue 16, item 6 (docs/fonts.md): font-family lists with a generic family draw Inter; the
    font shorthand, canvas ctx.font, unstyled text and unknown families draw what Chromium picks on a
    Linux host: Liberation Sans/Serif/Mono (Arimo/Tinos/Cousine) and DejaVu Sans."""
    rows = ["font:24px/30px sans-serif", "font-family:Arimo",
            "font:24px/30px serif", "font-family:Tinos",
            "font:24px/30px monospace", "font-family:Cousine",
            "font:24px/30px system-ui", "font-family:'DejaVu Sans'",
            "", "font-family:Impact", "font-family:sans-serif", "font-family:Inter"]
    # drawn once Arimo's web face has loaded: a canvas draws an unloaded web face's fallback
    script = ("document.fonts.load('24px Arimo').then(() => {"
              "const c = document.getElementById('c').getContext('2d'); c.textBaseline = 'top';"
              f"c.font = '24px sans-serif'; c.fillText('{LINE}', 8, 0);"
              f"c.font = '24px Arimo'; c.fillText('{LINE}', 8, 30);}});")
    grey, pitch, top = render_lines(tmp_path, rows, script)

    def diff(a: int, b: int) -> float:
        return float(np.abs(band(grey, 4 + a * pitch) - band(grey, 4 + b * pitch)).mean())

    for generic, design in ((0, 1), (2, 3), (4, 5), (6, 7)):
        assert diff(generic, design) == 0, f"{rows[generic]} is not drawn in {rows[design]}"
    assert diff(8, 3) == 0 and diff(9, 3) == 0  # unstyled and unknown: the standard face, Tinos
    assert diff(10, 11) == 0  # a font-family list keeps Inter first
    designs = [1, 3, 5, 7, 11]
    for i in designs:
        for j in designs:
            assert i == j or diff(i, j) > 5, f"{rows[i]} and {rows[j]} look alike"
    assert float(np.abs(band(grey, top) - band(grey, top + 30)).mean()) == 0  # canvas sans-serif is Arimo


def test_a_script_draws_a_web_face_at_load(tmp_path):
    """Issue 16, canvas text: a script that draws `24px Inter` on a canvas as the page loads (before
    any font event) draws Inter, as the line drawn once the face has loaded, not the fallback face."""
    script = ("const c = document.getElementById('c').getContext('2d'); c.textBaseline = 'top';"
              f"c.font = '24px Inter'; c.fillText('{LINE}', 8, 0);"
              f"document.fonts.load('24px Inter').then(() => {{ c.font = '24px Inter'; c.fillText('{LINE}', 8, 30); }});")
    grey, pitch, top = render_lines(tmp_path, ["font-family:Tinos"], script)
    at_load, loaded = band(grey, top), band(grey, top + 30)
    assert ink(grey, top) > 100, "nothing drawn"
    assert float(np.abs(at_load - loaded).mean()) == 0, "the canvas line drawn at load is not Inter"
    assert (tmp_path / "plan" / "fonts" / "script-faces.js").is_file()
