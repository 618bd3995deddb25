"""Assembly: the one final pass (plan contract 10.2 step 3) and the final verification (10.4)."""
from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any
from collections.abc import Sequence

from hyperdesk.encode.ffmpeg import ffmpeg_exe, run_ffmpeg
from hyperdesk.encode.probe import decode_check, scan_output
from hyperdesk.errors import HyperdeskError
from hyperdesk.models import Fps

AAC_FRAME_S = 1024 / 48000  # 21.3 ms
DURATION_TOLERANCE_S = 0.001
KEYFRAME_CODECS = ("h264", "h265", "vp9")


def concat_list_line(path: str | os.PathLike[str]) -> str:
    """`file '<absolute path>'`, a `'` written as `'\\''`."""
    text = os.path.abspath(os.fspath(path)).replace("'", "'\\''")
    return f"file '{text}'"


def write_concat_list(chunk_paths: Sequence[str | os.PathLike[str]], list_path: str | os.PathLike[str]) -> Path:
    p = Path(list_path)
    p.write_text("".join(concat_list_line(c) + "\n" for c in chunk_paths), "utf-8")
    return p


def concat_mux_args(
    chunk_paths: Sequence[str | os.PathLike[str]],
    audio_path: str | os.PathLike[str] | None,
    out_partial: str | os.PathLike[str],
    *,
    fmt: str,
    fps: Fps,
    plan_hash: str,
    version: str,
    list_path: str | os.PathLike[str] | None = None,
) -> list[str]:
    """The arguments of the final pass (without the executable)."""
    if fmt not in ("mp4", "mov", "webm"):
        raise ValueError(f"no final pass for format {fmt!r}")
    F = fps.ffmpeg()
    if len(chunk_paths) > 1:
        if list_path is None:
            raise ValueError("several chunks need a list file")
        args = ["-r", F, "-f", "concat", "-safe", "0", "-i", os.fspath(list_path)]
    else:
        args = ["-i", os.path.abspath(os.fspath(chunk_paths[0]))]
    if audio_path is not None:
        args += ["-i", os.fspath(audio_path)]
    args += ["-map", "0:v:0"]
    if audio_path is not None:
        args += ["-map", "1:a:0"]
    args += ["-c:v", "copy"]
    if audio_path is not None:
        args += ["-c:a", "libopus", "-b:a", "128k"] if fmt == "webm" else ["-c:a", "copy"]
    args += ["-r", F]
    if fmt in ("mp4", "mov"):
        args += ["-movflags", "+faststart+use_metadata_tags"]
    if fmt == "webm":
        # -map_metadata -1 would drop the chunks' alpha_mode tag, and with it Matroska's AlphaMode flag
        args += ["-metadata:s:v:0", "alpha_mode=1"]
    args += ["-map_metadata", "-1", "-fflags", "+bitexact",
             "-metadata", f"hyperdesk_version={version}", "-metadata", f"hyperdesk_plan={plan_hash}",
             "-f", fmt, "-y", os.fspath(out_partial)]
    return args


def concat_mux(
    chunk_paths: Sequence[str | os.PathLike[str]],
    audio_path: str | os.PathLike[str] | None,
    out_partial: str | os.PathLike[str],
    *,
    fmt: str,
    fps: Fps,
    plan_hash: str,
    version: str,
    work_dir: str | os.PathLike[str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
) -> Path:
    """Stitch the chunks (stream copy), mux the fitted audio and faststart, in one ffmpeg run.

    Several chunks are read through a concat list (`<work_dir>/concat.txt`, default: beside
    `out_partial`). Raises ASSEMBLE_INPUT_MISSING for a missing chunk, ENCODE_FAILED when ffmpeg fails.
    """
    if not chunk_paths:
        raise HyperdeskError("ASSEMBLE_INPUT_MISSING", "no chunk to assemble", details={})
    for c in chunk_paths:
        if not os.path.isfile(c):
            raise HyperdeskError("ASSEMBLE_INPUT_MISSING", f"chunk output missing: {c}", details={"path": str(c)})
    if audio_path is not None and not os.path.isfile(audio_path):
        raise HyperdeskError("ASSEMBLE_INPUT_MISSING", f"audio track missing: {audio_path}",
                             details={"path": str(audio_path)})
    work = Path(work_dir) if work_dir is not None else Path(out_partial).parent
    list_path = None
    if len(chunk_paths) > 1:
        list_path = write_concat_list(chunk_paths, work / "concat.txt")
    args = concat_mux_args(chunk_paths, audio_path, out_partial, fmt=fmt, fps=fps, plan_hash=plan_hash,
                           version=version, list_path=list_path)
    run_ffmpeg(args, error_code="ENCODE_FAILED", log_path=log_path, timeout=timeout,
               message="stitching the chunks failed", details={"chunks": len(chunk_paths)}, capture_stdout=False)
    return Path(out_partial)


def _target_s(total_frames: int, fps: Fps) -> float:
    return float(f"{total_frames * fps.den / fps.num:.6f}")


def verify_output(
    path: str | os.PathLike[str],
    *,
    total_frames: int,
    fps: Fps,
    keyframe_interval: int,
    codec: str,
    has_audio: bool,
    keyframes: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Plan contract 10.4 for a file output; returns the stream summary it checked.

    *keyframes*: the frames that must be key packets (the plan's ``ChunkTable.keyframe_frames()``);
    by default every *keyframe_interval* frames.

    Raises OUTPUT_FRAME_COUNT_MISMATCH, OUTPUT_DURATION_MISMATCH, OUTPUT_KEYFRAME_MISMATCH or
    OUTPUT_DECODE_FAILED (also when the file cannot be read at all).
    """
    path = os.fspath(path)
    base = {"path": path}
    if not os.path.isfile(path):
        raise HyperdeskError("OUTPUT_DECODE_FAILED", f"no output file at {path}", details=base)
    # The decode pass reads the whole file and dominates the verification; it runs beside the
    # (cheap) container checks, whose errors still come first.
    with ThreadPoolExecutor(max_workers=1) as pool:
        decoding = pool.submit(decode_check, path, total_frames)
        summary = _verify_streams(path, base, total_frames=total_frames, fps=fps,
                                  keyframe_interval=keyframe_interval, codec=codec, has_audio=has_audio,
                                  keyframes=keyframes)
        decoding.result()
    return summary


def _verify_streams(path: str, base: dict[str, Any], *, total_frames: int, fps: Fps, keyframe_interval: int,
                    codec: str, has_audio: bool, keyframes: Sequence[int] | None = None) -> dict[str, Any]:
    scan = scan_output(path)
    packets = len(scan.video) if scan.video is not None else 0
    if packets != total_frames:
        raise HyperdeskError("OUTPUT_FRAME_COUNT_MISMATCH",
                             f"the output has {packets} video packets, expected {total_frames}",
                             details={**base, "packets": packets, "expected": total_frames})
    summary = scan.summary()
    T = _target_s(total_frames, fps)
    want_rate = f"{fps.num}/{fps.den}"
    r = summary.get("r_frame_rate")
    if r is None or Fraction(r) != Fraction(fps.num, fps.den):
        raise HyperdeskError("OUTPUT_DURATION_MISMATCH", f"the output's frame rate is {r}, expected {want_rate}",
                             details={**base, "r_frame_rate": r, "expected": want_rate})
    vdur = summary.get("video_duration_s")
    if vdur is None or abs(vdur - T) > DURATION_TOLERANCE_S:
        raise HyperdeskError("OUTPUT_DURATION_MISMATCH", f"the video stream lasts {vdur} s, expected {T:.6f} s",
                             details={**base, "video_duration_s": vdur, "expected_s": T})
    if has_audio:
        problems = []
        if summary.get("audio_codec") not in ("aac", "opus"):
            problems.append(f"codec {summary.get('audio_codec')}")
        if summary.get("audio_sample_rate") != 48000:
            problems.append(f"rate {summary.get('audio_sample_rate')}")
        if summary.get("audio_channels") != 2:
            problems.append(f"channels {summary.get('audio_channels')}")
        adur = summary.get("audio_duration_s")
        if adur is None or abs(adur - T) > AAC_FRAME_S:
            problems.append(f"duration {adur} s (expected {T:.6f} s)")
        if problems:
            raise HyperdeskError("OUTPUT_DURATION_MISMATCH", "the audio stream is wrong: " + ", ".join(problems),
                                 details={**base, **{k: v for k, v in summary.items() if k.startswith("audio")},
                                          "expected_s": T})
    if codec in KEYFRAME_CODECS:
        keys = scan.video.key_indices() if scan.video is not None else []
        want = sorted(keyframes) if keyframes is not None else list(range(0, total_frames, keyframe_interval))
        if keys != want:
            extra = sorted(set(keys) - set(want))[:10]
            missing = sorted(set(want) - set(keys))[:10]
            where = (f"every {keyframe_interval} frames" if keyframes is None
                     else f"every {keyframe_interval} frames from each chunk's start")
            raise HyperdeskError("OUTPUT_KEYFRAME_MISMATCH",
                                 f"key packets differ from {where} (unexpected {extra}, missing {missing})",
                                 details={**base, "unexpected": extra, "missing": missing,
                                          "keyframe_interval": keyframe_interval})
    return summary


def verify_png_sequence(dir_path: str | os.PathLike[str], *, total_frames: int, has_audio: bool) -> None:
    """10.4 for a png-sequence: frame_000001.png … frame_<N>.png, nothing else but audio.m4a; decode pass."""
    d = Path(dir_path)
    names = sorted(p.name for p in d.iterdir())
    expected = sorted([f"frame_{i:06d}.png" for i in range(1, total_frames + 1)] + (["audio.m4a"] if has_audio else []))
    if names != expected:
        extra = sorted(set(names) - set(expected))[:10]
        missing = sorted(set(expected) - set(names))[:10]
        raise HyperdeskError("OUTPUT_FRAME_COUNT_MISMATCH",
                             f"the sequence has {len(names)} entries, expected {len(expected)}",
                             details={"path": str(d), "unexpected": extra, "missing": missing})
    decode_check(d, total_frames, png_sequence=True)


def output_plan_tag(path: str | os.PathLike[str]) -> str | None:
    """The `hyperdesk_plan` tag an assembled video carries (concat_mux_args writes it), else None.

    Tells a file hyperdesk wrote from any other file at the same path (pinned ffmpeg, ~40 ms).
    """
    try:
        proc = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-i", os.fspath(path), "-f", "ffmetadata", "-"],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip().lower() == "hyperdesk_plan" and value.strip():
            return value.strip()
    return None
