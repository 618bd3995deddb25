"""What chunk pre-roll costs, and that a pure page pays nothing for it (issue 16).

    .venv/bin/python benchmarks/preroll.py

1. Cost per pre-rolled frame: the last chunk of a history-dependent page (tests/compositions/
   fid-anime-history, 30-frame chunks, the seam audit turns pre-roll on) and of the 1080p sample
   with pre-roll forced on. Each chunk's perf file records the frames it pre-rolled and the time
   they took; printed beside the chunk's capture time per frame.
2. The sample (a pure page) planned with the default seam audit and with pre-roll off, then every
   chunk rendered, interleaved, in the same run: the audit must leave pre-roll off (no chunk
   pre-rolls a frame), so the render time ratio (audit / off) stays ~1.0; the audit's one-off cost
   is the plan time difference.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "resources" / "sample"
HISTORY = ROOT / "tests" / "compositions" / "fid-anime-history"


def planned(composition: Path, work: Path, name: str, **config):
    from hyperdesk.plan.config import RenderConfig
    from hyperdesk.plan.planner import plan

    t0 = time.monotonic()
    result = plan(composition, RenderConfig(**config), work / name)
    seconds = time.monotonic() - t0
    table = json.loads((Path(result.plan_dir) / "meta" / "chunks.json").read_text())
    return result, seconds, table


def render_interleaved(a, b, work: Path) -> tuple[float, float, list[dict]]:
    """Render every chunk of plans *a* and *b* (the same chunking), alternating which goes first, so
    the load of a shared machine weighs on both alike; seconds of each and the perf files of *a*."""
    from hyperdesk.plan.chunk import render_chunk

    ext = "" if a.manifest.format == "png-sequence" else ".mp4"
    seconds = {"a": 0.0, "b": 0.0}
    perf = []
    for i in range(a.manifest.chunk_count):
        order = [("a", a), ("b", b)] if i % 2 == 0 else [("b", b), ("a", a)]
        for name, result in order:
            t0 = time.monotonic()
            r = render_chunk(result.plan_dir, i, work / f"{name}-{i}{ext}")
            seconds[name] += time.monotonic() - t0
            if name == "a":
                perf.append(json.loads(Path(r.perf_path).read_text()))
    return seconds["a"], seconds["b"], perf


def preroll_cost(label: str, result, work: Path, name: str) -> None:
    from hyperdesk.plan.chunk import render_chunk

    last = result.manifest.chunk_count - 1
    ext = "" if result.manifest.format == "png-sequence" else ".mp4"
    perf = json.loads(Path(render_chunk(result.plan_dir, last, work / f"{name}-last{ext}").perf_path).read_text())
    frames, ms = perf["preroll"]["frames"], perf["preroll"]["ms"]
    capture = perf["frame_capture_ms"]["p50"]
    print(f"{label}: last chunk pre-rolled {frames} frames in {ms:.0f} ms = {ms / max(frames, 1):.2f} ms per frame "
          f"(its captured frames: p50 {capture:.1f} ms each)")


def main() -> None:
    # The sample's image and audio are generated, never committed.
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_sample_media.py")], check=True)
    with tempfile.TemporaryDirectory(prefix="hyperdesk-preroll-bench-") as tmp:
        work = Path(tmp)
        hist, hist_plan_s, hist_table = planned(HISTORY, work, "history", format="png-sequence", chunk_frames=30,
                                                keyframe_interval=30)
        print(f"history-dependent page: planned in {hist_plan_s:.1f} s, preroll_from={hist_table['preroll_from']}, "
              f"warnings {[w.code for w in hist.manifest.warnings]}")
        preroll_cost("history-dependent page (320x180)", hist, work, "history")
        forced, _, _ = planned(SAMPLE, work, "forced", preroll="on")
        preroll_cost("sample, pre-roll forced on (1920x1080)", forced, work, "forced")

        audit, audit_plan_s, audit_table = planned(SAMPLE, work, "audit")
        off, off_plan_s, off_table = planned(SAMPLE, work, "off", preroll="off")
        print(f"sample: {audit.manifest.chunk_count} chunks; plan with the seam audit {audit_plan_s:.1f} s "
              f"(preroll_from={audit_table['preroll_from']}), with pre-roll off {off_plan_s:.1f} s: "
              f"audit costs {audit_plan_s - off_plan_s:+.1f} s once per plan")
        if audit_table["preroll_from"] is not None:
            print("FAIL: the seam audit turned pre-roll on for the pure sample", file=sys.stderr)
            sys.exit(1)
        audit_s, off_s, audit_perf = render_interleaved(audit, off, work)
        rolled = sum(p["preroll"]["frames"] for p in audit_perf)
        print(f"sample render: after the audit {audit_s:.1f} s ({rolled} frames pre-rolled), pre-roll off "
              f"{off_s:.1f} s, ratio {audit_s / off_s:.3f}")


if __name__ == "__main__":
    main()
