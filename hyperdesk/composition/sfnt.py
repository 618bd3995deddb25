"""Font files as the plan keeps them: WOFF/WOFF2 unpacked to TrueType/OpenType (composition
contract 12.1), byte-for-byte the same on every machine."""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
from pathlib import Path

from fontTools.ttLib import TTFont

_SFNT_MEMO: dict[str, tuple[bytes, str]] = {}


def to_sfnt(data: bytes, cache_dir: Path | None = None) -> tuple[bytes, str]:
    """WOFF/WOFF2/TTF/OTF bytes -> (TrueType/OpenType bytes, "ttf" | "otf"). Deterministic.

    With `cache_dir` (the user asset cache) an unpacked WOFF/WOFF2 is kept under `sfnt/`, named by
    the source's and the result's sha256: fontTools decodes WOFF2 in pure Python (a quarter of a
    second a face, a dozen faces a plan), which is then paid once per machine, not once per plan."""
    key = hashlib.sha256(data).hexdigest()
    hit = _SFNT_MEMO.get(key)
    if hit is None and cache_dir is not None:
        hit = _load_cached(Path(cache_dir) / "sfnt", key)
    if hit is None:
        hit = _to_sfnt(data)
        if cache_dir is not None and hit[0] is not data:
            _store_cached(Path(cache_dir) / "sfnt", key, hit)
    if len(_SFNT_MEMO) > 512:
        _SFNT_MEMO.clear()
    _SFNT_MEMO[key] = hit
    return hit


def _load_cached(folder: Path, key: str) -> tuple[bytes, str] | None:
    """A cached conversion whose bytes still hash to the sha256 in its name (else it is ignored)."""
    for path in sorted(folder.glob(f"{key}.*.*")) if folder.is_dir() else []:
        _key, digest, ext = path.name.split(".", 2)
        try:
            out = path.read_bytes()
        except OSError:
            continue
        if ext in ("ttf", "otf") and hashlib.sha256(out).hexdigest() == digest:
            return out, ext
    return None


def _store_cached(folder: Path, key: str, converted: tuple[bytes, str]) -> None:
    out, ext = converted
    target = folder / f"{key}.{hashlib.sha256(out).hexdigest()}.{ext}"
    with contextlib.suppress(OSError):  # a cache that cannot be written only costs the next plan time
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{target.name}.{os.getpid()}.tmp"
        tmp.write_bytes(out)
        os.replace(tmp, target)


def _to_sfnt(data: bytes) -> tuple[bytes, str]:
    head = data[:4]
    if head in (b"\x00\x01\x00\x00", b"true") or head == b"OTTO":
        return data, ("otf" if head == b"OTTO" else "ttf")
    if head not in (b"wOFF", b"wOF2"):
        raise ValueError("not a TrueType, OpenType, WOFF or WOFF2 font")
    font = TTFont(io.BytesIO(data), recalcTimestamp=False, recalcBBoxes=False)
    font.flavor = None
    out = io.BytesIO()
    font.save(out, reorderTables=True)
    ext = "otf" if ("CFF " in font or "CFF2" in font) else "ttf"
    return out.getvalue(), ext
