"""Test helpers for media: generate small inputs with the pinned ffmpeg and read outputs back.

Everything goes through the pinned ffmpeg (rawvideo / f32le pipes) and hyperdesk.encode.probe, so
tests need no other decoder. Keep generated media small (≤ 320×180, a few seconds).

    frames = decode_frames(path)            # list of (H, W, 3) uint8 arrays (rgba: (H, W, 4))
    pixel(frames[0], x, y)                  # (r, g, b[, a]) tuple
    samples = decode_audio(path)            # (n, channels) float32 at 48 kHz
    rms_dbfs(samples, t0, t1)               # RMS of a time range in dBFS (−inf → −200)
    rms_windows(samples, 0.01)              # RMS per 10 ms window, in dBFS
"""
from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path
from typing import Sequence

import numpy as np

from hyperdesk.encode import probe as _probe
from hyperdesk.encode.ffmpeg import ffmpeg_exe

SAMPLE_RATE = 48000


def ffmpeg(*args: str | os.PathLike[str], check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess:
    """Run the pinned ffmpeg (`-hide_banner -v error` added); raises with stderr on failure."""
    argv = [ffmpeg_exe(), "-hide_banner", "-v", "error"]
    if input is None:
        argv.append("-nostdin")
    argv += [os.fspath(a) for a in args]
    proc = subprocess.run(argv, capture_output=True, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(f"ffmpeg failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr.decode(errors='replace')}")
    return proc


# ------------------------------------------------------------------ generators


def make_jpeg_frames(out_dir: str | os.PathLike[str], count: int, *, size: str = "320x180", fps: int = 30,
                     start_number: int = 0, offset_frames: int = 0, quality: int = 2) -> list[Path]:
    """`count` JPEGs `frame_%06d.jpg` of testsrc2 (frames offset_frames …), numbered from start_number."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    w, h = (int(v) for v in size.split("x"))
    vf = f"trim=start_frame={offset_frames}"
    if w % 2 or h % 2:  # testsrc2 only makes even sizes
        vf += f",scale={w}:{h}"
        size = f"{w + w % 2}x{h + h % 2}"
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={size}:r={fps}", "-vf", vf,
           "-frames:v", str(count), "-q:v", str(quality), "-start_number", str(start_number),
           "-y", out / "frame_%06d.jpg")
    return sorted(out.glob("frame_*.jpg"))


def make_png_frames(out_dir: str | os.PathLike[str], count: int, *, size: str = "160x90", fps: int = 30,
                    start_number: int = 0, alpha: int = 128) -> list[Path]:
    """`count` RGBA PNGs of testsrc2 with a constant alpha (0–255)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={size}:r={fps}", "-frames:v", str(count),
           "-vf", f"format=rgba,colorchannelmixer=aa={alpha / 255:.6f}", "-pix_fmt", "rgba",
           "-start_number", str(start_number), "-y", out / "frame_%06d.png")
    return sorted(out.glob("frame_*.png"))


def make_video(path: str | os.PathLike[str], *, duration: float = 2.0, fps: str | int = 30, size: str = "320x180",
               codec: str = "libx264", vfr: bool = False, audio: bool = False, extra: Sequence[str] = ()) -> Path:
    """A small testsrc2 clip. `vfr=True` alternates frame durations (1/fps and 2/fps) into an mkv/mp4."""
    path = Path(path)
    args: list[str] = ["-f", "lavfi", "-i", f"testsrc2=s={size}:r={fps}:d={duration}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=f=440:r=48000:d={duration}"]
    vf = []
    if vfr:
        # every third frame is dropped: durations alternate 1, 2 frame periods
        vf.append("select='not(eq(mod(n\\,3)\\,1))'")
        args += ["-fps_mode", "vfr"]
    if vf:
        args += ["-vf", ",".join(vf)]
    args += ["-c:v", codec, "-pix_fmt", "yuv420p" if codec in ("libx264", "libx265") else "yuva420p" if codec == "libvpx-vp9" else "yuv420p"]
    if audio:
        args += ["-c:a", "aac" if path.suffix != ".webm" else "libopus"]
    args += [*extra, "-y", path]
    ffmpeg(*args)
    return path


def make_tone(path: str | os.PathLike[str], *, freq: float = 1000.0, duration: float = 1.0, amplitude: float = 0.5,
              sample_rate: int = SAMPLE_RATE, channels: int = 2) -> Path:
    """A sine tone WAV (pcm_s16le) at `amplitude` (linear, 1 = full scale)."""
    path = Path(path)
    expr = f"{amplitude}*sin(2*PI*{freq}*t)"
    layout = "mono" if channels == 1 else "stereo"
    ffmpeg("-f", "lavfi", "-i", f"aevalsrc={expr}|{expr}:s={sample_rate}:d={duration}" if channels == 2
           else f"aevalsrc={expr}:s={sample_rate}:d={duration}",
           "-channel_layout", layout, "-c:a", "pcm_s16le", "-y", path)
    return path


# ------------------------------------------------------------------ video readers


def video_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    pr = _probe.probe_media(path)
    return pr.width, pr.height


def decode_frames(path: str | os.PathLike[str], *, alpha: bool = False, start_number: int | None = None,
                  size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """Decode every frame of a video (or an image pattern) to RGB(A) uint8 arrays of shape (H, W, C).

    For an image pattern such as `dir/frame_%06d.png` pass `start_number` (and `size` if the
    pattern cannot be probed)."""
    pix = "rgba" if alpha else "rgb24"
    chans = 4 if alpha else 3
    inp: list[str] = []
    if start_number is not None:
        inp += ["-start_number", str(start_number)]
    if size is None:
        if start_number is not None:
            first = str(path) % start_number
            size = video_size(first)
        else:
            size = video_size(path)
    w, h = size
    if alpha and start_number is None and _probe.probe_media(path).codec in ("vp8", "vp9"):
        inp += ["-c:v", "libvpx" if _probe.probe_media(path).codec == "vp8" else "libvpx-vp9"]
    proc = ffmpeg(*inp, "-i", path, "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo",
                  "-pix_fmt", pix, "-")
    data = np.frombuffer(proc.stdout, dtype=np.uint8)
    frame_bytes = w * h * chans
    assert data.size % frame_bytes == 0, f"decoded {data.size} bytes, not a multiple of {frame_bytes}"
    return [data[i * frame_bytes:(i + 1) * frame_bytes].reshape(h, w, chans) for i in range(data.size // frame_bytes)]


def pixel(frame: np.ndarray, x: int, y: int) -> tuple[int, ...]:
    return tuple(int(v) for v in frame[y, x])


def count_frames(path: str | os.PathLike[str]) -> int:
    """Decoded video frames (null-muxer pass of the pinned ffmpeg)."""
    proc = ffmpeg("-i", path, "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "null", "-",
                  "-progress", "pipe:1", "-nostats")
    frames = [int(line.split("=")[1]) for line in proc.stdout.decode().splitlines() if line.startswith("frame=")]
    return frames[-1] if frames else 0


def count_packets(path: str | os.PathLike[str], stream: str = "v:0") -> int:
    return _probe.count_packets(path, stream)


def keyframe_indices(path: str | os.PathLike[str], stream: str = "v:0") -> list[int]:
    return _probe.key_packet_indices(path, stream)


# ------------------------------------------------------------------ audio readers


def decode_audio(path: str | os.PathLike[str], *, sample_rate: int = SAMPLE_RATE, channels: int = 2) -> np.ndarray:
    """Decode the first audio stream to float32 samples, shape (n, channels)."""
    proc = ffmpeg("-i", path, "-map", "0:a:0", "-f", "f32le", "-acodec", "pcm_f32le", "-ar", str(sample_rate),
                  "-ac", str(channels), "-")
    data = np.frombuffer(proc.stdout, dtype="<f4")
    return data.reshape(-1, channels)


def dbfs(rms: float) -> float:
    return 20 * math.log10(rms) if rms > 1e-10 else -200.0


def rms_dbfs(samples: np.ndarray, t0: float = 0.0, t1: float | None = None, *, sample_rate: int = SAMPLE_RATE) -> float:
    """RMS level of [t0, t1) over all channels, in dBFS (a full-scale sine is −3.01 dBFS)."""
    a = int(round(t0 * sample_rate))
    b = len(samples) if t1 is None else int(round(t1 * sample_rate))
    seg = np.asarray(samples[a:b], dtype=np.float64)
    if seg.size == 0:
        return -200.0
    return dbfs(float(np.sqrt(np.mean(seg * seg))))


def rms_windows(samples: np.ndarray, window_s: float, *, sample_rate: int = SAMPLE_RATE) -> list[float]:
    """RMS per consecutive window of `window_s` seconds, in dBFS (the last partial window included)."""
    n = max(1, int(round(window_s * sample_rate)))
    out = []
    for a in range(0, len(samples), n):
        seg = np.asarray(samples[a:a + n], dtype=np.float64)
        out.append(dbfs(float(np.sqrt(np.mean(seg * seg)))) if seg.size else -200.0)
    return out


def audio_duration(path: str | os.PathLike[str]) -> float:
    """Decoded length of the first audio stream in seconds (48 kHz)."""
    return len(decode_audio(path)) / SAMPLE_RATE
