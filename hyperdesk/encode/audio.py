"""Audio: per-track preparation and the mix (composition contract 11.2), and the fit (plan contract 10.2).

The mix graph, per track i:
    [i:a]atrim=0:<end−start>,volume=<v>,adelay=<ms>|<ms>,apad,asetpts=N/SR/TB,atrim=0:<T>[a<i>]
then `[a0]…[an-1]amix=inputs=n:duration=longest:dropout_transition=0,volume=<n>[mix]`, written to a
file and passed with `-/filter_complex`; encoded AAC 48 kHz stereo 192k, `-t T`, into an MP4-family
file so the encoder delay is carried as an edit list. No tracks: `anullsrc` silence of length T.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable, Mapping

from hyperdesk.encode.ffmpeg import fmt_num, fmt_time, run_ffmpeg
from hyperdesk.encode.probe import audio_duration_from_packets, probe_media
from hyperdesk.errors import HyperdeskError
from hyperdesk.models import Fps

SAMPLE_RATE = 48000
AAC_ARGS = ["-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-ac", "2"]
SILENCE_BYTES_S = 1_000  # at most, per second of the silent track (measured: ~360)
BITEXACT_AUDIO = ["-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact"]
MAX_VOLUME = 10 ** (12 / 20)  # +12 dB
MIN_RATE, MAX_RATE = 0.1, 5.0
FIT_TOLERANCE_S = 0.001


@dataclass
class AudioTrack:
    """One audible element: its source and where it plays in the composition (seconds)."""

    src: str | os.PathLike[str]
    start_s: float
    end_s: float | None = None  # None: the source's natural end
    media_start_s: float = 0.0
    playback_rate: float = 1.0
    volume: float = 1.0
    label: str | None = None

    @classmethod
    def of(cls, value: Any) -> AudioTrack:
        if isinstance(value, AudioTrack):
            return value
        # A mapping (a planDir entry's dict) or any object with the same attributes.
        get: Callable[..., Any] = value.get if isinstance(value, Mapping) else (lambda k, d=None: getattr(value, k, d))
        rate = get("playback_rate", None)
        if rate is None:
            rate = get("rate", 1.0)
        volume = get("volume", 1.0)
        return cls(
            src=get("src"),
            start_s=float(get("start_s", 0.0) or 0.0),
            end_s=None if get("end_s", None) is None else float(get("end_s")),
            media_start_s=float(get("media_start_s", 0.0) or 0.0),
            playback_rate=float(rate if rate is not None else 1.0),
            volume=float(volume if volume is not None else 1.0),
            label=get("label", None) or get("media_id", None),
        )


def clamp_rate(rate: float) -> float:
    return min(MAX_RATE, max(MIN_RATE, float(rate)))


def clamp_volume(volume: float) -> float:
    return min(MAX_VOLUME, max(0.0, float(volume)))


def atempo_chain(rate: float) -> list[str]:
    """`atempo` stages of 0.5 or 2 until the remainder lies in [0.5, 2] (empty for rate 1)."""
    rate = clamp_rate(rate)
    if rate == 1.0:
        return []
    stages: list[str] = []
    rest = rate
    while rest > 2.0:
        stages.append("atempo=2")
        rest /= 2.0
    while rest < 0.5:
        stages.append("atempo=0.5")
        rest /= 0.5
    if abs(rest - 1.0) > 1e-9:
        stages.append(f"atempo={fmt_num(rest)}")
    return stages


def target_length_s(total_frames: int, fps: Fps) -> float:
    return total_frames * fps.den / fps.num


def _source_audio(src: Any) -> tuple[int | None, float]:
    try:
        pr = probe_media(src)
    except HyperdeskError as exc:
        raise HyperdeskError("AUDIO_MIX_FAILED", f"cannot read audio source {src}: {exc.message}",
                             details={"track": str(src), **exc.details}) from exc
    if not pr.has_audio:
        return None, pr.duration_s
    return pr.channels or 2, pr.duration_s


def prepare_args(src: Any, out_path: Any, *, media_start_s: float, duration_s: float, rate: float,
                 channels: int) -> list[str]:
    """11.2 preparation arguments (without the executable)."""
    rate = clamp_rate(rate)
    args = ["-ss", fmt_time(max(0.0, media_start_s)), "-t", fmt_time(duration_s * rate), "-i", os.fspath(src),
            "-vn", "-acodec", "pcm_s16le", "-ar", "48000"]
    filters: list[str] = []
    if channels == 1:
        filters.append("pan=stereo|FL=FL+FC|FR=FR+FC")
    else:
        args += ["-ac", "2"]
    filters += atempo_chain(rate)
    if filters:
        args += ["-af", ",".join(filters)]
    if rate != 1.0:
        args += ["-t", fmt_time(duration_s)]
    args += ["-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact", "-f", "wav", "-y",
             os.fspath(out_path)]
    return args


def prepare_audio_track(
    src: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    media_start_s: float = 0.0,
    duration_s: float,
    rate: float = 1.0,
    channels: int | None = None,
    log_path: str | os.PathLike[str] | None = None,
) -> Path | None:
    """Cut, resample (48 kHz s16 stereo WAV) and re-time one track's source (11.2 preparation).

    Returns the WAV path, or None when the source has no audio stream. Raises AUDIO_MIX_FAILED.
    """
    if channels is None:
        channels, _ = _source_audio(src)
        if channels is None:
            return None
    run_ffmpeg(prepare_args(src, out_path, media_start_s=media_start_s, duration_s=duration_s, rate=rate,
                            channels=channels),
               error_code="AUDIO_MIX_FAILED", log_path=log_path, message=f"cannot prepare audio track {src}",
               details={"track": str(src)}, capture_stdout=False)
    return Path(out_path)


def mix_graph(spans: list[tuple[float, float, float]], target_s: float) -> str:
    """The filter graph for prepared inputs 0..n-1, each (start_s, end_s, volume); output `[mix]`."""
    T = fmt_time(target_s)
    lines = []
    for i, (start, end, volume) in enumerate(spans):
        ms = int(round(start * 1000))
        lines.append(
            f"[{i}:a]atrim=0:{fmt_time(end - start)},volume={fmt_num(clamp_volume(volume))},"
            f"adelay={ms}|{ms},apad,asetpts=N/SR/TB,atrim=0:{T}[a{i}];"
        )
    n = len(spans)
    inputs = "".join(f"[a{i}]" for i in range(n))
    lines.append(f"{inputs}amix=inputs={n}:duration=longest:dropout_transition=0,volume={n}[mix]")
    return "\n".join(lines) + "\n"


def mix_audio(
    tracks: Iterable[Any],
    total_frames: int,
    fps: Fps,
    out_path: str | os.PathLike[str],
    work_dir: str | os.PathLike[str],
    *,
    log_path: str | os.PathLike[str] | None = None,
    silence_when_empty: bool = True,
) -> dict[str, Any]:
    """Mix the tracks into `out_path` (AAC 48 kHz stereo 192k, length T = frames × den / num).

    `tracks` are AudioTrack objects or mappings with src, start_s, end_s (None: natural end),
    media_start_s, playback_rate, volume. Sources without an audio stream are skipped. Writes
    silence when nothing is left (nothing at all without `silence_when_empty`). Returns
    {"tracks": mixed count, "skipped": [src...], "target_s": T}. Raises AUDIO_MIX_FAILED.
    """
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    T = target_length_s(total_frames, fps)
    if not (T > 0):
        raise HyperdeskError("AUDIO_MIX_FAILED", f"cannot mix audio of length {T}", details={"target_s": T})
    inputs: list[Path] = []
    spans: list[tuple[float, float, float]] = []
    skipped: list[str] = []
    for i, raw in enumerate(tracks):
        tr = AudioTrack.of(raw)
        rate = clamp_rate(tr.playback_rate)
        channels, src_duration = _source_audio(tr.src)
        if channels is None:
            skipped.append(str(tr.src))
            continue
        start, media_start = tr.start_s, tr.media_start_s
        end = tr.end_s
        if end is None:
            end = start + max(0.0, (src_duration - media_start) / rate)
        if start < 0:  # a window opening before 0: play from 0, further into the source
            media_start += -start * rate
            start = 0.0
        end = min(end, T)
        if start >= T or end <= start:
            skipped.append(str(tr.src))
            continue
        wav = work / f"track_{i:03d}.wav"
        prepare_audio_track(tr.src, wav, media_start_s=media_start, duration_s=end - start, rate=rate,
                            channels=channels, log_path=log_path)
        inputs.append(wav)
        spans.append((start, end, tr.volume))
    result = {"tracks": len(inputs), "skipped": skipped, "target_s": T}
    if not inputs:
        if silence_when_empty:
            write_silence(total_frames, fps, out_path, log_path=log_path)
        return result
    graph_file = work / "mix.filtergraph"
    graph_file.write_text(mix_graph(spans, T), "utf-8")
    args = []
    for wav in inputs:
        args += ["-i", os.fspath(wav)]
    args += ["-/filter_complex", os.fspath(graph_file), "-map", "[mix]", *_aac_out(T, out_path)]
    run_ffmpeg(args, error_code="AUDIO_MIX_FAILED", log_path=log_path, message="the audio mix failed",
               details={"tracks": len(inputs)}, capture_stdout=False)
    return result


def _aac_out(target_s: float, out_path: str | os.PathLike[str]) -> list[str]:
    return [*AAC_ARGS, "-t", fmt_time(target_s), *BITEXACT_AUDIO, "-f", "mp4", "-y", os.fspath(out_path)]


def write_silence(total_frames: int, fps: Fps, out_path: str | os.PathLike[str], *,
                  log_path: str | os.PathLike[str] | None = None) -> None:
    """The silent track of a composition without audio (the same bytes wherever it is made)."""
    T = target_length_s(total_frames, fps)
    run_ffmpeg(["-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", *_aac_out(T, out_path)],
               error_code="AUDIO_MIX_FAILED", log_path=log_path, message="the silent audio track failed",
               details={"tracks": 0}, capture_stdout=False)


def fit_args(src: Any, out: Any, target_s: float, measured_s: float) -> list[str]:
    T = fmt_time(target_s)
    af = f"apad,atrim=0:{T}" if measured_s < target_s else f"atrim=duration={T},asetpts=PTS-STARTPTS"
    return ["-i", os.fspath(src), "-map", "0:a:0", "-af", af, "-t", T, *AAC_ARGS, *BITEXACT_AUDIO,
            "-f", "mp4", "-y", os.fspath(out)]


def fit_audio(
    src: str | os.PathLike[str],
    target_s: float,
    out: str | os.PathLike[str],
    *,
    log_path: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Plan contract 10.2 step 2: make `out` an AAC track of length `target_s`.

    The source length is measured from its packets. Within 1 ms it is copied byte for byte;
    shorter is padded with silence, longer trimmed, both re-encoded AAC 48 kHz stereo 192k.
    Returns {"action": "copied"|"padded"|"trimmed", "measured_s", "target_s"}. Raises ENCODE_FAILED.
    """
    if not os.path.isfile(src):
        raise HyperdeskError("MISSING_PLAN_ARTIFACT", f"the plan's audio track is missing: {src}",
                             details={"path": str(src)})
    target_s = float(f"{target_s:.6f}")
    try:
        measured = audio_duration_from_packets(src)
    except HyperdeskError as exc:
        raise HyperdeskError("ENCODE_FAILED", f"cannot measure the audio track {src}: {exc.message}",
                             details={"path": str(src), **exc.details}) from exc
    if abs(measured - target_s) < FIT_TOLERANCE_S:
        if os.path.abspath(src) != os.path.abspath(out):
            shutil.copyfile(src, out)
        action = "copied"
    else:
        run_ffmpeg(fit_args(src, out, target_s, measured), error_code="ENCODE_FAILED", log_path=log_path,
                   message="the audio fit failed", details={"path": str(src)}, capture_stdout=False)
        action = "padded" if measured < target_s else "trimmed"
    return {"action": action, "measured_s": measured, "target_s": target_s}
