"""Chunk encodes: determinism, pipe = directory input, closed-GOP concat, alpha formats, verification."""
from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

import mediautil as mu
from hyperdesk.encode import probe
from hyperdesk.encode.args import lock_encoder_settings
from hyperdesk.encode.assembly import concat_mux, verify_output, write_concat_list
from hyperdesk.encode.audio import fit_audio, mix_audio
from hyperdesk.encode.stream import StreamingEncoder, encode_frame_dir
from hyperdesk.errors import HyperdeskError
from hyperdesk.models import Fps, LockedRenderConfig

PLAN_HASH = "0123456789abcdef" * 4


def sha(p: Path) -> str:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def cfg(format="mp4", quality="draft", fps=30, w=320, h=180, **kw) -> LockedRenderConfig:
    return LockedRenderConfig(**lock_encoder_settings(format, quality, fps, w, h, **kw))


async def stream_encode(c: LockedRenderConfig, frames: list[Path], out: Path, log: Path) -> StreamingEncoder:
    enc = StreamingEncoder(c, out, log)
    await enc.start()
    for f in frames:
        await enc.write(f.read_bytes())
    await enc.finish()
    return enc


@pytest.fixture(scope="module")
def jpeg_chunks(tmp_path_factory) -> list[list[Path]]:
    """Three chunks of 30 testsrc2 JPEG frames (global frames 0–89), zero-based local names."""
    root = tmp_path_factory.mktemp("jpeg-frames")
    return [mu.make_jpeg_frames(root / f"c{i}", 30, offset_frames=30 * i) for i in range(3)]


@pytest.mark.parametrize("quality", ["draft", "standard"])
def test_h264_chunk_deterministic_pipe_equals_dir(tmp_path, jpeg_chunks, quality):
    c = cfg(quality=quality, keyframe_interval=15)
    frames = jpeg_chunks[0]
    encode_frame_dir(c, frames[0].parent, tmp_path / "dir1.mp4", log_path=tmp_path / "dir1.log")
    encode_frame_dir(c, frames[0].parent, tmp_path / "dir2.mp4")
    enc = asyncio.run(stream_encode(c, frames, tmp_path / "pipe.mp4", tmp_path / "pipe.log"))
    assert enc.frames_written == 30 and enc.returncode == 0
    assert sha(tmp_path / "dir1.mp4") == sha(tmp_path / "dir2.mp4") == sha(tmp_path / "pipe.mp4")
    assert probe.count_packets(tmp_path / "pipe.mp4") == 30
    assert probe.key_packet_indices(tmp_path / "pipe.mp4") == [0, 15]
    assert b"Lavf" not in (tmp_path / "pipe.mp4").read_bytes()  # bitexact: no muxer version string
    assert "libx264" in (tmp_path / "pipe.log").read_text()


def test_three_chunks_concat_keyframes_and_audio(tmp_path, jpeg_chunks):
    c = cfg(keyframe_interval=15)
    chunks = []
    for i, frames in enumerate(jpeg_chunks):
        out = tmp_path / f"chunk {i}'s.mp4"  # a space and a quote in the path
        asyncio.run(stream_encode(c, frames, out, tmp_path / f"c{i}.log"))
        chunks.append(out)
    fps = Fps.of(30)
    mix_audio([], 90, fps, tmp_path / "audio.m4a", tmp_path / "aw")
    fit_audio(tmp_path / "audio.m4a", 3.0, tmp_path / "audio-fit.m4a")
    out = tmp_path / "work" / "output.partial"
    out.parent.mkdir()
    concat_mux(chunks, tmp_path / "audio-fit.m4a", out, fmt="mp4", fps=fps, plan_hash=PLAN_HASH,
               version="0.1.0", work_dir=out.parent)
    listing = (out.parent / "concat.txt").read_text()
    assert listing.count("file '") == 3 and "'\\''" in listing
    assert probe.key_packet_indices(out) == [0, 15, 30, 45, 60, 75]
    summary = verify_output(out, total_frames=90, fps=fps, keyframe_interval=15, codec="h264", has_audio=True)
    assert summary["r_frame_rate"] == "30/1" and abs(summary["video_duration_s"] - 3.0) < 1e-3
    assert mu.count_frames(out) == 90
    data = out.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # faststart
    assert PLAN_HASH.encode() in data and b"hyperdesk_version" in data
    # the stitched frames are the chunks' frames, in order
    whole = mu.decode_frames(out)
    assert len(whole) == 90
    second = mu.decode_frames(chunks[1])
    assert (whole[30] == second[0]).all() and (whole[59] == second[29]).all()
    # one bad chunk count is caught
    with pytest.raises(HyperdeskError) as ei:
        verify_output(out, total_frames=91, fps=fps, keyframe_interval=15, codec="h264", has_audio=True)
    assert ei.value.code == "OUTPUT_FRAME_COUNT_MISMATCH"
    with pytest.raises(HyperdeskError) as ei:
        verify_output(out, total_frames=90, fps=fps, keyframe_interval=30, codec="h264", has_audio=True)
    assert ei.value.code == "OUTPUT_KEYFRAME_MISMATCH"
    with pytest.raises(HyperdeskError) as ei:
        verify_output(out, total_frames=90, fps=Fps.of(25), keyframe_interval=15, codec="h264", has_audio=True)
    assert ei.value.code == "OUTPUT_DURATION_MISMATCH"
    # a dropped chunk: wrong count
    short = tmp_path / "short.mp4"
    concat_mux(chunks[:2], None, short, fmt="mp4", fps=fps, plan_hash=PLAN_HASH, version="0.1.0",
               work_dir=tmp_path / "work")
    with pytest.raises(HyperdeskError) as ei:
        verify_output(short, total_frames=90, fps=fps, keyframe_interval=15, codec="h264", has_audio=False)
    assert ei.value.code == "OUTPUT_FRAME_COUNT_MISMATCH"
    # the same checks through the pinned ffmpeg alone (no ffprobe)
    probe.FFPROBE = False
    try:
        assert verify_output(out, total_frames=90, fps=fps, keyframe_interval=15, codec="h264",
                             has_audio=True) == summary
        with pytest.raises(HyperdeskError) as ei:
            verify_output(short, total_frames=90, fps=fps, keyframe_interval=15, codec="h264", has_audio=False)
        assert ei.value.code == "OUTPUT_FRAME_COUNT_MISMATCH"
    finally:
        probe.FFPROBE = None


def test_ntsc_rate_single_and_multi_chunk(tmp_path, jpeg_chunks):
    fps = Fps.of(30000, 1001)
    c = cfg(fps=fps, keyframe_interval=15)
    chunks = []
    for i, frames in enumerate(jpeg_chunks[:2]):
        encode_frame_dir(c, frames[0].parent, tmp_path / f"c{i}.mp4")
        chunks.append(tmp_path / f"c{i}.mp4")
    mix_audio([], 60, fps, tmp_path / "a.m4a", tmp_path / "aw")
    fit_audio(tmp_path / "a.m4a", 60 * 1001 / 30000, tmp_path / "fit.m4a")
    concat_mux(chunks, tmp_path / "fit.m4a", tmp_path / "two.mp4", fmt="mp4", fps=fps, plan_hash=PLAN_HASH,
               version="0.1.0")
    s = verify_output(tmp_path / "two.mp4", total_frames=60, fps=fps, keyframe_interval=15, codec="h264",
                      has_audio=True)
    assert s["r_frame_rate"] == "30000/1001"
    concat_mux(chunks[:1], None, tmp_path / "one.mp4", fmt="mp4", fps=fps, plan_hash=PLAN_HASH, version="0.1.0")
    verify_output(tmp_path / "one.mp4", total_frames=30, fps=fps, keyframe_interval=15, codec="h264",
                  has_audio=False)


def test_write_concat_list_quotes(tmp_path):
    p = write_concat_list([tmp_path / "a'b.mp4", "rel.mp4"], tmp_path / "l.txt")
    lines = p.read_text().splitlines()
    assert lines[0] == f"file '{tmp_path}/a'\\''b.mp4'"
    assert lines[1].startswith("file '/") and lines[1].endswith("/rel.mp4'")


@pytest.fixture(scope="module")
def png_chunks(tmp_path_factory) -> list[list[Path]]:
    root = tmp_path_factory.mktemp("png-frames")
    return [mu.make_png_frames(root / f"c{i}", 10, alpha=128) for i in range(2)]


@pytest.mark.parametrize("format", ["mov", "webm"])
def test_alpha_formats_decode_with_alpha(tmp_path, png_chunks, format):
    c = cfg(format, "draft", w=160, h=90, keyframe_interval=5)
    ext = {"mov": "mov", "webm": "webm"}[format]
    chunks = []
    for i, frames in enumerate(png_chunks):
        out = tmp_path / f"c{i}.{ext}"
        asyncio.run(stream_encode(c, frames, out, tmp_path / f"c{i}.log"))
        chunks.append(out)
    # pipe input = directory input for PNG frames too
    encode_frame_dir(c, png_chunks[0][0].parent, tmp_path / f"dir.{ext}")
    assert sha(tmp_path / f"dir.{ext}") == sha(chunks[0])
    fps = Fps.of(30)
    mix_audio([], 20, fps, tmp_path / "a.m4a", tmp_path / "aw")
    fit_audio(tmp_path / "a.m4a", 20 / 30, tmp_path / "fit.m4a")
    out = tmp_path / f"out.{ext}"
    concat_mux(chunks, tmp_path / "fit.m4a", out, fmt=format, fps=fps, plan_hash=PLAN_HASH, version="0.1.0")
    s = verify_output(out, total_frames=20, fps=fps, keyframe_interval=5, codec=c.codec, has_audio=True)
    assert s["audio_codec"] == ("opus" if format == "webm" else "aac")
    pr = probe.probe_media(out)
    assert pr.has_alpha and pr.codec == ("prores" if format == "mov" else "vp9")
    frames = mu.decode_frames(out, alpha=True)
    assert len(frames) == 20
    a = frames[0][..., 3]
    assert abs(float(a.mean()) - 128) < 3, a.mean()
    if format == "webm":
        assert probe.key_packet_indices(out) == [0, 5, 10, 15]
    else:
        assert probe.key_packet_indices(out) == list(range(20))  # intra-only
    probe.FFPROBE = False  # the same verification through the pinned ffmpeg alone
    try:
        assert verify_output(out, total_frames=20, fps=fps, keyframe_interval=5, codec=c.codec,
                             has_audio=True)["r_frame_rate"] == "30/1"
        assert probe.probe_media(out).has_alpha
    finally:
        probe.FFPROBE = None


def test_h265_chunk_keyframes(tmp_path, jpeg_chunks):
    c = cfg(codec="h265", keyframe_interval=10)
    encode_frame_dir(c, jpeg_chunks[0][0].parent, tmp_path / "a.mp4")
    encode_frame_dir(c, jpeg_chunks[0][0].parent, tmp_path / "b.mp4")
    assert sha(tmp_path / "a.mp4") == sha(tmp_path / "b.mp4")
    assert probe.key_packet_indices(tmp_path / "a.mp4") == [0, 10, 20]
    verify_output(tmp_path / "a.mp4", total_frames=30, fps=Fps.of(30), keyframe_interval=10, codec="h265",
                  has_audio=False)


def test_odd_size_is_padded(tmp_path):
    frames = mu.make_jpeg_frames(tmp_path / "f", 3, size="161x91")
    c = cfg(w=161, h=91)
    asyncio.run(stream_encode(c, frames, tmp_path / "o.mp4", tmp_path / "o.log"))
    pr = probe.probe_media(tmp_path / "o.mp4")
    assert (pr.width, pr.height) == (162, 92)


def test_streaming_encoder_failure_and_abort(tmp_path, jpeg_chunks):
    c = cfg()

    async def garbage():
        enc = StreamingEncoder(c, tmp_path / "bad.mp4", tmp_path / "logs" / "bad.log")
        await enc.start()
        try:
            for _ in range(50):
                await enc.write(b"this is not a jpeg" * 1000)
            await enc.finish()
        except HyperdeskError as exc:
            await enc.abort()
            return exc
        return None

    exc = asyncio.run(garbage())
    assert exc is not None and exc.code == "ENCODE_FAILED" and exc.retryable
    assert exc.details["stderr_tail"] and exc.details["log_path"].endswith("bad.log")

    async def aborted():
        enc = StreamingEncoder(c, tmp_path / "ab.mp4", tmp_path / "ab.log")
        await enc.start()
        await enc.write(jpeg_chunks[0][0].read_bytes())
        await enc.abort()
        return enc

    enc = asyncio.run(aborted())
    assert enc.returncode is not None and enc.returncode != 0


def test_decode_check_catches_truncation(tmp_path, jpeg_chunks):
    c = cfg()
    encode_frame_dir(c, jpeg_chunks[0][0].parent, tmp_path / "ok.mp4")
    probe.decode_check(tmp_path / "ok.mp4", 30)
    with pytest.raises(HyperdeskError) as ei:
        probe.decode_check(tmp_path / "ok.mp4", 31)
    assert ei.value.code == "OUTPUT_DECODE_FAILED"
    data = (tmp_path / "ok.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(HyperdeskError) as ei:
        probe.decode_check(tmp_path / "cut.mp4", 30)
    assert ei.value.code == "OUTPUT_DECODE_FAILED"


def test_png_sequence_verification(tmp_path):
    from hyperdesk.encode.assembly import verify_png_sequence

    seq = tmp_path / "seq"
    mu.make_png_frames(seq, 5, start_number=1)
    verify_png_sequence(seq, total_frames=5, has_audio=False)
    probe.decode_check(seq / "frame_%06d.png", 5, png_sequence=True)  # the pattern form works too
    mix_audio([], 5, Fps.of(30), seq / "audio.m4a", tmp_path / "aw")
    verify_png_sequence(seq, total_frames=5, has_audio=True)
    with pytest.raises(HyperdeskError) as ei:
        verify_png_sequence(seq, total_frames=6, has_audio=True)
    assert ei.value.code == "OUTPUT_FRAME_COUNT_MISMATCH" and ei.value.details["missing"] == ["frame_000006.png"]
    (seq / "notes.txt").write_text("x")
    with pytest.raises(HyperdeskError) as ei:
        verify_png_sequence(seq, total_frames=5, has_audio=True)
    assert ei.value.details["unexpected"] == ["notes.txt"]
    (seq / "notes.txt").unlink()
    (seq / "frame_000003.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(HyperdeskError) as ei:
        verify_png_sequence(seq, total_frames=5, has_audio=True)
    assert ei.value.code == "OUTPUT_DECODE_FAILED"
