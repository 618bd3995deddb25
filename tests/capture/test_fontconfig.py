"""The per-render fontconfig file (composition contract 12.1)."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from hyperdesk.capture.fontconfig import BROWSER_FACES, write_fontconfig


def test_fontconfig_content(tmp_path):
    work = tmp_path / "work"
    fonts = tmp_path / "plan" / "fonts"
    fonts.mkdir(parents=True)
    conf = write_fontconfig(work, fonts)
    assert conf.is_file() and conf.parent.parent == work
    text = conf.read_text()
    root = ET.fromstring(text)
    assert root.tag == "fontconfig"
    dirs = root.findall("dir")
    assert [d.text for d in dirs] == [str(fonts.resolve())]
    caches = root.findall("cachedir")
    assert len(caches) == 1
    cache = Path(caches[0].text)
    assert cache.is_dir() and work.resolve() in cache.resolve().parents
    assert root.findall("include") == [] and "<include" not in text
    aliases = {a.find("family").text: [f.text for f in a.find("prefer").findall("family")] for a in root.findall("alias")}
    # issue 16: the names Chromium asks for are bound to the designs HyperFrames draws on Linux
    # (docs/fonts.md), the default face second; no other generic family is bound.
    assert set(aliases) == {n for names in BROWSER_FACES.values() for n in names}
    assert aliases["Arial"] == ["Arimo", "Inter"] and aliases["Times New Roman"] == ["Tinos", "Inter"]
    assert aliases["monospace"] == ["Cousine", "Inter"] and aliases["system-ui"] == ["DejaVu Sans", "Inter"]
    assert "cursive" not in aliases and "fantasy" not in aliases
    matches = root.findall("match")
    assert len(matches) == 1 and matches[0].get("target") == "font"
    edits = {}
    for e in matches[0].findall("edit"):
        assert e.get("mode") == "assign"
        child = list(e)[0]
        edits[e.get("name")] = (child.tag, child.text)
    assert edits == {
        "antialias": ("bool", "true"),
        "hinting": ("bool", "false"),
        "hintstyle": ("const", "hintnone"),
        "autohint": ("bool", "false"),
        "rgba": ("const", "none"),
        "lcdfilter": ("const", "lcdnone"),
        "embeddedbitmap": ("bool", "false"),
    }


def test_paths_are_escaped(tmp_path):
    fonts = tmp_path / "a&b <fonts>"
    fonts.mkdir()
    conf = write_fontconfig(tmp_path / "w", fonts)
    root = ET.fromstring(conf.read_text())
    assert root.find("dir").text == str(fonts.resolve())
