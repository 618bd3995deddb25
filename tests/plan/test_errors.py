"""Every error code of plan-contract.md provoked for real, with its code and hint checked (issue 3)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mediautil as mu
from hyperdesk.errors import CODES, HyperdeskError
from hyperdesk.faults import FaultPlan
from hyperdesk.plan.assemble import assemble
from hyperdesk.plan.chunk import render_chunk
from hyperdesk.plan.config import RenderConfig
from hyperdesk.plan.planner import plan
from hyperdesk.plan.hashing import canonical_json, compute_plan_hash, pretty_json
from hyperdesk.models import WorkerEnv
from pipeline import write_project

pytestmark = pytest.mark.slow

TINY = """
<!doctype html>
<html><body style="margin:0;background:#000">
<div data-composition-id="tiny" data-width="160" data-height="90" data-duration="1" data-no-timeline>
  <div id="box" style="position:absolute;left:10px;top:10px;width:40px;height:40px;background:#f00"></div>
</div>
<script>
  window.addEventListener("hf-seek", (e) => { document.getElementById("box").style.left = (10 + e.detail.time * 60) + "px"; });
</script>
</body></html>
"""


def expect(code: str, fn, *args, **kwargs) -> HyperdeskError:
    with pytest.raises(HyperdeskError) as info:
        fn(*args, **kwargs)
    err = info.value
    assert err.code == code, f"{err.code}: {err.message}"
    assert err.hint, f"{code} has no hint"
    assert "\n" not in err.message
    return err


@pytest.fixture(scope="module")
def base_plan(tmp_path_factory):
    root = tmp_path_factory.mktemp("errors")
    project = write_project(root / "project", TINY)
    planned = plan(project, RenderConfig(keyframe_interval=15, chunk_frames=15), root / "plan")
    assert planned.manifest.chunk_count == 2
    return root, project, Path(planned.plan_dir)


@pytest.fixture
def plan_copy(base_plan, tmp_path):
    _root, _project, plan_dir = base_plan
    dst = tmp_path / "plan"
    shutil.copytree(plan_dir, dst)
    return dst


def rehash(plan_dir: Path) -> None:
    """Rewrite plan_hash after an edit, so a later validation step is what fires."""
    manifest = json.loads((plan_dir / "plan.json").read_text())
    encoder = (plan_dir / "meta" / "encoder.json").read_bytes()
    digest, _ = compute_plan_hash(plan_dir, encoder, manifest["worker_env"])
    manifest["plan_hash"] = digest
    (plan_dir / "plan.json").write_bytes(pretty_json(manifest))


def edit_encoder(plan_dir: Path, **changes) -> None:
    data = json.loads((plan_dir / "meta" / "encoder.json").read_text())
    for k, v in changes.items():
        if v is None:
            data.pop(k, None)
        else:
            data[k] = v
    (plan_dir / "meta" / "encoder.json").write_bytes(canonical_json(data))
    rehash(plan_dir)


def no_work_dirs(tmp_path: Path) -> bool:
    return not any(".work." in p.name for p in tmp_path.iterdir())


# ------------------------------------------------------------------ plan time


def test_composition_not_found(tmp_path):
    expect("COMPOSITION_NOT_FOUND", plan, tmp_path / "nope.html", RenderConfig(), tmp_path / "plan")
    assert not (tmp_path / "plan").exists()


def test_invalid_composition_leaves_no_plan_dir(tmp_path):
    project = write_project(tmp_path / "p", "<!doctype html><html><body><div>no root</div></body></html>")
    expect("INVALID_COMPOSITION", plan, project, RenderConfig(), tmp_path / "plan")
    assert list(tmp_path.iterdir()) == [tmp_path / "p"]


def test_invalid_render_config_fps(tmp_path, base_plan):
    _root, project, _ = base_plan
    err = expect("INVALID_RENDER_CONFIG", plan, project, RenderConfig(fps="29.97"), tmp_path / "plan")
    assert err.details["field"] == "fps"


def test_duration_zero(tmp_path):
    project = write_project(tmp_path / "p", TINY.replace('data-duration="1"', 'data-duration="0"'))
    expect("DURATION_ZERO", plan, project, RenderConfig(), tmp_path / "plan")
    assert not (tmp_path / "plan").exists()


def test_format_not_supported(tmp_path, base_plan):
    _root, project, _ = base_plan
    err = expect("FORMAT_NOT_SUPPORTED_IN_DISTRIBUTED", plan, project, RenderConfig(format="gif"), tmp_path / "plan")
    assert err.details["format"] == "gif"


def test_plan_too_large_with_small_cap(tmp_path, base_plan):
    _root, project, _ = base_plan
    err = expect("PLAN_TOO_LARGE", plan, project, RenderConfig(max_plan_bytes=10_000), tmp_path / "plan")
    assert err.details["limit_bytes"] == 10_000 and err.details["size_bytes"] > 10_000
    assert not (tmp_path / "plan").exists()
    assert not any(p.name.startswith("plan.partial") for p in tmp_path.iterdir())


def test_asset_fetch_failed(tmp_path):
    page = TINY.replace("</body>", '<script src="https://unreachable.invalid/lib/never.js"></script></body>')
    project = write_project(tmp_path / "p", page)
    err = expect("ASSET_FETCH_FAILED", plan, project, RenderConfig(), tmp_path / "plan")
    assert "https://unreachable.invalid/lib/never.js" in err.message
    assert "--asset-dir" in err.hint


def test_video_extraction_failed(tmp_path):
    page = TINY.replace('<div id="box"', '<video src="broken.mp4" data-start="0" data-duration="1"></video><div id="box"')
    project = write_project(tmp_path / "p", page, {"broken.mp4": b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000)})
    with pytest.raises(HyperdeskError) as info:
        plan(project, RenderConfig(), tmp_path / "plan")
    assert info.value.code in ("VIDEO_EXTRACTION_FAILED", "INVALID_COMPOSITION"), info.value.code
    assert info.value.hint and not (tmp_path / "plan").exists()


def test_audio_mix_failed(tmp_path):
    page = TINY.replace('<div id="box"', '<audio src="broken.wav" data-start="0" data-duration="1"></audio><div id="box"')
    project = write_project(tmp_path / "p", page, {"broken.wav": b"RIFF" + os.urandom(3000)})
    with pytest.raises(HyperdeskError) as info:
        plan(project, RenderConfig(), tmp_path / "plan")
    assert info.value.code == "AUDIO_MIX_FAILED", info.value.code
    assert info.value.hint and not (tmp_path / "plan").exists()


def test_plan_target_not_empty_is_output_not_writable(tmp_path, base_plan):
    _root, project, _ = base_plan
    (tmp_path / "plan").mkdir()
    (tmp_path / "plan" / "keep.txt").write_text("mine")
    expect("OUTPUT_NOT_WRITABLE", plan, project, RenderConfig(), tmp_path / "plan")
    assert (tmp_path / "plan" / "keep.txt").read_text() == "mine"


# ------------------------------------------------------------------ render_chunk validation (before any browser)


def test_missing_plan_artifact(plan_copy, tmp_path):
    (plan_copy / "meta" / "videos.json").unlink()
    err = expect("MISSING_PLAN_ARTIFACT", render_chunk, plan_copy, 0, tmp_path / "c.mp4")
    assert err.details["path"] == "meta/videos.json" and err.retryable
    assert no_work_dirs(tmp_path)


def test_plan_protocol_unsupported(plan_copy, tmp_path):
    manifest = json.loads((plan_copy / "plan.json").read_text())
    manifest["protocol"]["layout"] = "plan-dir-v9"
    (plan_copy / "plan.json").write_text(json.dumps(manifest))
    expect("PLAN_PROTOCOL_UNSUPPORTED", render_chunk, plan_copy, 0, tmp_path / "c.mp4")


def test_invalid_plan_metadata(plan_copy, tmp_path):
    (plan_copy / "meta" / "chunks.json").write_text('{"schema_version": 1, "chunks": "many"}')
    expect("INVALID_PLAN_METADATA", render_chunk, plan_copy, 0, tmp_path / "c.mp4")


@pytest.mark.parametrize("index", [-1, 2, 99])
def test_chunk_index_out_of_range(base_plan, tmp_path, index):
    err = expect("CHUNK_INDEX_OUT_OF_RANGE", render_chunk, base_plan[2], index, tmp_path / "c.mp4")
    assert err.details["chunk_count"] == 2 and not err.retryable


def test_tampered_compiled_file_is_plan_hash_mismatch(plan_copy, tmp_path):
    with open(plan_copy / "compiled" / "index.html", "a") as f:
        f.write("<!-- tampered -->")
    expect("PLAN_HASH_MISMATCH", render_chunk, plan_copy, 0, tmp_path / "c.mp4")
    assert no_work_dirs(tmp_path) and not (tmp_path / "c.mp4").exists()


@pytest.mark.parametrize("field,code", [
    ("ffmpeg_identity", "FFMPEG_VERSION_MISMATCH"),
    ("browser_version", "BROWSER_VERSION_MISMATCH"),
    ("hyperdesk_version", "RENDERER_VERSION_MISMATCH"),
])
def test_worker_environment_mismatch_before_any_browser(base_plan, tmp_path, field, code):
    from hyperdesk.plan.verify import load_plan

    env = load_plan(base_plan[2]).manifest.worker_env.model_dump()
    env[field] = "something-else"
    t0 = time.monotonic()
    err = expect(code, render_chunk, base_plan[2], 0, tmp_path / "c.mp4", worker_env=WorkerEnv(**env))
    assert err.details["worker"] == "something-else"
    assert no_work_dirs(tmp_path)  # failed before the work dir (and so before any browser)
    assert time.monotonic() - t0 < 5


def test_ffmpeg_identity_injected_through_the_command_line(base_plan, tmp_path):
    faults = FaultPlan(ffmpeg_identity="n0.0-other+sha256:" + "0" * 64)
    proc = subprocess.run([sys.executable, "-m", "hyperdesk", "--faults", faults.to_arg(), "render-chunk",
                           str(base_plan[2]), "0", "-o", str(tmp_path / "c.mp4")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "error FFMPEG_VERSION_MISMATCH" in proc.stderr and "hint:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_browser_gpu_not_software_plan_defect(plan_copy, tmp_path):
    edit_encoder(plan_copy, browser_gpu_mode="gpu")
    err = expect("BROWSER_GPU_NOT_SOFTWARE", render_chunk, plan_copy, 0, tmp_path / "c.mp4")
    assert not err.retryable


def test_browser_gpu_not_software_node_defect(base_plan, tmp_path):
    expect("BROWSER_GPU_NOT_SOFTWARE", render_chunk, base_plan[2], 0, tmp_path / "c.mp4",
           faults=FaultPlan(gl_renderer="ANGLE (NVIDIA, GeForce RTX)"))
    assert not (tmp_path / "c.mp4").exists()


def test_missing_runtime_env_snapshot(plan_copy, tmp_path):
    edit_encoder(plan_copy, runtime_env=None)
    expect("MISSING_RUNTIME_ENV_SNAPSHOT", render_chunk, plan_copy, 0, tmp_path / "c.mp4")


def test_output_not_writable(base_plan, tmp_path):
    expect("OUTPUT_NOT_WRITABLE", render_chunk, base_plan[2], 0, tmp_path / "missing" / "c.mp4")
    expect("OUTPUT_NOT_WRITABLE", render_chunk, base_plan[2], 0, base_plan[2] / "inside.mp4")


# ------------------------------------------------------------------ render_chunk at run time


def _kill_children_named(name: str) -> int:
    killed = 0
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            continue
        if name in os.path.basename(cmd) and _descends_from(int(pid), me):
            os.kill(int(pid), signal.SIGKILL)
            killed += 1
    return killed


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


def test_browser_killed_mid_chunk_is_browser_crashed(base_plan, tmp_path):
    def progress(done, total):
        if done == 3:
            assert _kill_children_named("chrom") > 0

    err = expect("BROWSER_CRASHED", render_chunk, base_plan[2], 0, tmp_path / "c.mp4", progress=progress)
    assert err.retryable and not (tmp_path / "c.mp4").exists()
    assert Path(err.details["work_dir"]).is_dir()


def test_encoder_killed_mid_chunk_is_encode_failed(base_plan, tmp_path):
    def progress(done, total):
        if done == 3:
            assert _kill_children_named("ffmpeg") > 0

    err = expect("ENCODE_FAILED", render_chunk, base_plan[2], 0, tmp_path / "c.mp4", progress=progress)
    assert err.retryable and not (tmp_path / "c.mp4").exists()


def test_page_script_error_and_not_ready(tmp_path):
    bad = TINY.replace("<script>", "<script>throw new Error('boom at load');</script><script>")
    project = write_project(tmp_path / "p", bad)
    # The duration is static, so planning succeeds; the worker meets the error.
    planned = plan(project, RenderConfig(), tmp_path / "plan")
    err = expect("PAGE_SCRIPT_ERROR", render_chunk, planned.plan_dir, 0, tmp_path / "c.mp4")
    assert "boom at load" in err.message


def test_cancel_with_sigint_exits_130(base_plan, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "hyperdesk", "render-chunk", str(base_plan[2]), "0", "-o",
                             str(tmp_path / "c.mp4"), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    for line in proc.stdout:
        if json.loads(line).get("type") == "progress":
            break
    os.killpg(proc.pid, signal.SIGINT)
    out, _err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    events = [json.loads(x) for x in out.decode().splitlines() if x.strip()]
    assert events[-1]["type"] == "failed" and events[-1]["code"] == "CANCELLED"
    assert not (tmp_path / "c.mp4").exists()


# ------------------------------------------------------------------ assemble


@pytest.fixture(scope="module")
def rendered(base_plan):
    root, _project, plan_dir = base_plan
    results = [render_chunk(plan_dir, i, root / f"chunk{i}.mp4") for i in range(2)]
    return plan_dir, results


def _copy_results(rendered, tmp_path):
    plan_dir, results = rendered
    out = []
    for r in results:
        dst = tmp_path / Path(r.output_path).name
        shutil.copyfile(r.output_path, dst)
        out.append(r.model_copy(update={"output_path": str(dst)}))
    return plan_dir, out


def test_corrupted_chunk_is_output_hash_mismatch(rendered, tmp_path):
    plan_dir, results = _copy_results(rendered, tmp_path)
    data = bytearray(Path(results[1].output_path).read_bytes())
    data[len(data) // 2] ^= 0xFF
    Path(results[1].output_path).write_bytes(bytes(data))
    err = expect("OUTPUT_HASH_MISMATCH", assemble, plan_dir, results, tmp_path / "out.mp4")
    assert err.details["chunk_index"] == 1 and err.retryable
    assert not (tmp_path / "out.mp4").exists()


def test_missing_chunk_is_assemble_input_missing(rendered, tmp_path):
    plan_dir, results = _copy_results(rendered, tmp_path)
    Path(results[0].output_path).unlink()
    expect("ASSEMBLE_INPUT_MISSING", assemble, plan_dir, results, tmp_path / "out.mp4")


def test_wrong_result_is_chunk_result_invalid(rendered, tmp_path):
    plan_dir, results = _copy_results(rendered, tmp_path)
    expect("CHUNK_RESULT_INVALID", assemble, plan_dir, results[:1], tmp_path / "out.mp4")
    bad = results[1].model_copy(update={"start_frame": 3})
    expect("CHUNK_RESULT_INVALID", assemble, plan_dir, [results[0], bad], tmp_path / "out.mp4")


def test_assembler_with_other_ffmpeg_is_refused(rendered, tmp_path):
    plan_dir, results = _copy_results(rendered, tmp_path)
    expect("FFMPEG_VERSION_MISMATCH", assemble, plan_dir, results, tmp_path / "out.mp4", ffmpeg_identity="other")


def test_assemble_happy_path_and_output_verification_codes(rendered, tmp_path):
    from hyperdesk.encode.assembly import verify_output
    from hyperdesk.plan.verify import load_plan

    plan_dir, results = _copy_results(rendered, tmp_path)
    result = assemble(plan_dir, results, tmp_path / "out.mp4")
    assert result.frames == 30 and mu.count_packets(tmp_path / "out.mp4") == 30
    cfg = load_plan(plan_dir).encoder
    kwargs = dict(fps=cfg.fps, keyframe_interval=cfg.keyframe_interval, codec="h264", has_audio=True)
    # A chunk alone is a valid video with the wrong frame count for the plan.
    err = expect("OUTPUT_FRAME_COUNT_MISMATCH", verify_output, Path(results[0].output_path), total_frames=30, **kwargs)
    assert err.details
    # The real output with a keyframe grid it does not have.
    expect("OUTPUT_KEYFRAME_MISMATCH", verify_output, tmp_path / "out.mp4", total_frames=30,
           **{**kwargs, "keyframe_interval": 10})
    # An output whose audio is cut short: wrong duration.
    short = tmp_path / "short.mp4"
    mu.ffmpeg("-i", tmp_path / "out.mp4", "-map", "0", "-c", "copy", "-t", "0.5", "-y", short)
    with pytest.raises(HyperdeskError) as info:
        verify_output(short, total_frames=30, **kwargs)
    assert info.value.code in ("OUTPUT_FRAME_COUNT_MISMATCH", "OUTPUT_DURATION_MISMATCH")
    # A damaged file that still has every packet: the decode pass catches it.
    damaged = tmp_path / "damaged.mp4"
    data = bytearray((tmp_path / "out.mp4").read_bytes())
    mdat = data.find(b"mdat")
    size = int.from_bytes(data[mdat - 4:mdat], "big")  # box size; the index (moov) stays intact
    for i in range(mdat + size // 3, mdat + size // 2, 5):
        data[i] ^= 0x5A
    damaged.write_bytes(bytes(data))
    expect("OUTPUT_DECODE_FAILED", verify_output, damaged, total_frames=30, **kwargs)


def test_every_contract_code_has_a_hint():
    contract_codes = [
        "COMPOSITION_NOT_FOUND", "INVALID_COMPOSITION", "INVALID_RENDER_CONFIG", "DURATION_ZERO",
        "FORMAT_NOT_SUPPORTED_IN_DISTRIBUTED", "VIDEO_EXTRACTION_FAILED", "AUDIO_MIX_FAILED", "PLAN_TOO_LARGE",
        "ASSET_FETCH_FAILED", "MISSING_PLAN_ARTIFACT", "INVALID_PLAN_METADATA", "CHUNK_INDEX_OUT_OF_RANGE",
        "MISSING_RUNTIME_ENV_SNAPSHOT", "PAGE_SCRIPT_ERROR", "PLAN_PROTOCOL_UNSUPPORTED", "FFMPEG_VERSION_MISMATCH",
        "BROWSER_VERSION_MISMATCH", "RENDERER_VERSION_MISMATCH", "BROWSER_GPU_NOT_SOFTWARE", "PLAN_HASH_MISMATCH",
        "BROWSER_CRASHED", "CAPTURE_TIMEOUT", "WORKER_LOST", "PAGE_NOT_READY", "ENCODE_FAILED",
        "OUTPUT_HASH_MISMATCH", "ASSEMBLE_INPUT_MISSING", "CHUNK_RESULT_INVALID", "OUTPUT_FRAME_COUNT_MISMATCH",
        "OUTPUT_DURATION_MISMATCH", "OUTPUT_KEYFRAME_MISMATCH", "OUTPUT_DECODE_FAILED", "OUTPUT_NOT_WRITABLE",
        "NONDETERMINISTIC_OUTPUT", "CANCELLED",
    ]
    for code in contract_codes:
        assert code in CODES and CODES[code][1], code
