"""The per-render fontconfig file, composition contract 12.1.

One font directory (the plan's ``fonts/``), a cache directory inside the work dir, no include of
the system configuration, the names Chromium asks fontconfig for bound to the faces HyperFrames
draws for them on Linux (``BROWSER_FACES``, docs/fonts.md; the default face when the plan lacks
one), and one rendering rule
(antialias on, hinting off / hintnone, autohint off, subpixel order none, LCD filter none, embedded
bitmaps off). Chromium is started with ``FONTCONFIG_FILE`` pointing at the file.
"""
from __future__ import annotations

import os
from pathlib import Path
from xml.sax.saxutils import escape

DEFAULT_FACE = "Inter"

# Where CSS gives Chromium no family of its own (the ``font`` shorthand and canvas ``ctx.font`` with
# a generic family, unstyled text, a family no tier supplied), Chromium asks fontconfig for these
# names; on a Linux host (HyperFrames' renderer) they give Liberation Sans/Serif/Mono and DejaVu Sans,
# whose designs the plan embeds from @fontsource: Arimo, Tinos and Cousine are the Liberation designs.
BROWSER_FACES: dict[str, tuple[str, ...]] = {
    "Arimo": ("Arial", "Helvetica", "Liberation Sans"),  # CSS sans-serif
    "Tinos": ("Times New Roman", "Times", "Liberation Serif"),  # CSS serif, the standard face
    "Cousine": ("Courier New", "Courier", "Liberation Mono", "monospace"),  # CSS monospace
    "DejaVu Sans": ("system-ui", "sans-serif", "sans"),  # CSS system-ui: fontconfig's own sans-serif
}

# No other name is bound (the CSS generic families cursive, fantasy, ui-*, ...): fontconfig answers
# a font of another name, which Chromium refuses as on a host, and it falls back to the standard
# face (Tinos), as HyperFrames draws them on Linux.


def fontconfig_text(fonts_dir: str | os.PathLike[str], cache_dir: str | os.PathLike[str],
                    default_face: str = DEFAULT_FACE) -> str:
    fonts = escape(os.path.abspath(fonts_dir))
    cache = escape(os.path.abspath(cache_dir))
    face = escape(default_face)
    lines = [
        '<?xml version="1.0"?>',
        '<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">',
        "<!-- hyperdesk per-render fontconfig: only the plan's fonts, no system configuration -->",
        "<fontconfig>",
        f"  <dir>{fonts}</dir>",
        f"  <cachedir>{cache}</cachedir>",
    ]
    for target, names in BROWSER_FACES.items():
        for name in names:
            lines += [
                '  <alias binding="same">',
                f"    <family>{escape(name)}</family>",
                f"    <prefer><family>{escape(target)}</family><family>{face}</family></prefer>",
                "  </alias>",
            ]
    lines += [
        '  <match target="font">',
        '    <edit name="antialias" mode="assign"><bool>true</bool></edit>',
        '    <edit name="hinting" mode="assign"><bool>false</bool></edit>',
        '    <edit name="hintstyle" mode="assign"><const>hintnone</const></edit>',
        '    <edit name="autohint" mode="assign"><bool>false</bool></edit>',
        '    <edit name="rgba" mode="assign"><const>none</const></edit>',
        '    <edit name="lcdfilter" mode="assign"><const>lcdnone</const></edit>',
        '    <edit name="embeddedbitmap" mode="assign"><bool>false</bool></edit>',
        "  </match>",
        "</fontconfig>",
        "",
    ]
    return "\n".join(lines)


def write_fontconfig(work_dir: str | os.PathLike[str], fonts_dir: str | os.PathLike[str],
                     default_face: str = DEFAULT_FACE) -> Path:
    """Write ``<work>/fontconfig/fonts.conf`` (cache in ``<work>/fontconfig/cache``); return its path."""
    base = Path(work_dir) / "fontconfig"
    cache = base / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    conf = base / "fonts.conf"
    conf.write_text(fontconfig_text(fonts_dir, cache, default_face), encoding="utf-8")
    return conf
