"""Tiny image helpers for tests: a solid-colour PNG writer and an RGBA decoder via the pinned ffmpeg."""
from __future__ import annotations

import struct
import subprocess
import zlib


def solid_png(w: int, h: int, rgba: tuple[int, int, int, int]) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgba) * w
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * h)) + chunk(b"IEND", b""))


def decode_rgba(image: bytes, w: int, h: int) -> bytes:
    import imageio_ffmpeg

    out = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", "pipe:0", "-f", "rawvideo", "-pix_fmt", "rgba", "pipe:1"],
        input=image, capture_output=True, check=True, timeout=60,
    ).stdout
    assert len(out) == w * h * 4, (len(out), w, h)
    return out


def pixel(rgba: bytes, w: int, x: int, y: int) -> tuple[int, int, int, int]:
    i = (y * w + x) * 4
    return tuple(rgba[i:i + 4])
