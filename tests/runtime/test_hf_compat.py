"""HyperFrames compatibility (issue 10, item 7): the stage size from data-width/data-height, no page
margin, opaque roots in alpha formats, one readiness rule for every missing timeline, an extensible
window.__hf, and the refusal of data-requires-webgpu.

Rendered through the real pipeline (plan -> render_chunk -> assemble) at 320x180, 10 fps, 0.5 s.
"""
from __future__ import annotations

import lxml.html
import pytest

import mediautil as mu
from hyperdesk.composition.document import read_root_attributes
from hyperdesk.errors import HyperdeskError
from hyperdesk.faults import FaultPlan
from pipeline import render_pipeline, run_cli, write_project

BLUE = (0, 0, 255)
WHITE = (255, 255, 255)
RED = (255, 0, 0)


def close(px, want, tol=8) -> bool:
    """H.264 (4:2:0, limited range) moves flat colours by a few levels."""
    return all(abs(int(a) - int(b)) <= tol for a, b in zip(px, want))


def render_mp4(tmp_path, html: str, **config):
    project = write_project(tmp_path / "p", html)
    out = tmp_path / "out.mp4"
    planned, results, _ = render_pipeline(project, out, tmp_path / "w", fps="10", **config)
    return mu.decode_frames(out), planned, results


# ---------------------------------------------------------------- 1. the root is sized from data-width/height

def test_root_sized_from_data_width_height(tmp_path):
    """A root with a background and no CSS size fills the frame (not a 0-height strip)."""
    frames, _, _ = render_mp4(tmp_path, """
        <!doctype html>
        <html><head><style>html, body { margin: 0; background: rgb(255, 255, 255); }</style></head>
        <body>
        <div id="stage" data-composition-id="c1" data-width="320" data-height="180" data-duration="0.5"
             data-no-timeline style="background: rgb(0, 0, 255)"></div>
        </body></html>
    """)
    assert len(frames) == 5
    for f in (0, 4):
        for x, y in ((160, 90), (20, 20), (300, 160)):
            px = mu.pixel(frames[f], x, y)
            assert close(px, BLUE), f"frame {f} ({x},{y}) = {px}: the root does not fill the frame"


# ---------------------------------------------------------------- 2. no default body margin

def test_body_margin_zeroed(tmp_path):
    """The default 8 px body margin does not shift the composition: (2,2) is the root's colour."""
    frames, _, _ = render_mp4(tmp_path, """
        <!doctype html>
        <html><head><style>
          body { background: rgb(255, 0, 0); }
          #stage { width: 320px; height: 180px; background: rgb(0, 0, 255); }
        </style></head>
        <body>
        <div id="stage" data-composition-id="c2" data-width="320" data-height="180" data-duration="0.5"
             data-no-timeline></div>
        </body></html>
    """)
    for x, y in ((2, 2), (316, 2), (2, 176), (316, 176)):
        px = mu.pixel(frames[0], x, y)
        assert close(px, BLUE), f"({x},{y}) = {px}: the page margin shows the page background"


# ---------------------------------------------------------------- 3. alpha formats keep the root's background

def test_alpha_keeps_root_background(tmp_path):
    """png-sequence: html/body backgrounds are cleared, the root's own background stays opaque."""
    project = write_project(tmp_path / "p", """
        <!doctype html>
        <html><head><style>
          html, body { margin: 0; background: rgb(255, 255, 255); }
          #stage { background: rgb(0, 0, 255); clip-path: inset(0 160px 0 0); }
        </style></head>
        <body>
        <div id="stage" data-composition-id="c3" data-width="320" data-height="180" data-duration="0.5"
             data-no-timeline></div>
        </body></html>
    """)
    out = tmp_path / "frames"
    render_pipeline(project, out, tmp_path / "w", fps="10", format="png-sequence")
    frames = mu.decode_frames(out / "frame_%06d.png", start_number=1, alpha=True)
    assert len(frames) == 5
    for f in (0, 4):
        assert mu.pixel(frames[f], 80, 90) == (0, 0, 255, 255), "the root's background was cleared"
        assert mu.pixel(frames[f], 5, 5) == (0, 0, 255, 255)
        assert mu.pixel(frames[f], 240, 90)[3] == 0, "the body's background must be transparent"


# ---------------------------------------------------------------- 5. a root timeline that never appears

def test_missing_root_timeline_times_out_like_sub_timelines(tmp_path):
    """The root's timeline and a sub-composition's timeline, both never registered, follow one rule:
    readiness waits for them up to the limit, then the render completes with one
    TIMELINE_NOT_REGISTERED warning per id (the page used to never become ready for the root)."""
    faults = FaultPlan(ready_timeout_s=3)  # timeline wait: 3 - 0.75 = 2.25 s
    frames, planned, results = render_mp4(tmp_path, """
        <!doctype html>
        <html><head><style>html, body { margin: 0; background: rgb(255, 255, 255); }</style></head>
        <body>
        <div id="stage" data-composition-id="c5" data-width="320" data-height="180" data-duration="0.5"
             style="background: rgb(0, 0, 255)">
          <div data-composition-id="card" data-start="0" data-duration="0.5"
               style="position: absolute; left: 0; top: 0; width: 40px; height: 40px; background: rgb(255, 0, 0)"></div>
        </div>
        <!-- a script that could register timelines (with none, the plan knows and nothing waits) -->
        <script>window.__timelines = window.__timelines || {};</script>
        </body></html>
    """, faults=faults)
    assert len(frames) == 5
    assert close(mu.pixel(frames[2], 160, 90), BLUE) and close(mu.pixel(frames[2], 20, 20), RED)
    assert len(results) == planned.manifest.chunk_count
    for r in results:
        found = sorted((w.code, w.message) for w in r.warnings if w.code == "TIMELINE_NOT_REGISTERED")
        assert [m for _, m in found] == [
            'window.__timelines["c5"] was not registered within 2.25 s; the root composition "c5" renders '
            "without its timeline (register it, or add data-no-timeline)",
            'window.__timelines["card"] was not registered within 2.25 s; composition "card" renders '
            "without its timeline (register it, or add data-no-timeline)",
        ], r.warnings


# ---------------------------------------------------------------- 6. window.__hf stays extensible

def test_hf_is_extensible(rt):
    page = rt.open("""<!doctype html><html><body>
<div data-composition-id="c6" data-width="320" data-height="180" data-duration="1" data-no-timeline></div>
<script>
'use strict';
window.__hf.myExtra = 1;             // compositions and HyperFrames tooling add their own properties
window.__hf.tools = {name: 'x'};
window.assigned = true;
</script></body></html>""")
    assert page.evaluate("window.assigned") is True
    assert page.evaluate("[window.__hf.myExtra, window.__hf.tools.name]") == [1, "x"]
    assert page.evaluate("Object.isExtensible(window.__hf)") is True
    # the runtime's own members stay: not writable, not deletable
    r = page.evaluate("""() => {
      'use strict';
      const hf = window.__hf, seek = hf.seek, out = {};
      try { hf.seek = () => 0; out.seek = 'assigned'; } catch (e) { out.seek = e.name; }
      try { delete hf.ready; out.ready = 'deleted'; } catch (e) { out.ready = e.name; }
      try { hf.duration = 5; out.duration = 'assigned'; } catch (e) { out.duration = e.name; }
      out.same = hf.seek === seek;
      out.isReady = hf.ready;
      out.dur = hf.duration;
      return out;
    }""")
    assert r == {"seek": "TypeError", "ready": "TypeError", "duration": "TypeError", "same": True,
                 "isReady": True, "dur": 1}


def test_root_size_and_margins_in_page(rt):
    """The runtime itself sizes the root and zeroes the html/body margins at initialisation."""
    page = rt.open("""<!doctype html><html><body>
<div id="r" data-composition-id="c7" data-width="320" data-height="180" data-duration="1" data-no-timeline></div>
</body></html>""")
    r = page.evaluate("""() => {
      const el = document.getElementById('r'), b = el.getBoundingClientRect();
      return [b.left, b.top, b.width, b.height, getComputedStyle(document.body).marginTop,
              getComputedStyle(document.documentElement).marginLeft];
    }""")
    assert r == [0, 0, 320, 180, "0px", "0px"]


# ---------------------------------------------------------------- 7. data-requires-webgpu is refused

def _root(attrs: str):
    return lxml.html.fromstring(f'<div data-composition-id="g" data-width="320" data-height="180" {attrs}></div>')


@pytest.mark.parametrize("attrs", ["data-requires-webgpu", 'data-requires-webgpu=""', 'data-requires-webgpu="true"',
                                   'data-requires-webgpu="1"', 'data-requires-webgpu="required"'])
def test_requires_webgpu_refused(attrs):
    with pytest.raises(HyperdeskError) as info:
        read_root_attributes(_root(attrs), "index.html")
    assert info.value.code == "WEBGPU_NOT_SUPPORTED"
    assert "data-requires-webgpu" in info.value.message
    assert info.value.details["attribute"] == "data-requires-webgpu"
    assert "WebGL" in info.value.hint


@pytest.mark.parametrize("attrs", ["", 'data-requires-webgpu="false"', 'data-requires-webgpu="0"'])
def test_requires_webgpu_false_is_accepted(attrs):
    assert read_root_attributes(_root(attrs), "index.html").width == 320


def test_requires_webgpu_cli_exit_status(tmp_path):
    project = write_project(tmp_path / "p", """
        <!doctype html>
        <html><body>
        <div data-composition-id="gpu" data-width="320" data-height="180" data-duration="0.5" data-no-timeline
             data-requires-webgpu><canvas></canvas></div>
        </body></html>
    """)
    proc = run_cli("plan", str(project), "-o", str(tmp_path / "plan"))
    assert proc.returncode == 2, proc.stderr
    assert "error WEBGPU_NOT_SUPPORTED: " in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "plan" / "plan.json").exists()
    out = tmp_path / "out.mp4"
    proc = run_cli("render", str(project), "-o", str(out))
    assert proc.returncode == 2, proc.stderr
    assert "error WEBGPU_NOT_SUPPORTED: " in proc.stderr
    assert not out.exists()
