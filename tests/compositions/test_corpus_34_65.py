"""Conformance corpus, checklist lines 34-65 (composition-contract.md section 14).

One folder per line under tests/compositions/NN-slug/ holds the composition; media files are never
committed: tests that need them copy the folder to a temp dir, generate the media there with the
pinned ffmpeg and pass `project=`. Tests render through the one pipeline (plan -> render_chunk ->
assemble, the `corpus_render` fixture) at 30 fps and 320x180 or smaller, then decode the output and
check what the line says a user would see: colours at named frames (H.264 with a tolerance, or a
png-sequence where exact bytes matter), numbers painted as black/white bits, audio RMS per window,
stream facts from ffprobe. Exceptions, because the line is about something else: 40, 42 and 58 are
about planning (log records, plan errors) and only plan; 63 fails in render_chunk; 65 calls
render_chunk in both capture modes on resources/sample.

Run time: test 64 waits out a 2.25 s timeline wait (FaultPlan(ready_timeout_s=3)); test 38
captures 331 frames; test 65 renders 1080p chunks four times.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mediautil as mu
from hyperdesk.faults import FaultPlan

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parent

RED, GREEN, BLUE, BLACK, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (0, 0, 0), (255, 255, 255)


def near(px, expected, tol=24) -> bool:
    return all(abs(int(a) - int(b)) <= tol for a, b in zip(px[:3], expected))


def assert_colour(r, frame: int, x: int, y: int, expected, tol=24) -> None:
    px = r.pixel(frame, x, y)
    assert near(px, expected, tol), f"frame {frame} pixel ({x},{y}) is {px}, expected about {expected}"


def read_bits(frame, xs, y) -> int:
    """An unsigned integer painted as black/white cells (most significant first) centred at xs, y."""
    value = 0
    for x in xs:
        r, g, b = mu.pixel(frame, x, y)[:3]
        value = (value << 1) | (1 if (r + g + b) / 3 > 128 else 0)
    return value


def project_copy(name: str, tmp_path: Path) -> Path:
    dst = tmp_path / name
    shutil.copytree(CORPUS / name, dst)
    return dst


# --------------------------------------------------------------------------- 34-37: adapters, seek


def test_34_lottie_frame_follows_composition_frame(corpus_render):
    r = corpus_render("34-lottie")
    assert len(r.frames) == 18
    assert_colour(r, 0, 160, 90, RED)
    assert_colour(r, 14, 160, 90, RED)
    assert_colour(r, 15, 160, 90, GREEN)  # the one-frame green layer is Lottie frame 15
    assert_colour(r, 17, 160, 90, BLUE)


def test_35_anime_instance_seeked_linear(corpus_render):
    r = corpus_render("35-anime")
    # frame 0: box at [0, 20); frame 15: translateX 50 -> box at [50, 70)
    assert_colour(r, 0, 10, 90, RED)
    assert_colour(r, 0, 60, 90, BLACK)
    assert_colour(r, 15, 44, 90, BLACK)
    assert_colour(r, 15, 54, 90, RED)
    assert_colour(r, 15, 66, 90, RED)
    assert_colour(r, 15, 76, 90, BLACK)
    # frame 30 (1 s, the end): box at [100, 120)
    assert_colour(r, 30, 110, 90, RED)
    assert_colour(r, 30, 94, 90, BLACK)


def test_36_hf_seek_time_and_wait_until(corpus_render):
    r = corpus_render("36-hf-seek")
    assert_colour(r, 45, 70, 90, GREEN)  # detail.time === 1.5
    assert_colour(r, 45, 250, 90, BLUE)  # drawn 200 ms (wall) later, still captured
    for f in (44, 46):
        assert_colour(r, f, 70, 90, RED)
        assert_colour(r, f, 250, 90, RED)


BITS20 = [i * 16 + 8 for i in range(20)]


def test_37_frame_time_at_ntsc_rate(corpus_render):
    r = corpus_render("37-frame-time", fps="30000/1001")
    assert (r.manifest.fps.num, r.manifest.fps.den) == (30000, 1001)
    assert len(r.frames) == 6  # 0.2 s x 29.97 = 5.994 -> 6
    for i in range(6):
        t = (i * 1001) / 30000
        assert read_bits(r.frames[i], BITS20, 45) == int(t * 1000 * 1000), f"Date.now() at frame {i}"
    # frame 1: Date.now() = 33.366... ms, the seek time 1001/30000 s
    assert read_bits(r.frames[1], BITS20, 45) == 33366
    assert read_bits(r.frames[1], BITS20, 135) == 33366


# --------------------------------------------------------------------------- 38-42: frames and duration


def test_38_frame_count_rounding(corpus_render):
    r = corpus_render("38-frame-count")
    assert r.manifest.total_frames == 301  # 10.01 s x 30 = 300.3 -> ceil
    assert mu.count_packets(r.output) == 301
    assert len(r.frames) == 301
    assert_colour(r, 300, 16, 9, BLUE)
    short = corpus_render("38-frame-count", entry="short.html")
    assert short.manifest.total_frames == 30  # 30.000003 is within 1e-3 of 30
    assert mu.count_packets(short.output) == 30
    assert len(short.frames) == 30


def test_39_fps_forms(corpus_render, tmp_path):
    from hyperdesk.encode.probe import stream_summary
    from hyperdesk.errors import HyperdeskError
    from hyperdesk.plan.config import RenderConfig
    from hyperdesk.plan.planner import plan

    with pytest.raises(HyperdeskError) as info:
        plan(CORPUS / "39-fps-forms", RenderConfig(fps="29.97"), tmp_path / "plan")
    assert info.value.code == "INVALID_RENDER_CONFIG"
    assert not (tmp_path / "plan").exists()

    r = corpus_render("39-fps-forms", fps="60/2")
    assert (r.manifest.fps.num, r.manifest.fps.den) == (30, 1)
    assert stream_summary(r.output)["r_frame_rate"] == "30/1"
    assert mu.count_packets(r.output) == 30
    # t = 0.5 at frame 15: box at [50, 66)
    assert_colour(r, 15, 58, 45, RED)
    assert_colour(r, 15, 44, 45, BLACK)
    assert_colour(r, 15, 72, 45, BLACK)


PROBE_MESSAGE = "probing the composition duration"


def test_40_static_duration_loads_no_probe_page(caplog, tmp_path):
    """Plan only: the line is about planning (the contrasting probe record is asserted in 41)."""
    from hyperdesk.plan.config import RenderConfig
    from hyperdesk.plan.planner import plan

    with caplog.at_level(logging.INFO, logger="hyperdesk.plan"):
        planned = plan(CORPUS / "40-static-duration", RenderConfig(), tmp_path / "plan")
    assert not [rec for rec in caplog.records if PROBE_MESSAGE in rec.getMessage()]
    meta = json.loads((Path(planned.plan_dir) / "meta" / "composition.json").read_text())
    assert meta["duration_source"] == "attribute"
    assert planned.manifest.total_frames == 15


def test_41_probed_duration_from_root_timeline(corpus_render, caplog):
    with caplog.at_level(logging.INFO, logger="hyperdesk.plan"):
        r = corpus_render("41-probed-duration")
    assert [rec for rec in caplog.records if PROBE_MESSAGE in rec.getMessage()], "the planner did not probe"
    meta = json.loads((r.plan_dir / "meta" / "composition.json").read_text())
    assert meta["duration_source"] == "probe"
    assert meta["duration_s"] == pytest.approx(4.0)
    assert r.manifest.total_frames == 120
    assert mu.count_packets(r.output) == 120
    # frame 60 (t = 2 s): x = 50, the 16 px box spans [50, 66)
    assert_colour(r, 60, 58, 36, RED)
    assert_colour(r, 60, 44, 36, BLACK)
    assert_colour(r, 119, 108, 36, RED)


def test_42_zero_duration(tmp_path):
    from hyperdesk.errors import HyperdeskError
    from hyperdesk.plan.config import RenderConfig
    from hyperdesk.plan.planner import plan

    with pytest.raises(HyperdeskError) as info:
        plan(CORPUS / "42-zero-duration", RenderConfig(), tmp_path / "zero")
    assert info.value.code == "DURATION_ZERO"
    with pytest.raises(HyperdeskError) as info:
        plan(CORPUS / "42-zero-duration", RenderConfig(entry="empty.html"), tmp_path / "empty")
    assert info.value.code == "DURATION_ZERO"
    assert info.value.details.get("duration_source") == "probe"
    assert not (tmp_path / "zero").exists() and not (tmp_path / "empty").exists()


# --------------------------------------------------------------------------- 43-47: video

NUM_XS = [i * 20 + 10 for i in range(8)]
MAROON = (128, 0, 0)


def numbered_clip(path: Path, *, duration: float = 2.0, vfr: bool = False) -> Path:
    """160x90, 30 fps: frame n shows n as 8 black/white bits, 20 px each, bit 7 first. With vfr,
    every third frame (n % 3 == 1) is dropped, so frame durations alternate 1 and 2 periods."""
    vf = "geq=lum='if(bitand(N,pow(2,7-trunc(X/20))),235,16)':cb=128:cr=128"
    extra: list[str] = []
    if vfr:
        vf += ",select='not(eq(mod(n,3),1))'"
        extra = ["-fps_mode", "vfr"]
    mu.ffmpeg("-f", "lavfi", "-i", f"color=c=black:s=160x90:r=30:d={duration}", "-vf", vf, *extra,
              "-c:v", "libx264", "-pix_fmt", "yuv420p", "-y", path)
    return path


def shown(r, frame: int) -> int:
    return read_bits(r.frames[frame], NUM_XS, 45)


def test_43_video_frame_at_offset_start(corpus_render, tmp_path):
    project = project_copy("43-video-frame", tmp_path)
    numbered_clip(project / "clip.mp4")
    r = corpus_render("43-video-frame", project=project)
    assert len(r.frames) == 48
    assert_colour(r, 29, 10, 45, MAROON)  # before data-start: the root's background
    assert shown(r, 30) == 0
    assert shown(r, 45) == 15
    assert shown(r, 47) == 17


def test_44_video_holds_last_frame(corpus_render, tmp_path):
    project = project_copy("44-video-hold", tmp_path)
    numbered_clip(project / "clip.mp4")
    r = corpus_render("44-video-hold", project=project)
    assert shown(r, 60) == 30
    assert shown(r, 89) == 59
    assert shown(r, 110) == 59  # past the 2 s source: the last frame is held
    assert shown(r, 119) == 59


def test_45_video_loop(corpus_render, tmp_path):
    project = project_copy("45-video-loop", tmp_path)
    numbered_clip(project / "clip.mp4")
    r = corpus_render("45-video-loop", project=project)
    assert shown(r, 45) == 45
    assert shown(r, 59) == 59
    assert shown(r, 60) == 0
    assert shown(r, 75) == 15  # local 2.5 s -> 0.5 s into the second loop
    assert shown(r, 77) == 17


def test_46_vfr_source_gives_cfr_frames(corpus_render, tmp_path):
    project = project_copy("46-video-vfr", tmp_path)
    numbered_clip(project / "vfr.mp4", vfr=True)
    r = corpus_render("46-video-vfr", project=project)
    table = json.loads((r.plan_dir / "meta" / "videos.json").read_text())["videos"]
    assert len(table) == 1
    entry = table[0]
    assert entry["source"]["is_vfr"] is True
    expected = math.ceil(1.5 * 30)
    assert abs(entry["frame_count"] - expected) <= 1, entry["frame_count"]
    files = sorted((r.plan_dir / entry["frames_dir"]).iterdir())
    assert len(files) == entry["frame_count"]
    assert len(r.frames) == 45
    numbers = [shown(r, k) for k in range(45)]
    assert numbers[0] == 0
    for k, n in enumerate(numbers):
        # a source frame that exists, near k/30 s; the CFR conversion fills each gap with a neighbour
        assert n % 3 != 1 and abs(n - k) <= 2, f"frame {k} shows source frame {n}: {numbers}"
    assert numbers == sorted(numbers)
    assert len(set(numbers)) >= 28  # most of the 30 source frames of the window appear


def open_session(plan_dir: Path, work: Path, **kw):
    """A CaptureSession on a frozen plan, set up exactly as render_chunk sets it up."""
    from hyperdesk.capture.session import CaptureSession, PageSpec
    from hyperdesk.plan.chunk import validate_chunk

    loaded = validate_chunk(Path(plan_dir), 0)
    cfg = loaded.encoder
    spec = PageSpec(
        compiled_dir=Path(plan_dir) / "compiled", fonts_dir=Path(plan_dir) / "fonts", plan_dir=Path(plan_dir),
        width=cfg.width, height=cfg.height, fps=cfg.fps, variables=dict(cfg.variables),
        capture_format=cfg.capture_format, jpeg_quality=cfg.jpeg_quality, png_fast=cfg.png_fast,
        transparent=cfg.transparent_background, videos=list(loaded.videos.videos),
    )
    work.mkdir(parents=True, exist_ok=True)
    return CaptureSession.open(spec, work, **kw)


BOX_JS = """() => {
  const v = document.querySelector('video');
  const img = v.nextElementSibling;
  const a = v.getBoundingClientRect(), b = img.getBoundingClientRect();
  const cs = getComputedStyle(img);
  return {tag: img.tagName, video: [a.x, a.y, a.width, a.height], image: [b.x, b.y, b.width, b.height],
          fit: cs.objectFit, visibility: cs.visibility, videoVisibility: getComputedStyle(v).visibility};
}"""


def test_47_video_image_box_and_object_fit(corpus_render, tmp_path):
    project = project_copy("47-video-box", tmp_path)
    mu.ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=160x90:r=30:d=1", "-vf",
              "drawbox=x=0:y=0:w=54:h=90:color=red:t=fill", "-c:v", "libx264", "-pix_fmt", "yuv420p",
              "-y", project / "halves.mp4")
    r = corpus_render("47-video-box", project=project)
    for f in (0, 15, 29):
        assert_colour(r, f, 15, 15, RED)     # top-left corner covered: no letterbox band
        assert_colour(r, f, 25, 105, RED)    # bottom-left
        assert_colour(r, f, 37, 15, BLUE)    # cover puts the edge at box x ~21 (fill: ~34)
        assert_colour(r, f, 105, 105, BLUE)
        assert_colour(r, f, 115, 60, BLACK)  # nothing outside the box
        assert_colour(r, f, 60, 115, BLACK)

    async def measure():
        session = await open_session(r.plan_dir, tmp_path / "session")
        try:
            await session.capture(15)
            return await session.evaluate(BOX_JS)
        finally:
            await session.close()

    box = asyncio.run(measure())
    assert box["tag"] == "IMG"
    assert box["video"] == pytest.approx([10, 10, 100, 100], abs=0.5)
    assert box["image"] == pytest.approx(box["video"], abs=0.5)
    assert box["fit"] == "cover"
    assert box["visibility"] == "visible" and box["videoVisibility"] == "hidden"


# --------------------------------------------------------------------------- 48-52: audio

TONE_DB = mu.dbfs(0.5 / math.sqrt(2))  # a sine at amplitude 0.5: -9.03 dBFS


def test_48_audio_start(corpus_render, tmp_path):
    project = project_copy("48-audio-start", tmp_path)
    mu.make_tone(project / "tone.wav", freq=1000, duration=1.0, amplitude=0.5)
    r = corpus_render("48-audio-start", project=project)
    s = mu.decode_audio(r.output)
    assert len(s) / mu.SAMPLE_RATE == pytest.approx(2.5, abs=1024 / mu.SAMPLE_RATE)
    win = 0.01
    levels = mu.rms_windows(s, win)
    before = levels[:int(round(1.98 / win))]
    assert max(before) < -60, f"sound before 1.98 s: {max(before):.1f} dBFS"
    during = levels[int(round(2.02 / win)):int(round(2.48 / win))]
    assert min(during) > TONE_DB - 1, f"tone missing after 2.02 s: {min(during):.1f} dBFS"
    assert max(during) < TONE_DB + 1


def test_49_data_volume_half_is_minus_6_02_db(corpus_render, tmp_path):
    project = project_copy("49-audio-volume", tmp_path)
    mu.make_tone(project / "tone.wav", freq=1000, duration=1.0, amplitude=0.5)
    r = corpus_render("49-audio-volume", project=project)
    s = mu.decode_audio(r.output)
    full = mu.rms_dbfs(s, 0.1, 0.9)  # volume 1
    half = mu.rms_dbfs(s, 1.1, 1.9)  # volume 0.5
    assert full == pytest.approx(TONE_DB, abs=0.1)
    assert full - half == pytest.approx(20 * math.log10(2), abs=0.1), (full, half)


def test_50_amix_keeps_individual_levels(corpus_render, tmp_path):
    project = project_copy("50-audio-amix-gain", tmp_path)
    mu.make_tone(project / "a.wav", freq=1000, duration=0.8, amplitude=0.5)
    mu.make_tone(project / "b.wav", freq=440, duration=0.8, amplitude=0.25)
    r = corpus_render("50-audio-amix-gain", project=project)
    s = mu.decode_audio(r.output)
    src_a = mu.rms_dbfs(mu.decode_audio(project / "a.wav"), 0.1, 0.7)
    src_b = mu.rms_dbfs(mu.decode_audio(project / "b.wav"), 0.1, 0.7)
    assert mu.rms_dbfs(s, 0.1, 0.7) == pytest.approx(src_a, abs=0.1)
    assert mu.rms_dbfs(s, 1.2, 1.8) == pytest.approx(src_b, abs=0.1)
    assert mu.rms_dbfs(s, 0.82, 1.08) < -60  # the gap between them
    assert mu.rms_dbfs(s, 1.92, 2.0) < -60


def test_51_audio_stream_format(corpus_render, tmp_path):
    project = project_copy("51-audio-format", tmp_path)
    mu.make_tone(project / "tone.wav", freq=1000, duration=1.0, amplitude=0.5)
    r = corpus_render("51-audio-format", project=project)
    streams = ffprobe_streams(r.output)
    audio = [s for s in streams if s["codec_type"] == "audio"]
    assert len(audio) == 1
    a = audio[0]
    assert a["codec_name"] == "aac"
    assert int(a["sample_rate"]) == 48000
    assert int(a["channels"]) == 2
    expected = r.manifest.total_frames / 30
    assert r.manifest.total_frames == 45
    aac_frame = 1024 / 48000
    assert abs(float(a["duration"]) - expected) <= aac_frame, a["duration"]
    assert abs(mu.audio_duration(r.output) - expected) <= aac_frame
    s = mu.decode_audio(r.output)
    assert mu.rms_dbfs(s, 0, 0.48) < -60 and mu.rms_dbfs(s, 0.55, 1.45) == pytest.approx(TONE_DB, abs=0.5)


def ffprobe_streams(path: Path) -> list[dict]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["streams"]


def test_52_silence_track_without_media(corpus_render):
    r = corpus_render("52-audio-silence")
    assert r.manifest.has_audio is False and r.manifest.audio_included is True
    audio = [s for s in ffprobe_streams(r.output) if s["codec_type"] == "audio"]
    assert len(audio) == 1
    s = mu.decode_audio(r.output)
    assert len(s) / mu.SAMPLE_RATE == pytest.approx(1.0, abs=1024 / mu.SAMPLE_RATE)
    assert float(abs(s).max()) == 0.0
    assert_colour(r, 0, 16, 16, WHITE)


# --------------------------------------------------------------------------- 53-55: iframe, fonts

BITS12 = [i * 20 + 10 for i in range(12)]


def test_53_iframe_clock_equals_parent(corpus_render):
    r = corpus_render("53-iframe-time")
    for f in (0, 15, 45):
        assert_colour(r, f, 285, 40, GREEN)   # the parent's rAF ran
        assert_colour(r, f, 285, 130, GREEN)  # the iframe's rAF ran
        parent = read_bits(r.frames[f], BITS12, 40)
        child = read_bits(r.frames[f], BITS12, 130)
        assert parent == child == math.floor(f * 1000 / 30), (f, parent, child)


USER_FONTS = Path.home() / ".local" / "share" / "fonts"


def _impostor_dejavu_sans(dest: Path) -> None:
    """A font file that calls itself "DejaVu Sans" but has DejaVu Serif's glyphs, so a render that
    let the system fontconfig choose could not stay identical."""
    from fontTools.ttLib import TTFont

    src = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")
    if not src.is_file():
        pytest.skip("no DejaVu Serif on this machine to build the extra font from")
    font = TTFont(src)
    for rec in font["name"].names:
        if rec.nameID in (1, 16):
            rec.string = "DejaVu Sans"
        elif rec.nameID == 4:
            rec.string = "DejaVu Sans"
        elif rec.nameID == 6:
            rec.string = "DejaVuSans"
    font.save(dest)


def test_54_font_isolation_from_user_fonts(corpus_render):
    without = corpus_render("54-font-isolation")
    created_dir = not USER_FONTS.exists()
    extra = USER_FONTS / "hyperdesk-corpus54-DejaVuSans.ttf"
    USER_FONTS.mkdir(parents=True, exist_ok=True)
    try:
        _impostor_dejavu_sans(extra)
        if shutil.which("fc-list"):
            listed = subprocess.run(["fc-list", "DejaVu Sans", "file"], capture_output=True, text=True).stdout
            assert str(extra) in listed, "the machine's fontconfig does not see the extra font"
        with_extra = corpus_render("54-font-isolation", project=CORPUS / "54-font-isolation")
    finally:
        extra.unlink(missing_ok=True)
        if created_dir:
            shutil.rmtree(USER_FONTS, ignore_errors=True)
    assert without.manifest.plan_hash == with_extra.manifest.plan_hash
    assert without.frame_sha256 == with_extra.frame_sha256
    assert without.output.read_bytes() == with_extra.output.read_bytes()
    # and there is text in it
    band = without.frames[0][20:60, 10:300, :3]
    assert int(band.min()) < 64


def test_55_generic_sans_serif_is_inter(corpus_render):
    r = corpus_render("55-generic-family", format="png-sequence")
    frame = r.frames[0]
    generic = frame[20:60, :, :3]
    inter = frame[110:150, :, :3]
    assert int(generic.min()) < 64, "no text rendered"
    assert np.array_equal(generic, inter), "sans-serif text differs from Inter text"


# --------------------------------------------------------------------------- 56-60: assets, network, GL

REMOTE = re.compile(r"(?i)\bhttps?:|//(assets\.example\.com|cdn\.jsdelivr\.net)")
DOT_URL = "https://assets.example.com/img/dot.png"
GSAP_URL = "https://cdn.jsdelivr.net/npm/gsap@3.12.5/dist/gsap.min.js"


def test_56_no_remote_url_left_in_compiled_html_or_css(corpus_render, tmp_path):
    assets = tmp_path / "asset-dir"
    host = assets / "assets.example.com"
    (host / "img").mkdir(parents=True)
    (host / "css").mkdir()
    mu.ffmpeg("-f", "lavfi", "-i", "color=c=red:s=16x16", "-frames:v", "1", "-y", host / "img" / "dot.png")
    (host / "css" / "theme.css").write_text(
        '@import url("extra.css");\n#theme { left: 20px; background-image: url("../img/dot.png"); }\n')
    (host / "css" / "extra.css").write_text(f"#extra {{ left: 100px; background-image: url({DOT_URL}); }}\n")
    r = corpus_render("56-frozen-assets", asset_dirs=[str(assets)])
    scanned = []
    for p in sorted((r.plan_dir / "compiled").rglob("*")) + [r.plan_dir / "fonts" / "fonts.css"]:
        if p.is_file() and p.suffix.lower() in (".html", ".htm", ".css"):
            scanned.append(p)
            text = p.read_text(encoding="utf-8", errors="replace")
            m = REMOTE.search(text)
            assert m is None, f"{p.relative_to(r.plan_dir)} still refers to {text[max(0, m.start() - 60):m.end() + 60]!r}"
    assert len([p for p in scanned if p.suffix == ".css"]) >= 2  # the two frozen stylesheets were scanned
    table = {a["url"]: a for a in json.loads((r.plan_dir / "meta" / "assets.json").read_text())["assets"]}
    assert table[DOT_URL]["tier"] == "asset-dir"
    assert table[GSAP_URL]["tier"] == "npm"
    assert not [w for w in r.warnings if w.code == "REQUEST_BLOCKED"]
    for x, y in ((40, 40), (120, 40), (200, 40), (280, 40), (40, 120), (120, 120)):
        assert_colour(r, 0, x, y, RED)
    assert_colour(r, 0, 200, 120, GREEN)  # gsap came from its frozen copy


def test_57_offline_resolver_serves_cdn_url_from_npm(corpus_render, tmp_path, monkeypatch):
    shared_npm = Path(os.environ["HYPERDESK_CACHE_DIR"]) / "assets" / "npm"
    cache = tmp_path / "cache"
    (cache / "assets" / "npm").mkdir(parents=True)
    # Only the default face's tarball is seeded (so the test does not refetch Inter); GSAP is not.
    for tgz in shared_npm.glob("fontsource-inter-*.tgz"):
        shutil.copy2(tgz, cache / "assets" / "npm" / tgz.name)
    monkeypatch.setenv("HYPERDESK_CACHE_DIR", str(cache))
    r = corpus_render("57-offline-resolver", faults=FaultPlan(loopback_only=True))  # the CDN is unreachable
    table = {a["url"]: a for a in json.loads((r.plan_dir / "meta" / "assets.json").read_text())["assets"]}
    rec = table[GSAP_URL]
    assert (rec["tier"], rec["package"], rec["version"]) == ("npm", "gsap", "3.12.5")
    assert rec["path"].startswith("compiled/__hd/remote/")
    assert hashlib.sha256((r.plan_dir / rec["path"]).read_bytes()).hexdigest() == rec["sha256"]
    assert (cache / "assets" / "npm" / "gsap-3.12.5.tgz").is_file()  # came through npm pack
    # the tween runs: frame 15 -> x = 50, box [50, 70)
    assert_colour(r, 15, 60, 90, RED)
    assert_colour(r, 15, 44, 90, BLACK)
    assert_colour(r, 15, 76, 90, BLACK)


def test_58_fetch_failure_names_url_and_asset_dir(tmp_path):
    from hyperdesk.errors import HyperdeskError
    from hyperdesk.plan.config import RenderConfig
    from hyperdesk.plan.planner import plan

    url = "https://assets.invalid/corpus58/missing-lib.js"
    with pytest.raises(HyperdeskError) as info:
        plan(CORPUS / "58-fetch-failure", RenderConfig(), tmp_path / "plan")
    err = info.value
    assert err.code == "ASSET_FETCH_FAILED"
    assert url in err.message
    assert "--asset-dir" in err.message
    assert err.details["url"] == url
    assert not (tmp_path / "plan").exists()


def test_59_runtime_request_blocked_and_listed(corpus_render):
    r = corpus_render("59-network-blocked")
    blocked = [w for res in r.results for w in res.warnings if w.code == "REQUEST_BLOCKED"]
    assert any((w.url or "").startswith("https://example.com") or "https://example.com" in w.message
               for w in blocked), blocked
    assert len(r.frames) == 6


def test_60_software_gl(corpus_render, tmp_path):
    from hyperdesk.errors import HyperdeskError
    from hyperdesk.faults import FaultPlan
    from hyperdesk.plan.chunk import render_chunk

    r = corpus_render("60-software-gl")
    assert_colour(r, 0, 32, 18, GREEN)  # the page's own WebGL renderer string names SwiftShader
    fake = "ANGLE (NVIDIA, NVIDIA GeForce RTX 3080 Direct3D11 vs_5_0 ps_5_0, D3D11)"
    with pytest.raises(HyperdeskError) as info:
        render_chunk(r.plan_dir, 0, tmp_path / "gl.mp4", faults=FaultPlan(gl_renderer=fake))
    assert info.value.code == "BROWSER_GPU_NOT_SOFTWARE"
    assert "RTX 3080" in info.value.message
    assert not (tmp_path / "gl.mp4").exists()


# --------------------------------------------------------------------------- 61-64: page environment, failures


def test_61_text_rendering_geometric_precision(corpus_render):
    r = corpus_render("61-text-rendering")
    for f in (0, 5):
        assert_colour(r, f, 130, 67, GREEN)


def test_62_time_zone_utc(corpus_render):
    r = corpus_render("62-time-zone")
    assert_colour(r, 0, 16, 18, GREEN)  # getTimezoneOffset() === 0
    assert_colour(r, 0, 48, 18, GREEN)  # resolved time zone "UTC"


def test_63_script_error_fails_render(corpus_render):
    from hyperdesk.errors import HyperdeskError

    with pytest.raises(HyperdeskError) as info:
        corpus_render("63-script-error")
    assert info.value.code == "PAGE_SCRIPT_ERROR"
    assert "corpus-63 thrown at load" in info.value.message


def test_64_never_ready_names_the_timeline(corpus_render):
    """Issue 10: a root timeline that never appears follows the rule of sub-composition timelines:
    readiness waits up to the timeline wait, then the render completes with a
    TIMELINE_NOT_REGISTERED warning naming the id (it used to fail with PAGE_NOT_READY).
    The 45 s readiness limit is shortened through render_chunk's faults (3 s: a 2.25 s wait)."""
    from hyperdesk.faults import FaultPlan

    r = corpus_render("64-never-ready", faults=FaultPlan(ready_timeout_s=3))
    assert len(r.frames) == 6
    found = [w for w in r.warnings if w.code == "TIMELINE_NOT_REGISTERED"]
    assert len(found) == len(r.results) >= 1, r.warnings  # one per chunk (each chunk loads the page)
    assert all('window.__timelines["never64"]' in w.message and "root composition" in w.message for w in found)


# --------------------------------------------------------------------------- 65: capture modes

SAMPLE = CORPUS.parent.parent / "resources" / "sample"


def test_65_beginframe_and_screenshot_capture_identical(tmp_path):
    from hyperdesk.plan.chunk import render_chunk
    from hyperdesk.plan.config import RenderConfig
    from hyperdesk.plan.planner import plan

    subprocess.run([sys.executable, str(SAMPLE.parent.parent / "scripts" / "make_sample_media.py")], check=True)
    planned = plan(SAMPLE, RenderConfig(keyframe_interval=15, chunk_frames=15), tmp_path / "plan")
    assert planned.manifest.chunk_count == 20
    for index in (0, 6):  # frames 0-14 (title tweens from nothing), 90-104 (the WAAPI card enters at 3 s)
        bf = render_chunk(planned.plan_dir, index, tmp_path / f"bf{index}.mp4", mode="beginframe")
        ss = render_chunk(planned.plan_dir, index, tmp_path / f"ss{index}.mp4", mode="screenshot")
        assert (bf.capture_mode, ss.capture_mode) == ("beginframe", "screenshot")
        diff = [i for i, (a, b) in enumerate(zip(bf.frame_sha256, ss.frame_sha256)) if a != b]
        assert len(bf.frame_sha256) == len(ss.frame_sha256) == 15
        assert not diff, f"chunk {index}: frames {[bf.start_frame + i for i in diff]} differ between modes"
        assert bf.sha256 == ss.sha256
