"""Issue 16, fidelity: chunking never changes a frame; a host's content stays hidden until its start;
page-side shader transitions are refused, never rendered as the library's loader.

The history-dependent pages (fid-anime-history, fid-gsap-call-canvas) are rendered as png-sequences
with chunks of 30 frames (four chunks, the plan's seam audit turns pre-roll on) and of 300 (one
chunk, no audit): the frames must be byte-identical. With pre-roll forced off the 30-frame chunks
differ, which shows the pages do depend on history. fid-host-start checks pixel values before and
after each host's data-start; fid-shader-transition uses HyperShader.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from hyperdesk.errors import CODES, INPUT, HyperdeskError
from hyperdesk.plan.chunk import render_chunk
from hyperdesk.plan.config import RenderConfig
from hyperdesk.plan.planner import plan

CORPUS = Path(__file__).resolve().parent

pytestmark = pytest.mark.slow

RED, BLUE, BLACK = (255, 0, 0), (0, 0, 255), (0, 0, 0)
LEFT_BG, RIGHT_BG = (0x12, 0x34, 0x56), (0x34, 0x56, 0x12)


def rgb(r, frame: int, x: int, y: int) -> tuple:
    return tuple(r.pixel(frame, x, y)[:3])


def chunk_table(r) -> dict:
    return json.loads((r.plan_dir / "meta" / "chunks.json").read_text())


def frame_bytes(r) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(r.output.glob("frame_*.png"))]


def render_both(corpus_render, name: str):
    chunked = corpus_render(name, format="png-sequence", chunk_frames=30, keyframe_interval=30)
    whole = corpus_render(name, format="png-sequence", chunk_frames=300, keyframe_interval=30)
    return chunked, whole


@pytest.mark.parametrize("name", ["fid-anime-history", "fid-gsap-call-canvas"])
def test_history_dependent_page_chunk_sizes_give_identical_frames(corpus_render, name):
    chunked, whole = render_both(corpus_render, name)
    assert chunked.manifest.chunk_count == 4 and whole.manifest.chunk_count == 1
    assert chunk_table(chunked)["preroll_from"] == 0, "the seam audit did not turn pre-roll on"
    assert chunk_table(whole)["preroll_from"] is None, "one chunk has nothing to pre-roll"
    assert [w.code for w in chunked.manifest.warnings].count("PREROLL_ON") == 1
    assert "PREROLL_ON" not in [w.code for w in whole.manifest.warnings]
    assert chunked.frame_sha256 == whole.frame_sha256
    assert frame_bytes(chunked) == frame_bytes(whole)
    assert len(frame_bytes(whole)) == 120


@pytest.mark.parametrize("name", ["fid-anime-history", "fid-gsap-call-canvas"])
def test_history_dependent_page_without_preroll_differs(corpus_render, name):
    """The control: the same chunks on fresh pages draw other frames, so the test pages do depend on history."""
    _, whole = render_both(corpus_render, name)
    fresh = corpus_render(name, format="png-sequence", chunk_frames=30, keyframe_interval=30, preroll="off")
    assert chunk_table(fresh)["preroll_from"] is None
    # Not audited (pre-roll forced off): the corpus's warm browser gives every chunk a fresh page.
    assert chunk_table(fresh)["page_pure"] is False
    assert [r.session_chunk for r in fresh.results] == [1] * len(fresh.results)
    assert fresh.frame_sha256[:30] == whole.frame_sha256[:30]
    assert fresh.frame_sha256 != whole.frame_sha256


def test_anime_is_resolved_from_its_cdn_url_through_npm(corpus_render):
    chunked, _ = render_both(corpus_render, "fid-anime-history")
    assets = json.loads((chunked.plan_dir / "meta" / "assets.json").read_text())["assets"]
    anime = [a for a in assets if "animejs@3.2.2" in a["url"]]
    assert len(anime) == 1 and anime[0]["tier"] == "npm", assets
    assert anime[0]["package"] == "animejs" and anime[0]["version"] == "3.2.2"


def test_anime_history_ends_on_the_later_timeline(corpus_render):
    """The box ends rotated 45° (a diamond), as the one-process render draws it: the unrotated
    square's corner (133, 63) is outside the diamond, its centre red."""
    chunked, _ = render_both(corpus_render, "fid-anime-history")
    for frame in (90, 119):
        assert rgb(chunked, frame, 160, 90) == RED
        assert rgb(chunked, frame, 133, 63) == BLACK, f"frame {frame}: a square, not a diamond"


def test_gsap_call_canvas_trail_in_the_last_chunk(corpus_render):
    """Stamps before frame 90 sit at different x along the dot's path: the first (t = 0.2 s, x = 15)
    and the eighth (t = 2.3 s, x = 172.5) are both on the canvas at frame 119."""
    chunked, _ = render_both(corpus_render, "fid-gsap-call-canvas")
    first, eighth = rgb(chunked, 119, 20, 100), rgb(chunked, 119, 178, 130)
    assert first != BLACK and eighth != BLACK, (first, eighth)


def test_prerolled_chunk_rendered_twice_gives_the_same_bytes(corpus_render, tmp_path):
    chunked, _ = render_both(corpus_render, "fid-anime-history")
    again = render_chunk(chunked.plan_dir, 3, tmp_path / "again")
    assert again.sha256 == chunked.results[3].sha256
    assert again.frame_sha256 == chunked.results[3].frame_sha256
    perf = json.loads(Path(again.perf_path).read_text())
    assert perf["preroll"]["frames"] == 89  # frames 0-88; frame 89 is the usual warm-up


def test_pure_page_chunks_do_not_preroll(corpus_render):
    r = corpus_render("23-gsap-tween", format="png-sequence", chunk_frames=15, keyframe_interval=15)
    assert r.manifest.chunk_count > 1
    assert chunk_table(r)["preroll_from"] is None
    assert "PREROLL_ON" not in [w.code for w in r.manifest.warnings]
    assert all(json.loads(Path(x.perf_path).read_text())["preroll"]["frames"] == 0 for x in r.results)


def test_host_content_hidden_before_host_start(corpus_render):
    r = corpus_render("fid-host-start", format="png-sequence")
    # before 1 s nothing of either scene; the left scene's panel says visibility:visible in its CSS
    for frame in (0, 29):
        assert rgb(r, frame, 80, 90) == BLACK and rgb(r, frame, 10, 10) == BLACK
        assert rgb(r, frame, 240, 90) == BLACK and rgb(r, frame, 170, 10) == BLACK
    assert rgb(r, 30, 10, 10) == LEFT_BG and rgb(r, 30, 80, 90) == RED
    # the right scene (gsap.set visibility:visible) stays hidden until 2 s
    for frame in (30, 59):
        assert rgb(r, frame, 240, 90) == BLACK and rgb(r, frame, 170, 10) == BLACK
    assert rgb(r, 60, 170, 10) == RIGHT_BG and rgb(r, 60, 240, 90) == BLUE
    assert rgb(r, 89, 80, 90) == RED and rgb(r, 89, 240, 100) == BLUE


def test_page_side_shader_transitions_are_refused_at_plan(tmp_path):
    """HyperShader without the renderer hand-off would draw its "Preparing scene transitions" loader
    on every frame: an inline HyperShader.init stops the plan with a typed, non-retryable input error."""
    with pytest.raises(HyperdeskError) as info:
        plan(CORPUS / "fid-shader-transition", RenderConfig(format="png-sequence"), tmp_path / "plan")
    e = info.value
    assert e.code == "SHADER_TRANSITIONS_NOT_SUPPORTED", e
    assert not e.retryable and CODES[e.code].exit == INPUT
    assert e.details["file"] == "index.html" and "HyperShader.init(" in e.message
    assert not (tmp_path / "plan").exists()


def test_page_side_shader_transitions_from_a_script_file_are_refused_by_the_page(corpus_render):
    """The compiler does not read script files: the ready page's own list of transitions refuses it."""
    with pytest.raises(HyperdeskError) as info:
        corpus_render("fid-shader-transition-file", format="png-sequence")
    e = info.value
    assert e.code == "SHADER_TRANSITIONS_NOT_SUPPORTED", e
    assert not e.retryable
    assert e.details["transitions"] == [{"time": 0.5, "shader": "domain-warp", "from": "one", "to": "two"}]
    assert "domain-warp at 0.5 s (one -> two)" in e.message


def test_a_pure_pages_chunks_share_one_warm_page(corpus_render):
    """The counterpart: an audited pure page (page_pure) is reused for every chunk of the corpus's warm browser."""
    r = corpus_render("06-ancestor-rule")
    assert chunk_table(r)["page_pure"] is True and len(r.results) > 1
    assert [x.session_chunk for x in r.results] == list(range(1, len(r.results) + 1))
