"""``@fontsource`` packages: the ``@font-face`` rules of an unpacked package for the weights and
styles asked for, with font URLs that name files inside the package."""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path


def fontsource_metadata(root: Path) -> dict:
    try:
        data = json.loads((root / "metadata.json").read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def fontsource_css(root: Path, package: str, version: str,
                   variants: Iterable[tuple[str, int, int]]) -> str:
    """The ``@font-face`` rules of an unpacked ``@fontsource`` package for the requested
    (style, min weight, max weight) variants: the package's per-weight CSS with its font URLs made
    absolute (``npm:<package>@<version>/files/<file>``) and each rule labelled with its subset."""
    meta = fontsource_metadata(root)
    weights = sorted({int(w) for w in meta.get("weights", [])})
    styles = set(meta.get("styles", []))
    if not weights:
        weights = sorted({int(m.group(1)) for p in root.glob("*.css")
                          if (m := re.fullmatch(r"(\d+)(?:-italic)?\.css", p.name))})
    if not styles:
        styles = {"normal"} | ({"italic"} if any(root.glob("*-italic.css")) else set())
    ident = str(meta.get("id") or package.rsplit("/", 1)[-1])
    chosen: set[tuple[str, int]] = set()
    for style, lo, hi in variants:
        if style not in styles or not weights:
            continue
        inside = [w for w in weights if lo <= w <= hi]
        if not inside:
            inside = [min(weights, key=lambda w: (abs(w - lo), w))]
        chosen.update((style, w) for w in inside)
    parts: list[str] = []
    prefix = f"npm:{package}@{version}/files/"
    for style, w in sorted(chosen, key=lambda sw: (sw[1], sw[0])):
        name = f"{w}.css" if style == "normal" else f"{w}-italic.css"
        try:
            css = (root / name).read_text(encoding="utf-8")
        except OSError:
            continue
        css = re.sub(r"""url\((['"]?)\./files/""", lambda m: f"url({m.group(1)}{prefix}", css)
        css = re.sub(
            r"/\*\s*" + re.escape(ident) + r"-(.+?)-\d+-(?:normal|italic)\s*\*/",
            lambda m: f"/* {m.group(1)} */", css,
        )
        parts.append(css.strip() + "\n")
    return "\n".join(parts)


def npm_file_path(root: Path, url: str) -> Path | None:
    """The file an ``npm:<package>@<version>/<path>`` URL names inside an unpacked package."""
    m = re.match(r"^npm:(?:@[^/]+/)?[^/@]+@[^/]+/(.+)$", url)
    if not m or ".." in m.group(1).split("/"):
        return None
    p = root / m.group(1)
    return p if p.is_file() else None
