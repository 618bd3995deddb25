"""Faces a page's scripts draw with, loaded before any of its scripts runs.

A canvas line drawn by a script at load (``ctx.font = "24px Inter"``) is drawn at once: when the
family's ``@font-face`` has not loaded yet, Chromium draws it in the fallback face and the frame
shows the standard serif face (measured: 18.2 dB against HyperFrames, which draws Inter there).
So for every embedded family that a script names, the plan writes ``fonts/script-faces.js``, a
parser-blocking script in ``<head>`` that adds the family's faces from their bytes
(``new FontFace(family, bytes)`` is loaded synchronously), and the first script already finds them.
Pages whose scripts name no embedded family get nothing: their plans are unchanged."""
from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from pathlib import Path

from hyperdesk.models import FontFace

SCRIPT_FACES_FILE = "script-faces.js"
SCRIPT_FACES_SRC = f"/__hd/fonts/{SCRIPT_FACES_FILE}"
SCRIPT_SUFFIXES = (".js", ".mjs")

_LOADER = """// hyperdesk: the faces the page's scripts name, loaded before they run (see script_faces.py)
(() => {
  const faces = %s;
  for (const [family, data, descriptors] of faces) {
    const text = atob(data);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    try { document.fonts.add(new FontFace(family, bytes, descriptors)); } catch (e) { /* the CSS face stays */ }
  }
})();
"""


def script_texts(inline: Iterable[str], compiled_dir: Path) -> str:
    """The page's inline scripts and every script file of the compiled project, as one text."""
    parts = list(inline)
    for path in sorted(compiled_dir.rglob("*")):
        if path.suffix.lower() in SCRIPT_SUFFIXES and path.is_file():
            parts.append(path.read_text("utf-8", errors="replace"))
    return "\n".join(parts)


def named_families(faces: Iterable[FontFace], scripts: str) -> list[str]:
    """The families of *faces* that *scripts* names (a whole word, any case, as CSS matches names)."""
    found = set()
    for family in {f.family for f in faces}:
        if re.search(r"(?<![\w-])" + re.escape(family) + r"(?![\w-])", scripts, re.IGNORECASE):
            found.add(family)
    return sorted(found, key=lambda s: (s.casefold(), s))


def write_script_faces(fonts_dir: Path, faces: list[FontFace], families: list[str]) -> bool:
    """Write ``fonts_dir/script-faces.js`` for *families*; False (nothing written) when there are none."""
    wanted = {f.casefold() for f in families}
    rows = []
    for face in faces:
        if face.family.casefold() not in wanted:
            continue
        descriptors = {"style": face.style, "weight": str(face.weight)}
        if face.unicode_range:
            descriptors["unicodeRange"] = face.unicode_range
        data = base64.b64encode((fonts_dir / face.file).read_bytes()).decode("ascii")
        rows.append([face.family, data, descriptors])
    if not rows:
        return False
    (fonts_dir / SCRIPT_FACES_FILE).write_text(_LOADER % json.dumps(rows, sort_keys=True), encoding="utf-8",
                                              newline="\n")
    return True
