"""Reading media: probes, packet counts, key packets, stream summaries, decode checks.

Probing only reads files (plan contract 5). `ffprobe` is used when one is on PATH; otherwise the
pinned ffmpeg supplies the same facts: `ffmpeg -i` for stream properties and a stream-copy pass into
the `framecrc` muxer for packets (timestamps, durations, key flags). Both paths give equal answers.
"""
from __future__ import annotations

import itertools
import json
import math
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

from hyperdesk.encode.ffmpeg import ffmpeg_exe, run_ffmpeg, stderr_tail
from hyperdesk.errors import HyperdeskError
from hyperdesk.models import Fps

ALPHA_PIX_PREFIXES = ("yuva", "rgba", "bgra", "argb", "abgr", "gbrap", "ya8", "ya16", "rgbaf", "ayuv")
HDR_TRANSFERS = ("smpte2084", "arib-std-b67")
PROBE_TIMEOUT_S = 600

# Tests may set this to False to force the pinned-ffmpeg path, or to a path to pick an ffprobe.
FFPROBE: str | bool | None = None


def ffprobe_exe() -> str | None:
    """The ffprobe used for reading, or None (then the pinned ffmpeg answers)."""
    if FFPROBE is False:
        return None
    if isinstance(FFPROBE, str):
        return FFPROBE
    return shutil.which("ffprobe")


@dataclass
class MediaProbe:
    path: str
    duration_s: float
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    codec: str | None = None
    pix_fmt: str | None = None
    fps: Fps | None = None
    is_vfr: bool = False
    has_alpha: bool = False
    color_transfer: str | None = None
    # The YCbCr matrix the stream is tagged with (ffprobe's `color_space`: bt709, smpte170m,
    # bt470bg, bt2020nc, ...), None when untagged.
    color_space: str | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    prober: str = "ffprobe"

    @property
    def is_hdr(self) -> bool:
        return self.color_transfer in HDR_TRANSFERS

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fps"] = None if self.fps is None else {"num": self.fps.num, "den": self.fps.den}
        return d


@dataclass
class PacketList:
    """Packets of one stream, in file (decode) order; times in `time_base` units."""

    time_base: Fraction
    pts: list[int | None] = field(default_factory=list)
    duration: list[int] = field(default_factory=list)
    key: list[bool] = field(default_factory=list)
    discard: list[bool] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.pts)

    def key_indices(self) -> list[int]:
        return [i for i, k in enumerate(self.key) if k]

    def duration_s(self) -> float:
        """Presentation length: end of the last packet minus max(0, first pts)."""
        ends = [p + d for p, d in zip(self.pts, self.duration, strict=True) if p is not None]
        starts = [p for p in self.pts if p is not None]
        if not ends:
            return 0.0
        return float((max(ends) - max(0, min(starts))) * self.time_base)


def _fail(code: str, message: str, path: Any, **details: Any) -> HyperdeskError:
    return HyperdeskError(code, message, details={"path": str(path), **details})


def _run_ffprobe(args: list[str], path: Any, code: str = "OUTPUT_DECODE_FAILED") -> Any:
    exe = ffprobe_exe()
    assert exe
    argv = [exe, "-v", "error", *args, "-of", "json", os.fspath(path)]
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=PROBE_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _fail(code, f"ffprobe failed on {path}: {exc}", path) from exc
    if proc.returncode != 0:
        tail = stderr_tail(proc.stderr)
        raise _fail(code, f"ffprobe cannot read {path}: {tail.splitlines()[-1] if tail else proc.returncode}",
                    path, stderr_tail=tail, command=argv)
    try:
        return json.loads(proc.stdout.decode("utf-8", "replace") or "{}")
    except ValueError as exc:
        raise _fail(code, f"ffprobe printed no JSON for {path}", path) from exc


def _frac(text: Any) -> Fraction | None:
    if text in (None, "", "0/0", "N/A"):
        return None
    try:
        f = Fraction(str(text))
    except (ValueError, ZeroDivisionError):
        return None
    return f if f > 0 else None


def _float(text: Any) -> float | None:
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _is_alpha_pix(pix_fmt: str | None) -> bool:
    return pix_fmt is not None and pix_fmt.startswith(ALPHA_PIX_PREFIXES)


def _vfr_from_packets(packets: PacketList) -> bool:
    pts = sorted(p for p in packets.pts if p is not None)
    deltas = [b - a for a, b in itertools.pairwise(pts) if b > a]
    if len(deltas) < 2:
        return False
    lo, hi = min(deltas), max(deltas)
    # a ms time base spreads 30 fps over 33/34 ticks; anything beyond ±1 tick and 10 % is variable
    return hi - lo > 1 and hi > lo * 1.1


# ---------------------------------------------------------------- packets


def packets(path: str | os.PathLike[str], stream: str = "v:0", *, limit: int | None = None) -> PacketList:
    """Every packet of one stream (`v:0`, `a:0`), or the first `limit`."""
    if not os.path.exists(path):
        raise _fail("OUTPUT_DECODE_FAILED", f"no such file: {path}", path)
    if ffprobe_exe():
        args = ["-select_streams", stream, "-show_entries", "stream=time_base:packet=pts,duration,flags"]
        if limit:
            args += ["-read_intervals", f"%+#{int(limit)}"]
        data = _run_ffprobe(args, path)
        streams = data.get("streams") or []
        tb = _frac(streams[0].get("time_base")) if streams else None
        out = PacketList(time_base=tb or Fraction(1, 1))
        if not streams:
            return out
        for p in data.get("packets") or []:
            pts = p.get("pts")
            out.pts.append(int(pts) if pts not in (None, "N/A") else None)
            out.duration.append(int(p.get("duration") or 0))
            flags = p.get("flags", "")
            out.key.append(flags.startswith("K"))
            out.discard.append("D" in flags)
        return out
    return _framecrc_packets(path, stream, limit=limit)


_HEADER_RE = re.compile(r"^#(\w+) (\d+): (.*)$")


def _parse_framecrc(text: str) -> tuple[dict[int, str], dict[int, PacketList]]:
    """framecrc output -> ({stream index: media type}, {stream index: its packets})."""
    kinds: dict[int, str] = {}
    lists: dict[int, PacketList] = {}

    def of(idx: int) -> PacketList:
        return lists.setdefault(idx, PacketList(time_base=Fraction(1, 1)))

    for line in text.splitlines():
        if line.startswith("#"):
            m = _HEADER_RE.match(line)
            if m and m.group(1) == "tb":
                num, _, den = m.group(3).partition("/")
                of(int(m.group(2))).time_base = Fraction(int(num), int(den))
            elif m and m.group(1) == "media_type":
                kinds[int(m.group(2))] = m.group(3).strip()
            continue
        parts = [x.strip() for x in line.split(",")]
        if len(parts) < 6:
            continue
        pl = of(int(parts[0]))
        flags = 1  # framecrc prints F= only when the flags are not just "key"
        for extra in parts[6:]:
            if extra.startswith("F=0x"):
                flags = int(extra[4:], 16)
        pl.pts.append(int(parts[2]))
        pl.duration.append(int(parts[3]))
        pl.key.append(bool(flags & 1))
        pl.discard.append(bool(flags & 4))
    return kinds, lists


def _framecrc_packets(path: Any, stream: str, *, limit: int | None = None) -> PacketList:
    # no trailing '?': a map matching nothing would make ffmpeg fall back to its default streams
    args = ["-v", "error", "-i", os.fspath(path), "-map", f"0:{stream}", "-c", "copy"]
    if limit:
        args += ["-frames:0", str(int(limit))]
    args += ["-f", "framecrc", "-"]
    try:
        proc = run_ffmpeg(args, error_code="OUTPUT_DECODE_FAILED", timeout=PROBE_TIMEOUT_S,
                          message=f"cannot read the packets of {path}")
    except HyperdeskError as exc:
        if "matches no streams" in exc.details.get("stderr_tail", ""):
            return PacketList(time_base=Fraction(1, 1))
        raise
    _, lists = _parse_framecrc(proc.stdout.decode("utf-8", "replace"))
    return lists.get(0, PacketList(time_base=Fraction(1, 1)))


def pinned_packet_count(path: str | os.PathLike[str], stream: str = "v:0") -> int:
    """Packets of one stream read by the pinned ffmpeg (framecrc, nothing decoded): one static
    process, ~35 ms here against ~75 ms for an ffprobe run."""
    if not os.path.exists(path):
        raise _fail("OUTPUT_DECODE_FAILED", f"no such file: {path}", path)
    return len(_framecrc_packets(path, stream))


def count_packets(path: str | os.PathLike[str], stream: str = "v:0") -> int:
    """Packets of one stream (ffprobe `-count_packets`, else the framecrc pass)."""
    if ffprobe_exe():
        data = _run_ffprobe(["-select_streams", stream, "-count_packets", "-show_entries", "stream=nb_read_packets"],
                            path)
        streams = data.get("streams") or []
        if not streams:
            return 0
        return int(streams[0].get("nb_read_packets") or 0)
    return len(_framecrc_packets(path, stream))


def key_packet_indices(path: str | os.PathLike[str], stream: str = "v:0") -> list[int]:
    """Indices (in file order) of the key packets of a stream."""
    return packets(path, stream).key_indices()


# ---------------------------------------------------------------- probe_media


def probe_media(path: str | os.PathLike[str]) -> MediaProbe:
    """Stream facts of a media file (raises VIDEO_EXTRACTION_FAILED when it cannot be read)."""
    if not os.path.isfile(path):
        raise _fail("VIDEO_EXTRACTION_FAILED", f"no such media file: {path}", path)
    if ffprobe_exe():
        return _probe_ffprobe(path)
    return _probe_ffmpeg(path)


def _probe_ffprobe(path: Any) -> MediaProbe:
    data = _run_ffprobe(["-show_format", "-show_streams"], path, code="VIDEO_EXTRACTION_FAILED")
    streams = data.get("streams") or []
    fmt = data.get("format") or {}
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not (s.get("disposition") or {}).get("attached_pic")), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    pr = MediaProbe(path=str(path), duration_s=_float(fmt.get("duration")) or 0.0,
                    has_video=video is not None, has_audio=audio is not None, prober="ffprobe")
    if video is not None:
        pr.width = int(video.get("width") or 0)
        pr.height = int(video.get("height") or 0)
        pr.codec = video.get("codec_name")
        pr.pix_fmt = video.get("pix_fmt")
        tags = {str(k).lower(): str(v) for k, v in (video.get("tags") or {}).items()}
        pr.has_alpha = _is_alpha_pix(pr.pix_fmt) or tags.get("alpha_mode") == "1"
        ct = video.get("color_transfer")
        pr.color_transfer = ct if ct not in (None, "", "unknown") else None
        cs = video.get("color_space")
        pr.color_space = cs if cs not in (None, "", "unknown", "unspecified") else None
        r = _frac(video.get("r_frame_rate"))
        avg = _frac(video.get("avg_frame_rate"))
        rate = avg or r
        if rate is not None:
            pr.fps = Fps.of(rate.numerator, rate.denominator)
        vdur = _float(video.get("duration"))
        if vdur:
            pr.duration_s = vdur
        is_vfr = bool(r and avg and abs(float(r - avg)) > 0.005 * float(r))
        if not is_vfr:
            is_vfr = _vfr_from_packets(packets(path, "v:0", limit=600))
        pr.is_vfr = is_vfr
    if audio is not None:
        pr.audio_codec = audio.get("codec_name")
        pr.sample_rate = int(audio.get("sample_rate") or 0) or None
        pr.channels = int(audio.get("channels") or 0) or None
        if video is None:
            adur = _float(audio.get("duration"))
            if adur:
                pr.duration_s = adur
    return pr


_DURATION_RE = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_STREAM_RE = re.compile(r"^\s*Stream #0:(\d+)[^:]*: (Video|Audio|Subtitle|Data|Attachment): (.*)$")
_SIZE_RE = re.compile(r"^(\d+)x(\d+)")
_RATE_RE = re.compile(r"^([\d.]+)(k?) (fps|tbr)$")
_COLOR_SPACE_NAMES = {"gbr", "bt709", "fcc", "bt470bg", "smpte170m", "smpte240m", "ycgco", "bt2020nc", "bt2020c",
                      "smpte2085", "chroma-derived-nc", "chroma-derived-c", "ictcp", "ipt-c2", "ycgco-re", "ycgco-ro"}
_COLOR_NAMES = {"bt709", "bt470m", "bt470bg", "smpte170m", "smpte240m", "linear", "log100", "log316",
                "iec61966-2-4", "bt1361e", "iec61966-2-1", "bt2020-10", "bt2020-12", "smpte2084",
                "smpte428", "arib-std-b67", "gamma22", "gamma28"}


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses or brackets."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if cur:
        parts.append("".join(cur).strip())
    return parts


def _rate_fraction(value: str) -> Fraction:
    """A rate as ffmpeg prints it (`30`, `29.97`, `23.98`, `12.50`) back to its fraction."""
    f = Fraction(value)
    if f.denominator == 1:
        return f
    ntsc = Fraction(round(f * Fraction(1001, 1000)) * 1000, 1001)
    if ntsc > 0 and abs(float(ntsc - f)) < 0.005:
        return ntsc
    approx = f.limit_denominator(1001)
    return approx if abs(float(approx - f)) < 0.005 else f


def _parse_ffmpeg_info(text: str) -> dict[str, Any]:
    """The stream facts of `ffmpeg -i` output (first input only)."""
    info: dict[str, Any] = {"video": None, "audio": None, "duration": None}
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        m = _DURATION_RE.search(line)
        if m and info["duration"] is None:
            info["duration"] = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
            continue
        m = _STREAM_RE.match(line)
        if m:
            kind, body = m.group(2), m.group(3)
            current = None
            fields = _split_top(body)
            codec = fields[0].split()[0] if fields and fields[0] else None
            if kind == "Video" and info["video"] is None and "(attached pic)" not in body:
                v: dict[str, Any] = {"codec": codec, "tags": {}}
                if len(fields) > 1:
                    pix = fields[1]
                    v["pix_fmt"] = pix.split("(")[0].strip()
                    if "(" in pix:
                        inner = [s.strip() for s in pix[pix.index("(") + 1: pix.rindex(")")].split(",")]
                        for s in inner:
                            if "/" in s:  # space/primaries/transfer
                                trio = s.split("/")
                                if len(trio) == 3:
                                    v["transfer"] = trio[2]
                                    v["color_space"] = trio[0]
                            else:  # one name: space, primaries and transfer are all that name
                                if s in _COLOR_NAMES:
                                    v.setdefault("transfer", s)
                                if s in _COLOR_SPACE_NAMES:
                                    v.setdefault("color_space", s)
                for f in fields[2:]:
                    sm = _SIZE_RE.match(f)
                    if sm and "width" not in v:
                        v["width"], v["height"] = int(sm.group(1)), int(sm.group(2))
                    rm = _RATE_RE.match(f)
                    if rm:
                        val = float(rm.group(1)) * (1000 if rm.group(2) else 1)
                        v[rm.group(3)] = rm.group(1) if not rm.group(2) else str(val)
                info["video"] = current = v
            elif kind == "Audio" and info["audio"] is None:
                a: dict[str, Any] = {"codec": codec, "tags": {}}
                for f in fields[1:]:
                    if f.endswith(" Hz"):
                        a["sample_rate"] = int(f.split()[0])
                    elif f in ("mono",):
                        a["channels"] = 1
                    elif f.startswith("stereo"):
                        a["channels"] = 2
                    elif re.match(r"^\d+ channels", f):
                        a["channels"] = int(f.split()[0])
                    elif re.match(r"^(2\.1|3\.0|3\.1|4\.0|4\.1|quad|5\.0|5\.1|6\.0|6\.1|7\.0|7\.1)", f):
                        n = {"2.1": 3, "3.0": 3, "3.1": 4, "4.0": 4, "4.1": 5, "quad": 4, "5.0": 5, "5.1": 6,
                             "6.0": 6, "6.1": 7, "7.0": 7, "7.1": 8}
                        a["channels"] = n.get(f.split("(")[0], 2)
                info["audio"] = current = a
            continue
        if current is not None:
            mm = re.match(r"^\s{6,}(\S[^:]*?)\s*: (.*)$", line)
            if mm:
                current["tags"].setdefault(mm.group(1).strip().lower(), mm.group(2).strip())
            elif not line.startswith("    "):
                current = None
    return info


def ffmpeg_info(path: Any) -> dict[str, Any]:
    exe = ffmpeg_exe()
    try:
        proc = subprocess.run([exe, "-hide_banner", "-nostdin", "-i", os.fspath(path)], capture_output=True,
                              timeout=PROBE_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _fail("VIDEO_EXTRACTION_FAILED", f"cannot probe {path}: {exc}", path) from exc
    text = proc.stderr.decode("utf-8", "replace")
    if "Input #0" not in text:
        tail = stderr_tail(text)
        raise _fail("VIDEO_EXTRACTION_FAILED", f"ffmpeg cannot read {path}: {tail.splitlines()[-1] if tail else ''}",
                    path, stderr_tail=tail)
    return _parse_ffmpeg_info(text)


def _probe_ffmpeg(path: Any) -> MediaProbe:
    info = ffmpeg_info(path)
    v, a = info["video"], info["audio"]
    pr = MediaProbe(path=str(path), duration_s=float(info["duration"] or 0.0), has_video=v is not None,
                    has_audio=a is not None, prober="ffmpeg")
    if v is not None:
        pr.codec = v.get("codec")
        pr.pix_fmt = v.get("pix_fmt")
        pr.width, pr.height = v.get("width", 0), v.get("height", 0)
        pr.has_alpha = _is_alpha_pix(pr.pix_fmt) or v["tags"].get("alpha_mode") == "1"
        ct = v.get("transfer")
        pr.color_transfer = ct if ct and ct != "unknown" else None
        cs = v.get("color_space")
        pr.color_space = cs if cs and cs not in ("unknown", "unspecified") else None
        pk = _framecrc_packets(path, "v:0")
        if len(pk):
            pr.duration_s = pk.duration_s()
        pr.is_vfr = _vfr_from_packets(pk)
        rate_text = v.get("fps") or v.get("tbr")
        if pr.is_vfr and len(pk) and pr.duration_s > 0:
            rate = Fraction(len(pk)) / Fraction(pr.duration_s).limit_denominator(10**6)
            rate = rate.limit_denominator(1001)
        elif rate_text:
            rate = _rate_fraction(rate_text)
        else:
            rate = None
        if rate:
            pr.fps = Fps.of(rate.numerator, rate.denominator)
    if a is not None:
        pr.audio_codec = a.get("codec")
        pr.sample_rate = a.get("sample_rate")
        pr.channels = a.get("channels")
        if v is None:
            pk = _framecrc_packets(path, "a:0")
            if len(pk):
                pr.duration_s = pk.duration_s()
    return pr


# ---------------------------------------------------------------- summaries and decode checks


def stream_summary(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What the final verification (10.4) reads.

    Keys: r_frame_rate ("30/1"), video_codec, video_duration_s, audio_codec, audio_sample_rate,
    audio_channels, audio_duration_s (audio keys None without an audio stream). Durations are the
    stream's own where the container records one, else measured from its packets.
    """
    if not ffprobe_exe():  # the pinned ffmpeg alone: the one-pass scan the final verification reads
        return scan_output(path).summary()
    out: dict[str, Any] = {"r_frame_rate": None, "video_codec": None, "video_duration_s": None,
                           "audio_codec": None, "audio_sample_rate": None, "audio_channels": None,
                           "audio_duration_s": None}
    data = _run_ffprobe(["-show_streams"], path)
    streams = data.get("streams") or []
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is not None:
        r = _frac(video.get("r_frame_rate"))
        out["r_frame_rate"] = f"{r.numerator}/{r.denominator}" if r else None
        out["video_codec"] = video.get("codec_name")
        out["video_duration_s"] = _float(video.get("duration"))
    if audio is not None:
        out["audio_codec"] = audio.get("codec_name")
        out["audio_sample_rate"] = int(audio.get("sample_rate") or 0) or None
        out["audio_channels"] = int(audio.get("channels") or 0) or None
        out["audio_duration_s"] = _float(audio.get("duration"))
    if out["video_codec"] is not None and out["video_duration_s"] is None:
        out["video_duration_s"] = packets(path, "v:0").duration_s()
    if out["audio_codec"] is not None and out["audio_duration_s"] is None:
        out["audio_duration_s"] = packets(path, "a:0").duration_s()
    return out


def audio_duration_from_packets(path: str | os.PathLike[str]) -> float:
    """Length of the first audio stream measured from its packets (edit-list aware), read by the
    pinned ffmpeg: the same demuxer on every node, and one static process (~35 ms) where ffprobe
    took ~75 ms here."""
    if not os.path.exists(path):
        raise _fail("OUTPUT_DECODE_FAILED", f"no such file: {path}", path)
    return _framecrc_packets(path, "a:0").duration_s()




@dataclass
class OutputScan:
    """One read of a media file: `ffmpeg -i` stream facts and the packets of v:0 and a:0."""

    info: dict[str, Any]
    video: PacketList | None
    audio: PacketList | None

    def summary(self) -> dict[str, Any]:
        """The keys of `stream_summary`, durations measured from the packets."""
        v, a = self.info.get("video"), self.info.get("audio")
        out: dict[str, Any] = {"r_frame_rate": None, "video_codec": None, "video_duration_s": None,
                               "audio_codec": None, "audio_sample_rate": None, "audio_channels": None,
                               "audio_duration_s": None}
        if v is not None and self.video is not None:
            rate_text = v.get("tbr") or v.get("fps")
            if rate_text:
                r = _rate_fraction(rate_text)
                out["r_frame_rate"] = f"{r.numerator}/{r.denominator}"
            out["video_codec"] = v.get("codec")
            out["video_duration_s"] = self.video.duration_s()
        if a is not None and self.audio is not None:
            out["audio_codec"] = a.get("codec")
            out["audio_sample_rate"] = a.get("sample_rate")
            out["audio_channels"] = a.get("channels")
            out["audio_duration_s"] = self.audio.duration_s()
        return out


def scan_output(path: str | os.PathLike[str]) -> OutputScan:
    """Stream facts and every packet of the first video and audio stream in one pass of the pinned
    ffmpeg (`-c copy -f framecrc`, nothing decoded). The final verification reads everything but
    the decode pass from this: three ffprobe runs took ~225 ms here, this one ~40 ms.
    Raises OUTPUT_DECODE_FAILED when the file cannot be read."""
    if not os.path.exists(path):
        raise _fail("OUTPUT_DECODE_FAILED", f"no such file: {path}", path)
    proc = run_ffmpeg(["-nostats", "-i", os.fspath(path), "-map", "0:v:0?", "-map", "0:a:0?", "-c", "copy",
                       "-f", "framecrc", "-"], error_code="OUTPUT_DECODE_FAILED", timeout=PROBE_TIMEOUT_S,
                      message=f"cannot read the packets of {path}", details={"path": str(path)})
    info = _parse_ffmpeg_info(proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode("utf-8", "replace"))
    kinds, lists = _parse_framecrc(proc.stdout.decode("utf-8", "replace"))
    by_kind = {kinds.get(i): lists.get(i, PacketList(time_base=Fraction(1, 1))) for i in sorted(kinds)}
    return OutputScan(info=info, video=by_kind.get("video"), audio=by_kind.get("audio"))


_PROGRESS_FRAME_RE = re.compile(r"^frame=(\d+)\s*$", re.M)


def decode_check(path: str | os.PathLike[str], expected_frames: int, *, png_sequence: bool = False) -> None:
    """10.4 decode pass: the pinned ffmpeg decodes every stream to the null muxer with `-v error
    -xerror`; exit 0, nothing on stderr and `expected_frames` video frames reported by `-progress`.
    For a png-sequence `path` is the directory of `frame_%06d.png` (numbered from 1) or that pattern.
    Raises OUTPUT_DECODE_FAILED.
    """
    if png_sequence:
        pattern = os.fspath(path)
        if os.path.isdir(pattern):
            pattern = os.path.join(pattern, "frame_%06d.png")
        inp = ["-start_number", "1", "-i", pattern]
    else:
        # One decoding thread per core: ffmpeg's automatic count (cores + 1) was ~15 % slower here.
        # The in-loop deblocking filter is skipped: it reads nothing from the bitstream (its inputs
        # are already parsed), so every packet is still parsed and every frame reconstructed and
        # counted, and a damaged stream still fails; it saves ~15 % of the pass.
        inp = ["-threads", str(max(1, os.cpu_count() or 1)), "-skip_loop_filter", "all", "-i", os.fspath(path)]
    args = ["-v", "error", "-xerror", "-nostats", *inp, "-map", "0:v?", "-map", "0:a?",
            "-fps_mode", "passthrough", "-f", "null", "-", "-progress", "pipe:1"]
    proc = run_ffmpeg(args, error_code="OUTPUT_DECODE_FAILED", message=f"{path} does not decode",
                      details={"path": str(path)})
    stderr = (proc.stderr or "").strip()
    if stderr:
        raise HyperdeskError("OUTPUT_DECODE_FAILED", f"decoding {path} reported errors: {stderr.splitlines()[-1]}",
                             details={"path": str(path), "stderr_tail": stderr_tail(stderr)})
    frames = _PROGRESS_FRAME_RE.findall(proc.stdout.decode("utf-8", "replace"))
    decoded = int(frames[-1]) if frames else 0
    if decoded != expected_frames:
        raise HyperdeskError("OUTPUT_DECODE_FAILED",
                             f"decoding {path} gave {decoded} video frames, expected {expected_frames}",
                             details={"path": str(path), "decoded_frames": decoded, "expected_frames": expected_frames})
