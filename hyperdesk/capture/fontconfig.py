"""The per-render fontconfig file, composition contract 12.1.

One font directory (the plan's ``fonts/``), a cache directory inside the work dir, no include of
the system configuration, every generic family aliased to the default face, and one rendering rule
(antialias on, hinting off / hintnone, autohint off, subpixel order none, LCD filter none, embedded
bitmaps off). Chromium is started with ``FONTCONFIG_FILE`` pointing at the file.
"""
from __future__ import annotations

import os
from pathlib import Path
from xml.sax.saxutils import escape

DEFAULT_FACE = "Inter"

# Composition contract 12.1, "Generic families".
GENERIC_FAMILIES = [
    "sans-serif",
    "serif",
    "monospace",
    "cursive",
    "fantasy",
    "system-ui",
    "ui-sans-serif",
    "ui-serif",
    "ui-monospace",
    "emoji",
    "math",
    "fangsong",
    "-apple-system",
    "BlinkMacSystemFont",
]


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
    for fam in GENERIC_FAMILIES:
        lines += [
            '  <alias binding="same">',
            f"    <family>{escape(fam)}</family>",
            f"    <prefer><family>{face}</family></prefer>",
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
