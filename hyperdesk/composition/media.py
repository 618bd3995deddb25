"""Media discovery (contract 3.2, 5.3, 11.1, 11.2; compile step 6).

Gives every <video>/<audio> its media id, data-start default, data-has-audio, probed
data-duration (with data-hd-auto-duration) and, on videos without a size, the source's
width/height; then lists the videos and audio tracks with their absolute windows for plan().
"""
from __future__ import annotations

import posixpath
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable
from urllib.parse import unquote

from hyperdesk.composition.document import (
    format_seconds,
    invalid,
    iter_elements,
    parse_decimal,
    source_file_of,
)
from hyperdesk.composition.subcomp import is_relative_url, is_remote_url, split_url
from hyperdesk.composition.timing import StaticTiming, media_start_of, playback_rate_of
from hyperdesk.errors import HyperdeskError
from hyperdesk.models import PlanWarning

MAX_VOLUME = 10 ** (12 / 20)
AUDIO_CLAMP_TOLERANCE = 0.05


@dataclass
class CompiledVideo:
    media_id: str
    src: str                      # relative to compiled/
    start_s: float
    end_s: float | None
    media_start_s: float
    playback_rate: float
    loop: bool
    has_audio: bool
    source_duration_s: float | None = None
    width: int = 0
    height: int = 0
    start_certain: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AudioTrack:
    media_id: str
    src: str                      # relative to compiled/
    start_s: float
    end_s: float | None
    media_start_s: float
    playback_rate: float
    volume: float
    kind: str = "audio"           # "audio" or "video" (a video's sound)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_inert(el: Any) -> bool:
    parent = el.getparent()
    while parent is not None:
        if parent.tag == "template":
            return True
        parent = parent.getparent()
    return False


def media_elements(doc: Any) -> list[Any]:
    return [el for el in iter_elements(doc) if el.tag in ("video", "audio") and not _is_inert(el)]


def media_source(el: Any) -> str | None:
    """The element's src, else its first <source src>."""
    src = el.get("src")
    if src and src.strip():
        return src.strip()
    for child in el:
        if isinstance(child.tag, str) and child.tag == "source":
            s = child.get("src")
            if s and s.strip():
                return s.strip()
    return None


def compiled_path(src: str, compiled_dir: Path) -> str | None:
    """The file a media URL names inside compiled/ (posix, relative), or None for a URL that is
    not a file of the compiled tree (data:, blob:, remote)."""
    if is_remote_url(src) or src.lower().startswith(("data:", "blob:")):
        return None
    path, _ = split_url(src)
    path = unquote(path)
    if path.startswith("/"):
        path = path.lstrip("/")
    elif not is_relative_url(src):
        return None
    norm = posixpath.normpath(path)
    if norm.startswith("../") or norm in ("..", ".", ""):
        return None
    return norm


def assign_media_ids(doc: Any) -> None:
    """5.3: element id if unique, else `<id>__hf<n>`, else hd-video-<n> / hd-audio-<n>."""
    elements = media_elements(doc)
    id_counts: dict[str, int] = {}
    for el in iter_elements(doc):
        el_id = el.get("id")
        if el_id:
            id_counts[el_id] = id_counts.get(el_id, 0) + 1
    used: set[str] = set()
    dup_seen: dict[str, int] = {}
    kind_seen = {"video": 0, "audio": 0}
    for el in elements:
        kind_seen[el.tag] += 1
        el_id = el.get("id")
        if el_id and id_counts.get(el_id, 0) == 1:
            candidate = el_id
        elif el_id:
            dup_seen[el_id] = dup_seen.get(el_id, 0) + 1
            candidate = f"{el_id}__hf{dup_seen[el_id]}"
        else:
            candidate = f"hd-{el.tag}-{kind_seen[el.tag]}"
        base, n = candidate, 1
        while candidate in used or (candidate != el_id and id_counts.get(candidate)):
            n += 1
            candidate = f"{base}-{n}"
        used.add(candidate)
        el.set("data-hd-media-id", candidate)


def normalise_media(doc: Any, compiled_dir: Path, prober: Callable[[Path], Any], entry: str,
                    warnings: list[PlanWarning]) -> dict[Any, Any]:
    """Step 6 attributes; returns the probe of every media element that has a local source."""
    probes: dict[Any, Any] = {}
    cache: dict[str, Any] = {}
    assign_media_ids(doc)
    for el in media_elements(doc):
        if el.tag == "video":
            if el.get("data-has-audio") is None:
                el.set("data-has-audio", "false" if el.get("muted") is not None else "true")
            el.set("muted", "")
        start = el.get("data-start")
        if start is None or not start.strip():
            el.set("data-start", "0")
            el.set("data-hf-auto-start", "")
        src = media_source(el)
        if src is None:
            continue
        rel = compiled_path(src, compiled_dir)
        if rel is None:
            if is_remote_url(src):
                warnings.append(PlanWarning(code="MEDIA_NOT_FROZEN", message=f"{src} was not frozen",
                                            element=f"<{el.tag}>", url=src))
                continue
            if is_relative_url(src) or src.startswith("/"):
                raise invalid(source_file_of(el, entry), el, "src", src,
                              "the media file does not exist in the project")
            continue
        path = compiled_dir / rel
        if not path.is_file():
            raise invalid(source_file_of(el, entry), el, "src", src,
                          f"the media file {rel} does not exist in the project")
        if rel not in cache:
            try:
                cache[rel] = prober(path)
            except HyperdeskError as err:
                if el.tag == "audio" and err.code == "VIDEO_EXTRACTION_FAILED":
                    # The prober speaks for videos; an unreadable audio source fails the audio mix.
                    raise HyperdeskError("AUDIO_MIX_FAILED", f"cannot read the audio source {rel}: {err.message}",
                                         details={**err.details, "src": rel}) from None
                raise
        probe = cache[rel]
        probes[el] = (rel, probe)
        _write_duration(el, probe)
        if el.tag == "video" and el.get("width") is None and el.get("height") is None:
            w, h = int(getattr(probe, "width", 0) or 0), int(getattr(probe, "height", 0) or 0)
            if w > 0 and h > 0:
                el.set("width", str(w))
                el.set("height", str(h))
    return probes


def _natural_length(el: Any, probe: Any) -> float | None:
    duration = getattr(probe, "duration_s", None)
    if duration is None:
        return None
    length = (float(duration) - media_start_of(el)) / playback_rate_of(el)
    return length if length > 0 else None


def _write_duration(el: Any, probe: Any) -> None:
    """3.2 rule 3: when neither data-duration nor data-end yields a value, the natural length is
    written as data-duration with the data-hd-auto-duration marker."""
    own = parse_decimal(el.get("data-duration"))
    if own is not None and own > 0:
        return
    if el.get("data-end") is not None and el.get("data-end").strip():
        return  # rule 2 may apply: decided by apply_end_fallbacks once starts can be resolved
    length = _natural_length(el, probe)
    if length is None:
        return
    el.set("data-duration", format_seconds(length))
    el.set("data-hd-auto-duration", "")


def apply_end_fallbacks(probes: dict[Any, Any], timing: StaticTiming) -> bool:
    """Media with a data-end that yields no positive duration get the natural length (rule 3).
    Returns True when an attribute changed (the caller then resolves the timing again)."""
    changed = False
    for el, (_rel, probe) in probes.items():
        own = parse_decimal(el.get("data-duration"))
        if own is not None and own > 0:
            continue
        if el.get("data-end") is None or not el.get("data-end").strip():
            continue
        if timing.duration(el).value is not None:
            continue
        length = _natural_length(el, probe)
        if length is None:
            continue
        el.set("data-duration", format_seconds(length))
        el.set("data-hd-auto-duration", "")
        changed = True
    return changed


def _hidden(el: Any) -> bool:
    node = el
    while node is not None:
        if isinstance(node.tag, str) and node.get("data-hidden") is not None:
            return True
        node = node.getparent()
    return False


def build_media_lists(doc: Any, timing: StaticTiming, probes: dict[Any, Any],
                      duration_s: float | None) -> tuple[list[CompiledVideo], list[AudioTrack]]:
    """The videos (every <video> with a local source) and audio tracks (11.2) with windows."""
    videos: list[CompiledVideo] = []
    tracks: list[AudioTrack] = []
    for el in media_elements(doc):
        if el not in probes:
            continue
        rel, probe = probes[el]
        start = timing.start(el)
        end = timing.end(el)
        media_start = media_start_of(el)
        rate = playback_rate_of(el)
        start_s = start.value or 0.0
        end_s = end.value
        if el.tag == "video":
            has_audio = el.get("data-has-audio") == "true" and bool(getattr(probe, "has_audio", False))
            videos.append(CompiledVideo(
                media_id=el.get("data-hd-media-id"), src=rel, start_s=start_s, end_s=end_s,
                media_start_s=media_start, playback_rate=rate, loop=el.get("loop") is not None,
                has_audio=has_audio, source_duration_s=getattr(probe, "duration_s", None),
                width=int(getattr(probe, "width", 0) or 0), height=int(getattr(probe, "height", 0) or 0),
                start_certain=start.certain,
            ))
            if not has_audio:
                continue
        elif not bool(getattr(probe, "has_audio", True)):
            continue
        if _hidden(el):
            continue
        if duration_s is not None and start_s >= duration_s:
            continue
        if el.tag == "audio":
            natural = _natural_length(el, probe)
            if natural is not None and end_s is not None and end_s - start_s > natural + AUDIO_CLAMP_TOLERANCE:
                end_s = start_s + natural
        volume = parse_decimal(el.get("data-volume"))
        volume = 1.0 if volume is None else min(MAX_VOLUME, max(0.0, volume))
        tracks.append(AudioTrack(
            media_id=el.get("data-hd-media-id"), src=rel, start_s=start_s, end_s=end_s,
            media_start_s=media_start, playback_rate=rate, volume=volume, kind=el.tag,
        ))
    return videos, tracks
