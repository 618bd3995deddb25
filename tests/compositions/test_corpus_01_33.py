"""Conformance corpus, checklist lines 1-33 (composition contract section 14).

One composition folder per line under tests/compositions/NN-slug/, rendered through the real
pipeline (plan -> every chunk -> assemble) by the `corpus_render` fixture, then decoded: each test
asserts what a viewer of the output would see at named frames. Renders are 30 fps and 320x180
unless the line says otherwise. H.264 outputs are read with a colour tolerance, away from edges;
lines that need exact values or sub-pixel positions render a png-sequence.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import mediautil as mu

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parent

BLACK = (0, 0, 0)
WHITE = (255, 255, 255)
RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
GREY = (128, 128, 128)

PNG = "png-sequence"
GSAP_URL = "https://cdn.jsdelivr.net/npm/gsap@3.12.5/dist/gsap.min.js"


# ---------------------------------------------------------------------------------------- helpers


def near(px, rgb, tol: int = 24) -> bool:
    """H.264 (4:2:0, limited range) moves flat colours by a few levels; tol is per channel."""
    return all(abs(int(a) - int(b)) <= tol for a, b in zip(px[:3], rgb))


def assert_colour(r, frame: int, x: int, y: int, rgb, tol: int = 24, what: str = "") -> None:
    px = r.pixel(frame, x, y)
    assert near(px, rgb, tol), f"{what} frame {frame} pixel ({x},{y}) = {px}, expected {rgb} +-{tol}"


def count_colour(frame: np.ndarray, rgb, tol: int = 60) -> int:
    d = np.abs(frame[:, :, :3].astype(int) - np.array(rgb)[None, None, :]).max(axis=2)
    return int((d <= tol).sum())


def brightness(frame: np.ndarray, y: int) -> np.ndarray:
    """Mean channel value along row y, composited over black (png-sequence frames carry alpha: the
    alpha formats render page and root backgrounds transparent)."""
    row = frame[y, :, :3].astype(float).mean(axis=1)
    if frame.shape[2] == 4:
        row = row * frame[y, :, 3].astype(float) / 255.0
    return row


def left_edge(frame: np.ndarray, y: int, threshold: int = 128) -> int | None:
    """First x on row y whose brightness exceeds threshold (a bright box on black)."""
    row = brightness(frame, y)
    hits = np.nonzero(row > threshold)[0]
    return int(hits[0]) if hits.size else None


def bright_span(frame: np.ndarray, y: int) -> tuple[float, float]:
    """(centre, width) of a white box on black on row y: the width is the summed coverage and the
    centre its centroid, both sub-pixel. (Chromium paints a box at a half-pixel offset as whole
    pixels, one wider; the centre stays exact.)"""
    cov = brightness(frame, y) / 255.0
    width = float(cov.sum())
    assert width > 0, f"nothing bright on row {y}"
    centre = float(((np.arange(cov.size) + 0.5) * cov).sum() / width)
    return centre, width


def box_left(frame: np.ndarray, y: int, width: float) -> float:
    """Sub-pixel left edge of a white box of known width on row y (from its painted centre)."""
    centre, painted = bright_span(frame, y)
    assert abs(painted - width) <= 1.0, f"painted width {painted} on row {y}, box is {width}"
    return centre - width / 2


def frame_count_and_size(r) -> tuple[int, tuple[int, int]]:
    frames = r.frames
    return len(frames), (frames[0].shape[1], frames[0].shape[0])


def codes(warnings) -> list[str]:
    return [getattr(w, "code", None) or w.get("code") for w in warnings]


# ------------------------------------------------------------------------------- 1-4 document shapes


def test_01_default_size(corpus_render):
    r = corpus_render("01-default-size", fps="5")
    assert mu.video_size(r.output) == (1080, 1920)
    assert mu.count_frames(r.output) == 5
    # the viewport itself is 1080x1920: the corner marker (right: 0; bottom: 0 of a 100vw x 100vh root)
    for f in (0, 4):
        assert_colour(r, f, 1040, 1860, BLUE, what="corner marker")
        assert_colour(r, f, 540, 960, BLACK, what="middle")


def test_02_fragment_wrap(corpus_render):
    r = corpus_render("02-fragment-wrap")
    assert frame_count_and_size(r) == (30, (320, 180))
    for f in (0, 29):
        assert_colour(r, f, 2, 2, RED, what="10x10 box at (0,0)")
        assert_colour(r, f, 20, 20, BLACK, tol=8, what="reset body background")


def test_03_template_only(corpus_render):
    r = corpus_render("03-template-only")
    for i, frame in enumerate(r.frames):
        assert count_colour(frame, RED) == 0, f"content outside <template> reached frame {i}"
    for f in (0, 29):
        assert_colour(r, f, 160, 90, BLUE, what="template content")
        assert_colour(r, f, 40, 90, BLACK, what="outside the template box")


def test_04_root_choice(corpus_render):
    r = corpus_render("04-root-choice")
    assert mu.video_size(r.output) == (200, 100)
    assert mu.count_frames(r.output) == 30  # the data-root element's 1 s, not the wrapper's 2 s
    assert_colour(r, 0, 100, 50, GREEN, what="data-root element")
    assert count_colour(r.frames[0], RED) == 0


# ------------------------------------------------------------------------------- 5-8 visibility


def test_05_half_open_window(corpus_render):
    r = corpus_render("05-half-open-window")
    assert len(r.frames) == 63
    for f in (0, 29, 60, 62):
        assert_colour(r, f, 160, 90, BLACK, what="outside [1, 2)")
    for f in (30, 45, 59):
        assert_colour(r, f, 160, 90, GREEN, what="inside [1, 2)")


def test_06_ancestor_rule(corpus_render):
    r = corpus_render("06-ancestor-rule")
    for f in (0, 29, 60, 75):
        assert_colour(r, f, 160, 90, BLACK, what="parent outside its window")
    for f in (30, 45, 59):
        assert_colour(r, f, 160, 90, GREEN, what="parent and child inside their windows")


def test_07_data_hidden(corpus_render):
    r = corpus_render("07-data-hidden")
    for i, frame in enumerate(r.frames):
        assert count_colour(frame[:, :160], RED) == 0, f"the data-hidden clip shows at frame {i}"
        assert near(mu.pixel(frame, 250, 90), GREEN), f"computed display is not none at frame {i}"


def test_08_in_flow_leaf(corpus_render):
    r = corpus_render("08-in-flow-leaf")
    assert_colour(r, 29, 160, 30, RED, what="first clip")
    assert_colour(r, 29, 160, 90, BLUE, what="second clip below the first")
    assert_colour(r, 30, 160, 30, BLUE, what="second clip moved up")
    assert_colour(r, 30, 160, 90, BLACK, what="nothing below")
    assert_colour(r, 44, 160, 30, BLUE)


# ------------------------------------------------------------------------------- 9-13 start times


def test_09_reference_start(corpus_render):
    r = corpus_render("09-reference-start")
    assert len(r.frames) == 120
    assert_colour(r, 29, 70, 90, BLACK, what="intro before 1 s")
    assert_colour(r, 30, 70, 90, BLUE, what="intro at 1 s")
    assert_colour(r, 89, 70, 90, BLUE)
    assert_colour(r, 90, 70, 90, BLACK, what="intro after 3 s")
    assert_colour(r, 104, 250, 90, BLACK, what="clip before intro + 0.5")
    assert_colour(r, 105, 250, 90, GREEN, what="clip at intro + 0.5 = 3.5 s")
    assert_colour(r, 119, 250, 90, GREEN)


def test_10_id_with_hyphen(corpus_render):
    r = corpus_render("10-id-with-hyphen")
    assert_colour(r, 15, 120, 30, (255, 0, 255), what="element intro-2")
    for f in (0, 15, 29):
        assert_colour(r, f, 160, 120, BLACK, what="follower before intro-2 ends")
    for f in (30, 44):
        assert_colour(r, f, 160, 120, GREEN, what="follower from the end of intro-2")


def test_11_missing_reference(corpus_render):
    r = corpus_render("11-missing-reference")
    assert_colour(r, 0, 160, 90, GREEN, what="clip starts at 0")
    assert_colour(r, 14, 160, 90, GREEN)
    assert_colour(r, 15, 160, 90, BLACK, what="clip ends at 0 + 0.5")
    assert codes(r.warnings) == ["START_REFERENCE_MISSING"], r.warnings  # one warning in the whole render
    assert "nowhere" in r.warnings[0].message


def test_12_nested_time_base(corpus_render):
    r = corpus_render("12-nested-time-base")
    assert len(r.frames) == 186
    for f in (0, 150, 179):
        assert_colour(r, f, 160, 90, BLACK, what="before host start + 1")
    for f in (180, 185):
        assert_colour(r, f, 160, 90, GREEN, what="at host start 5 + 1 = 6 s")


def test_13_depth_3_inlining(corpus_render):
    r = corpus_render("13-depth-3-inlining")
    compiled = (r.plan_dir / "compiled" / "index.html").read_text()
    assert "data-composition-src" not in compiled
    for f in (0, 30, 59):
        assert_colour(r, f, 160, 90, BLACK, what="before 1 + 0.5 + 0.25 + 0.25")
    for f in (60, 74):
        assert_colour(r, f, 160, 90, GREEN, what="at the accumulated start 2.0 s")


# ------------------------------------------------------------------------------- 14-18 sub-compositions


def test_14_repeated_mounts(corpus_render):
    r = corpus_render("14-repeated-mounts", format=PNG)
    compiled = (r.plan_dir / "compiled" / "index.html").read_text()
    assert 'data-composition-id="card__hf1"' in compiled and 'data-composition-id="card__hf2"' in compiled
    for f in (0, 15, 30, 47):
        assert_colour(r, f, 285, 75, GREEN, tol=0, what="timeline keys card__hf1, card__hf2")
    # box 1 follows host start 0, box 2 host start 0.5 (hidden before it; x 0 -> 100 over 1 s)
    expected = {0: (0, None), 15: (50, 0), 30: (100, 50), 45: (100, 100)}
    for f, (x1, x2) in expected.items():
        assert left_edge(r.frames[f], 30) == x1, f"card 1 at frame {f}"
        assert left_edge(r.frames[f], 120) == x2, f"card 2 at frame {f}"


def test_15_css_scoping(corpus_render):
    r = corpus_render("15-css-scoping")
    for f in (0, 29):
        assert_colour(r, f, 70, 90, BLUE, what="root .title keeps its own colour")
        assert_colour(r, f, 250, 90, RED, what="sub-composition .title")


def test_16_scoped_scripts(corpus_render):
    r = corpus_render("16-scoped-scripts")
    frame = r.frames[0]
    assert left_edge(frame, 25, threshold=100) == 20, "the root's .dot moved"
    assert_colour(r, 0, 35, 25, WHITE, what="root dot")
    for y in (85, 145):
        row = frame[y, :, :3].astype(int)
        greens = np.nonzero((row[:, 1] > 160) & (row[:, 0] < 100))[0]
        assert greens.size and abs(int(greens[0]) - 200) <= 1 and abs(int(greens[-1]) - 229) <= 1, \
            f"instance dot on row {y}: green columns {greens.min() if greens.size else None}..{greens.max() if greens.size else None}"


def check_host_seek_formula(r) -> None:
    assert len(r.frames) == 93
    assert count_colour(r.frames[59], WHITE) == 0, "host not started before 2 s"
    # local = 0.5 + (t - 2) * 2; x = local * 25
    for f, x in ((60, 12.5), (75, 37.5), (90, 62.5)):
        assert box_left(r.frames[f], 90, 40) == pytest.approx(x, abs=0.25), f"frame {f}"


def test_17_host_seek_formula(corpus_render):
    check_host_seek_formula(corpus_render("17-host-seek-formula", format=PNG))


def test_17_host_seek_formula_with_root_timeline(corpus_render, tmp_path):
    """The same host when the root registers a timeline of its own (no fallback binding involved)."""
    project = tmp_path / "rooted"
    shutil.copytree(CORPUS / "17-host-seek-formula", project)
    html = (project / "index.html").read_text()
    assert 'data-duration="3.1" data-no-timeline>' in html
    html = html.replace('data-duration="3.1" data-no-timeline>', 'data-duration="3.1">')
    html = html.replace("</body>", f'<script src="{GSAP_URL}"></script>\n'
                        '<script>window.__timelines["seek17"] = gsap.timeline({ paused: true });</script>\n</body>')
    (project / "index.html").write_text(html)
    check_host_seek_formula(corpus_render("17-host-seek-formula", project=project, format=PNG))


def test_18_short_inner_timeline(corpus_render):
    r = corpus_render("18-short-inner-timeline", format=PNG)
    assert left_edge(r.frames[15], 90) == 50
    for f in (30, 60, 75, 89):
        assert left_edge(r.frames[f], 90) == 100, f"final state not held at frame {f}"
        assert bright_span(r.frames[f], 90) == pytest.approx((120, 40), abs=0.01)


# ------------------------------------------------------------------------------- 19-22 variables, duration


def test_19_variable_text(corpus_render, tmp_path):
    r = corpus_render("19-variable-text", format=PNG, variables={"title": "Hello"})
    literal = tmp_path / "literal"
    shutil.copytree(CORPUS / "19-variable-text", literal)
    html = (literal / "index.html").read_text()
    bound = '<div id="title" data-var-text="title">Default</div>'
    assert bound in html
    (literal / "index.html").write_text(html.replace(bound, '<div id="title">Hello</div>'))
    ref = corpus_render("19-variable-text", project=literal, format=PNG)
    assert count_colour(r.frames[0], WHITE, tol=30) > 100, "no text rendered"
    assert r.frame_sha256 == ref.frame_sha256
    for a, b in zip(r.frames, ref.frames):
        assert np.array_equal(a, b)


def test_20_variable_css(corpus_render):
    r = corpus_render("20-variable-css", format=PNG, variables={"accent": "#00ff00"})
    for f in (0, 14):
        assert near(r.pixel(f, 160, 90), GREEN, tol=2), r.pixel(f, 160, 90)


def test_21_instance_variables(corpus_render):
    r = corpus_render("21-instance-variables")
    for f in (0, 14):
        assert_colour(r, f, 80, 90, BLUE, what="instance with data-variable-values")
        assert_colour(r, f, 240, 90, RED, what="instance with the file default")


def test_22_duration_getter(corpus_render):
    r = corpus_render("22-duration-getter")
    for f in (0, 44):
        assert_colour(r, f, 70, 90, GREEN, what="__hf.duration 0 before readiness")
        assert_colour(r, f, 250, 90, GREEN, what="__hf.duration = data-duration after readiness")


# ------------------------------------------------------------------------------- 23-29 animation runtimes


def test_23_gsap_tween(corpus_render):
    r = corpus_render("23-gsap-tween", format=PNG)
    for f, x in ((0, 0), (6, 20), (15, 50), (27, 90)):
        assert bright_span(r.frames[f], 90) == pytest.approx((x + 20, 40), abs=0.01), f"frame {f}"


def test_24_gsap_clamp(corpus_render):
    r = corpus_render("24-gsap-clamp")
    assert len(r.frames) == 90
    assert_colour(r, 0, 160, 90, BLACK, what="from() opacity 0")
    assert_colour(r, 30, 160, 90, GREY, tol=12, what="opacity 0.5 at 1 s")
    for f in (60, 80, 89):
        assert_colour(r, f, 160, 90, WHITE, tol=6, what="held final state")


def read_bits(frame: np.ndarray, n: int = 12) -> int:
    """The 12 bit squares of 25-gsap-callbacks (bit 11 first, white = 1)."""
    value = 0
    for i in range(n):
        bit = mu.pixel(frame, 4 + i * 26 + 10, 130)
        value = (value << 1) | (1 if sum(bit[:3]) / 3 > 128 else 0)
    return value


def test_25_gsap_callbacks(corpus_render):
    r = corpus_render("25-gsap-callbacks")
    assert read_bits(r.frames[15]) == 500
    assert read_bits(r.frames[45]) == 1500
    assert read_bits(r.frames[30]) == 1000
    assert read_bits(r.frames[1]) == 33  # the text says "33.333333333333336"; the bit shifts truncate it


def test_26_css_animation(corpus_render):
    r = corpus_render("26-css-animation", format=PNG)
    assert count_colour(r.frames[29], WHITE) == 0, "visible before data-start"
    for f, x in ((30, 0), (45, 50), (54, 80), (60, 100)):
        assert left_edge(r.frames[f], 90) == x, f"frame {f}"


def test_27_late_css_clip(corpus_render):
    r = corpus_render("27-late-css-clip", format=PNG, keyframe_interval=15, chunk_frames=45)
    assert [res.start_frame for res in r.results] == [0, 45]
    assert count_colour(r.frames[29], WHITE) == 0, "visible before data-start"
    for f, x in ((30, 0), (45, 50), (60, 100)):
        assert left_edge(r.frames[f], 90) == x, f"frame {f}"
    assert bright_span(r.frames[60], 90) == pytest.approx((110, 20), abs=0.01)


def test_28_waapi(corpus_render):
    # PNG: exact bytes. The root's own black background stays opaque in alpha formats (issue 10:
    # only html/body are cleared), so the white box at opacity a is the grey 255 a +- 1.
    r = corpus_render("28-waapi", format=PNG)

    def grey(frame: int) -> float:
        px = r.pixel(frame, 160, 90)
        assert px[3] == 255 and px[0] == px[1] == px[2], px
        return px[0]

    assert abs(grey(15) - 127.5) <= 1  # opacity 0.5 +- 1/255
    assert grey(0) == 0
    assert abs(grey(6) - 51) <= 1  # opacity 0.2
    assert grey(29) >= 245


def test_29_raf(corpus_render):
    r = corpus_render("29-raf", format=PNG)
    for f, w in ((15, 50), (30, 100), (32, 320 / 3)):
        centre, width = bright_span(r.frames[f], 90)
        assert width == pytest.approx(w, abs=0.5), f"frame {f}"
        assert centre == pytest.approx(width / 2, abs=0.01), f"frame {f}: the bar starts at x = 0"


# ------------------------------------------------------------------------------- 30-33 the shim


def test_30_date(corpus_render):
    r = corpus_render("30-date")
    assert_colour(r, 45, 160, 90, GREEN, what="toISOString() == 1970-01-01T00:00:01.500Z")
    for f in (0, 44, 46):
        assert_colour(r, f, 160, 90, RED, what="other frames")


MULBERRY_T0 = 0.3588899802416563
MULBERRY_T500 = 0.08995197480544448


def random_rgb(value: float) -> tuple[int, int, int]:
    v = int(value * 16777216)
    return (v >> 16) & 255, (v >> 8) & 255, v & 255


def test_31_math_random(corpus_render):
    one = corpus_render("31-math-random", format=PNG, keyframe_interval=15, chunk_frames=30)
    two = corpus_render("31-math-random", format=PNG, keyframe_interval=15, chunk_frames=15)
    assert len(one.results) == 1 and [res.start_frame for res in two.results] == [0, 15]
    for r in (one, two):
        assert r.pixel(0, 70, 90)[:3] == random_rgb(MULBERRY_T0)
        assert r.pixel(0, 250, 90)[:3] == GREEN
        assert r.pixel(15, 70, 90)[:3] == random_rgb(MULBERRY_T500)
        assert r.pixel(15, 250, 90)[:3] == GREEN
    assert one.frame_sha256 == two.frame_sha256
    for a, b in zip(one.frames, two.frames):
        assert np.array_equal(a, b)


def test_32_get_random_values(corpus_render):
    r = corpus_render("32-get-random-values", format=PNG)
    assert [r.pixel(0, 40 + 80 * i, 50)[0] for i in range(4)] == [184, 54, 224, 91]
    assert r.pixel(0, 160, 140)[:3] == GREEN


def test_33_timers_not_virtual(corpus_render):
    r = corpus_render("33-timers-not-virtual")
    for f in (0, 14):
        assert_colour(r, f, 160, 90, GREEN, what="setTimeout/setInterval are native")
