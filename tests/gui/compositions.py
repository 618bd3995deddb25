"""Tiny compositions for the end-to-end GUI tests: 160x90, 2 s at 15 fps (30 frames)."""
from __future__ import annotations

from pathlib import Path

TINY = """\
<!doctype html>
<html>
<head>
<meta charset="utf-8">
<style>
  html, body { margin: 0; background: #000; }
  #stage { position: relative; width: 160px; height: 90px; overflow: hidden; background: #102030; }
  #box { position: absolute; left: 0; top: 25px; width: 40px; height: 40px; background: #ff8800;
         animation: move 2s linear forwards; }
  @keyframes move { from { transform: translateX(0); } to { transform: translateX(120px); } }
</style>
</head>
<body>
<div id="stage" data-composition-id="tiny" data-width="160" data-height="90" data-duration="2" data-fps="15"
     data-no-timeline data-composition-variables='[{"id":"label","type":"string","default":"tiny"}]'>
  <div id="box"></div>
</div>
%SCRIPT%
</body>
</html>
"""

# An hf-seek listener that throws for 1.2 s <= t < 1.4 s: frames 18-20, i.e. only chunk 2 of 8-frame chunks.
BROKEN_SCRIPT = """<script>
window.addEventListener("hf-seek", (e) => {
  if (e.detail.time >= 1.2 && e.detail.time < 1.4) { throw new Error("the box fell over at " + e.detail.time.toFixed(2)); }
});
</script>"""

BOX_RGB = (0xFF, 0x88, 0x00)
BACKGROUND_RGB = (0x10, 0x20, 0x30)


def write_tiny(root: Path, *, broken: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text(TINY.replace("%SCRIPT%", BROKEN_SCRIPT if broken else ""))
    return root


def close_rgb(a: tuple[int, int, int], b: tuple[int, int, int], tol: int = 24) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b))
