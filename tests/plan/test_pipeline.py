"""The one pipeline end to end (issue 3): seams, byte-identical retries, audio placement, env restore."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mediautil as mu
from hyperdesk.errors import HyperdeskError
from hyperdesk.plan.assemble import assemble
from hyperdesk.plan.chunk import render_chunk
from hyperdesk.plan.config import RenderConfig
from hyperdesk.plan.planner import plan
from hyperdesk.plan.hashing import frame_dir_hash
from hyperdesk.plan.sequence_record import RECORD_NAME
from pipeline import write_project

pytestmark = pytest.mark.slow

FPS = 30
FRAMES = 60
BITS = 8

# Each frame paints its own index as 8 large black/white squares (bit 7 first), from the seek time.
COUNTER = f"""
<!doctype html>
<html><head><style>
  body {{ margin: 0; background: #000; }}
  #root {{ position: relative; width: 320px; height: 180px; background: #000; }}
  .bit {{ position: absolute; top: 60px; width: 36px; height: 60px; background: #000; }}
</style></head>
<body>
<div id="root" data-composition-id="counter" data-width="320" data-height="180" data-duration="2"
     data-no-timeline>
  {''.join(f'<div class="bit" id="b{i}" style="left:{4 + i * 40}px"></div>' for i in range(BITS))}
</div>
<script>
  window.addEventListener("hf-seek", (e) => {{
    const frame = Math.round(e.detail.time * {FPS});
    for (let i = 0; i < {BITS}; i++) {{
      const on = (frame >> ({BITS - 1} - i)) & 1;
      document.getElementById("b" + i).style.background = on ? "#fff" : "#000";
    }}
  }});
</script>
</body></html>
"""


def read_index(frame) -> int:
    value = 0
    for i in range(BITS):
        r, g, b = mu.pixel(frame, 4 + i * 40 + 18, 90)[:3]
        value = (value << 1) | (1 if (r + g + b) / 3 > 128 else 0)
    return value


def _render(project: Path, work: Path, out: Path, **cfg):
    work.mkdir(parents=True, exist_ok=True)
    planned = plan(project, RenderConfig(**cfg), work / "plan")
    ext = {"mp4": ".mp4", "png-sequence": ""}[planned.manifest.format]
    results = [render_chunk(planned.plan_dir, i, work / f"chunk{i}{ext}") for i in range(planned.manifest.chunk_count)]
    return planned, results, assemble(planned.plan_dir, results, out)


@pytest.fixture(scope="module")
def counter_renders(tmp_path_factory):
    root = tmp_path_factory.mktemp("counter")
    project = write_project(root / "project", COUNTER)
    one = _render(project, root / "one", root / "one.mp4", keyframe_interval=15, chunk_frames=60)
    four = _render(project, root / "four", root / "four.mp4", keyframe_interval=15, chunk_frames=15)
    return root, project, one, four


def test_one_and_four_chunks_give_every_frame_once_in_order(counter_renders):
    root, _project, one, four = counter_renders
    assert one[0].manifest.chunk_count == 1 and four[0].manifest.chunk_count == 4
    for out in (root / "one.mp4", root / "four.mp4"):
        frames = mu.decode_frames(out)
        assert [read_index(f) for f in frames] == list(range(FRAMES))
        assert mu.count_packets(out) == FRAMES


def test_keyframe_at_every_chunk_start(counter_renders):
    root, _project, _one, four = counter_renders
    starts = [r.start_frame for r in four[1]]
    assert starts == [0, 15, 30, 45]
    assert mu.keyframe_indices(root / "four.mp4") == starts
    assert mu.keyframe_indices(root / "one.mp4") == starts  # same grid with one chunk


def test_captured_frame_fingerprints_identical_across_chunking(counter_renders):
    _root, _project, one, four = counter_renders
    one_prints = [h for r in one[1] for h in r.frame_sha256]
    four_prints = [h for r in four[1] for h in r.frame_sha256]
    assert len(one_prints) == FRAMES and one_prints == four_prints


def test_png_sequences_of_one_and_four_chunks_are_byte_identical(counter_renders, tmp_path):
    _root, project, _one, _four = counter_renders
    a = _render(project, tmp_path / "a", tmp_path / "one-seq", format="png-sequence", keyframe_interval=15,
                chunk_frames=60)
    b = _render(project, tmp_path / "b", tmp_path / "four-seq", format="png-sequence", keyframe_interval=15,
                chunk_frames=15)
    assert b[0].manifest.chunk_count == 4
    names = sorted(p.name for p in (tmp_path / "one-seq").iterdir())
    # the frames, the audio and the record of what the render wrote (issue 19)
    assert names == sorted([f"frame_{i:06d}.png" for i in range(1, FRAMES + 1)] + ["audio.m4a", RECORD_NAME])
    assert names == sorted(p.name for p in (tmp_path / "four-seq").iterdir())
    for name in names:
        assert (tmp_path / "one-seq" / name).read_bytes() == (tmp_path / "four-seq" / name).read_bytes(), name
    assert a[2].sha256 == b[2].sha256 == frame_dir_hash(tmp_path / "four-seq")[0]
    frames = mu.decode_frames(tmp_path / "four-seq" / "frame_%06d.png", start_number=1)
    assert [read_index(f) for f in frames] == list(range(FRAMES))


def test_render_chunk_twice_gives_identical_bytes(counter_renders, tmp_path):
    _root, _project, _one, four = counter_renders
    plan_dir = four[0].plan_dir
    a = render_chunk(plan_dir, 2, tmp_path / "a.mp4")
    b = render_chunk(plan_dir, 2, tmp_path / "b.mp4")
    assert a.sha256 == b.sha256 == four[1][2].sha256
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()
    assert a.frame_sha256 == b.frame_sha256


def test_two_processes_at_once_give_identical_bytes(counter_renders, tmp_path):
    _root, _project, _one, four = counter_renders
    plan_dir = four[0].plan_dir
    procs = [subprocess.Popen([sys.executable, "-m", "hyperdesk", "render-chunk", plan_dir, "1", "-o",
                               str(tmp_path / f"p{i}.mp4"), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(2)]
    finals = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-2000:]
        lines = [json.loads(x) for x in out.decode().splitlines() if x.strip()]
        finals.append(lines[-1])
    assert all(f["type"] == "done" for f in finals)
    assert finals[0]["result"]["sha256"] == finals[1]["result"]["sha256"] == four[1][1].sha256
    assert (tmp_path / "p0.mp4").read_bytes() == (tmp_path / "p1.mp4").read_bytes()


def test_process_environment_restored_after_render_chunk(tmp_path, monkeypatch):
    project = write_project(tmp_path / "p", COUNTER.replace('data-duration="2"', 'data-duration="0.5"'))
    monkeypatch.setenv("HYPERDESK_RUNTIME_LOCKED", "from-plan")
    planned = plan(project, RenderConfig(keyframe_interval=15), tmp_path / "plan")
    monkeypatch.delenv("HYPERDESK_RUNTIME_LOCKED")
    monkeypatch.setenv("HYPERDESK_RENDER_LOCAL_ONLY", "mine")
    monkeypatch.setenv("HYPERDESK_RUNTIME_LOCKED_SHADOW", "x")
    before = dict(os.environ)
    seen = {}

    def progress(done, total):
        seen.setdefault("env", {k: v for k, v in os.environ.items() if k.startswith("HYPERDESK_R")})

    render_chunk(planned.plan_dir, 0, tmp_path / "ok.mp4", progress=progress)
    assert dict(os.environ) == before
    # During the render the snapshot, and only the snapshot, was in force.
    assert seen["env"] == {"HYPERDESK_RUNTIME_LOCKED": "from-plan"}
    # And on failure (an output directory that does not exist) it is restored as well.
    with pytest.raises(HyperdeskError):
        render_chunk(planned.plan_dir, 0, tmp_path / "missing" / "x.mp4")
    assert dict(os.environ) == before

    def boom(done, total):
        raise RuntimeError("fail mid-chunk")

    with pytest.raises(HyperdeskError) as info:
        render_chunk(planned.plan_dir, 0, tmp_path / "fail.mp4", progress=boom)
    assert dict(os.environ) == before
    assert not (tmp_path / "fail.mp4").exists()
    assert Path(info.value.details["work_dir"]).is_dir()  # kept for diagnosis


TONE_PAGE = """
<!doctype html>
<html><body style="margin:0;background:#123">
<div data-composition-id="tone" data-width="160" data-height="90" data-duration="5" data-no-timeline>
  <audio src="tone.wav" data-start="3.5"></audio>
</div>
</body></html>
"""


def test_tone_placed_at_3_5_s_lands_at_3_5_s(tmp_path):
    project = write_project(tmp_path / "p", TONE_PAGE)
    mu.make_tone(project / "tone.wav", freq=1000, duration=1.0, amplitude=0.5)
    _planned, results, assembled = _render(project, tmp_path / "w", tmp_path / "tone.mp4", keyframe_interval=30,
                                           chunk_frames=60)
    assert len(results) == 3
    samples = mu.decode_audio(tmp_path / "tone.mp4")
    # Find the onset: the first 1 ms window above -30 dBFS.
    win = 48
    onset = next(i for i in range(0, len(samples) - win, win) if mu.rms_dbfs(samples[i:i + win]) > -30) / 48000
    assert abs(onset - 3.5) <= 0.02, onset
    assert mu.rms_dbfs(samples, 0, 3.45) < -60
    expected = assembled.frames / FPS
    summary = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=duration,sample_rate,channels,codec_name",
         "-of", "json", str(tmp_path / "tone.mp4")], capture_output=True, text=True, check=True).stdout)["streams"][0]
    assert summary["codec_name"] == "aac" and summary["sample_rate"] == "48000" and summary["channels"] == 2
    assert abs(float(summary["duration"]) - expected) <= 1024 / 48000
