"""Compile step 5: animated GIF, APNG and animated WebP images become looping video clips.

A page would otherwise play them on wall-clock time; as video clips their frames are extracted at
plan time and shown by the seek like every other video (composition contract 11.1).
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from hyperdesk.composition.media import compiled_path
from hyperdesk.composition.subcomp import split_url

# Zero specificity: any authored object-fit still wins, and an <img>'s default box fit is kept.
FROM_IMAGE_CSS = ":where(video[data-hd-from-image]){object-fit:fill}"
_DROP = ("alt", "srcset", "sizes", "loading", "decoding", "fetchpriority", "ismap", "usemap", "crossorigin")


def _gif_frames(data: bytes) -> int:
    if len(data) < 13 or data[:6] not in (b"GIF87a", b"GIF89a"):
        return 0
    pos = 13
    if data[10] & 0x80:
        pos += 3 * (2 << (data[10] & 7))
    images = 0

    def skip_sub_blocks(p: int) -> int:
        while p < len(data):
            size = data[p]
            p += 1
            if size == 0:
                return p
            p += size
        return p

    while pos < len(data):
        kind = data[pos]
        if kind == 0x3B:
            break
        if kind == 0x21:
            pos = skip_sub_blocks(pos + 2)
        elif kind == 0x2C:
            images += 1
            if images > 1:
                return images
            flags = data[pos + 9] if pos + 9 < len(data) else 0
            pos += 10
            if flags & 0x80:
                pos += 3 * (2 << (flags & 7))
            pos = skip_sub_blocks(pos + 1)
        else:
            break
    return images


def _apng(data: bytes) -> bool:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return False
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"acTL":
            return True
        if kind == b"IDAT":
            return False
        pos += 12 + length
    return False


def _animated_webp(data: bytes) -> bool:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return False
    if data[12:16] == b"VP8X" and len(data) > 20:
        return bool(data[20] & 0x02)
    return b"ANIM" in data[12:4096]


def is_animated_image(path: Path) -> bool:
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return _gif_frames(data) > 1 or _apng(data) or _animated_webp(data)


def convert_animated_images(doc: Any, compiled_dir: Path, duration_s: float | None) -> int:
    """Turn every local animated <img> into `<video loop muted data-hd-from-image>` in place."""
    converted = 0
    for el in list(doc.iter("img")):
        src = el.get("src")
        if not src:
            continue
        rel = compiled_path(split_url(src)[0], compiled_dir)
        if rel is None or not is_animated_image(compiled_dir / rel):
            continue
        el.tag = "video"
        for name in _DROP:
            if name in el.attrib:
                del el.attrib[name]
        el.set("loop", "")
        el.set("muted", "")
        el.set("data-has-audio", "false")
        el.set("data-hd-from-image", "")
        # An image is shown for as long as its element is; the clip keeps that window.
        if el.get("data-duration") is None and el.get("data-end") is None:
            el.set("data-duration", repr(float(duration_s)) if duration_s else "86400")
        converted += 1
    return converted
