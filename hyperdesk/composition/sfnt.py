"""Font files as the plan keeps them: WOFF/WOFF2 unpacked to TrueType/OpenType (composition
contract 12.1), byte-for-byte the same on every machine."""
from __future__ import annotations

import hashlib
import io

from fontTools.ttLib import TTFont

_SFNT_MEMO: dict[str, tuple[bytes, str]] = {}


def to_sfnt(data: bytes) -> tuple[bytes, str]:
    """WOFF/WOFF2/TTF/OTF bytes -> (TrueType/OpenType bytes, "ttf" | "otf"). Deterministic."""
    key = hashlib.sha256(data).hexdigest()
    hit = _SFNT_MEMO.get(key)
    if hit is None:
        hit = _to_sfnt(data)
        if len(_SFNT_MEMO) > 512:
            _SFNT_MEMO.clear()
        _SFNT_MEMO[key] = hit
    return hit


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
