"""Render the app icon's PNG sizes from resources/icons/io.hyperdesk.Hyperdesk.svg with Qt.

Only the SVG is committed; the PNGs are build output, laid out as a hicolor icon theme:

    python packaging/make_icons.py [OUT_DIR]      # default build/icons
    -> OUT_DIR/hicolor/{16x16,...,512x512}/apps/io.hyperdesk.Hyperdesk.png
       OUT_DIR/hicolor/scalable/apps/io.hyperdesk.Hyperdesk.svg

The same renderer runs at `hyperdesk install-desktop`, so the PNGs a user gets match these.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hyperdesk.gui.desktop_entry import APP_ID, PNG_SIZES, render_pngs  # noqa: E402

SVG = ROOT / "resources" / "icons" / f"{APP_ID}.svg"


def make_icons(out_dir: Path) -> list[Path]:
    svg = SVG.read_bytes()
    written = []
    scalable = out_dir / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    scalable.write_bytes(svg)
    written.append(scalable)
    for size, png in render_pngs(svg, PNG_SIZES).items():
        path = out_dir / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "build" / "icons"
    for path in make_icons(out):
        print(f"{path.stat().st_size:8d}  {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
