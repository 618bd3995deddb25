"""Fonts come only from the plan (composition contract 12.1): :func:`embed_fonts` resolves every
family the document names without its own ``@font-face`` and writes each face it needs as
TrueType/OpenType into the plan's ``fonts/`` directory, with ``fonts/manifest.json`` and
``fonts/fonts.css``.

Where faces come from: the default face (``Inter``, always), the alias table for host UI faces,
Google Fonts stylesheets through the asset resolver (directly, or from ``@fontsource`` packages
offline), and a Google Fonts lookup by name for any other named family. Which weights
(:func:`.font_scan.wanted_weights`) and subsets (:func:`.font_face.face_wanted`) are kept is
decided by the document; families requested by a Google Fonts URL get the weights the URL asks
for; styles are normal and italic wherever the family has them.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import HyperdeskError
from ..models import FontFace, FontManifest, PlanWarning
from .cdn import fontsource_package, google_fonts_url, normalize_url
from .css_urls import decode_css
from .face_writer import FaceWriter
from .font_face import FaceRule, document_codepoints, face_wanted, parse_font_face_rules, usable_srcs
from .font_scan import scan_font_css, wanted_weights
from .fonts import (
    DEFAULT_FAMILY,
    BROWSER_FACE_FAMILIES,
    FONT_ALIASES,
    FONTSOURCE_PINS,
    GENERIC_FAMILIES,
    ensure_default_font,
    is_generic_family,
)
from .fontsource import fontsource_css, npm_file_path
from .npm import NpmError, find_tarball, integrity_matches
from .remote_file import Fetched
from .resolver import AssetResolver, font_content_type
from .sfnt import to_sfnt

log = logging.getLogger(__name__)


@dataclass
class FontEmbedResult:
    manifest: FontManifest
    families: list[str]
    warnings: list[PlanWarning]


def embed_fonts(texts: list[str], css_texts: list[str], fonts_dir: Path,
                resolver: AssetResolver, google_font_urls: list[str]) -> FontEmbedResult:
    """Resolve and write every face the document needs (composition contract 12.1).

    ``texts``: the compiled document's text, attribute values and scripts (code points choose
    subsets; scripts also name weights). ``css_texts``: every stylesheet, ``style`` attribute and
    SVG ``font-family`` value, *before or after* :func:`normalize_font_css`.
    ``google_font_urls``: Google Fonts stylesheet links removed from the page (URLs the resolver met
    in ``@import`` or :meth:`AssetResolver.freeze` are added automatically).

    Writes ``fonts_dir/<family-slug>/<face>.ttf|otf``, ``fonts_dir/fonts.css`` and
    ``fonts_dir/manifest.json``; records every face fetched through the resolver in
    ``resolver.assets``. Raises ``ASSET_FETCH_FAILED`` for a font URL that cannot be fetched
    (unless the resolver allows missing assets);
    a family that is only named and cannot be resolved gives a ``FONT_NOT_FOUND`` warning.
    """
    fonts_dir = Path(fonts_dir)
    fonts_dir.mkdir(parents=True, exist_ok=True)
    writer = resolver.face_writer
    writer.rebase(fonts_dir)
    texts = list(texts)
    scan = scan_font_css(css_texts)
    weights = wanted_weights(scan, list(texts) + list(css_texts))
    codepoints = document_codepoints(texts)
    warnings: list[PlanWarning] = []

    own = {f.casefold() for f in scan.own_families} | writer.families()

    # 1. Google Fonts stylesheets named by the document.
    urls = sorted({normalize_url(u) for u in list(google_font_urls) + resolver.google_font_urls})
    for url in urls:
        try:
            faces = _embed_google_css(resolver, url, "Google Fonts stylesheet", writer, codepoints)
        except HyperdeskError as e:
            if not resolver.tolerate(e):
                raise
            continue  # its families are then resolved by name below, like any named family
        own |= {f.family.casefold() for f in faces}

    # 2. The default face, always.
    default = ensure_default_font(resolver.cache_dir, resolver.asset_dirs)
    default_css = fontsource_css(default.root, default.package, default.version,
                                 _variants(weights))
    _embed_rules_from_files(writer, default_css, default.root, "bundled", codepoints, None, resolver.cache_dir)

    # 2b. The faces Chromium draws where the CSS names no family (docs/fonts.md), under their own
    # names; without one, the fontconfig binding falls back to the default face.
    for browser_face in BROWSER_FACE_FAMILIES:
        try:
            _embed_fontsource(resolver, browser_face, _variants(weights), writer, codepoints, family=browser_face,
                              source=f"browser:{browser_face}", referenced_by="the browser's default faces")
        except HyperdeskError as e:
            # Not a plan warning: the plan is then what it was before issue 16 (the default face),
            # e.g. offline with only the document's own packages in an --asset-dir.
            log.warning("the browser face %s (%s) is unavailable, its text renders in %s: %s", browser_face,
                        fontsource_package(browser_face), DEFAULT_FAMILY, e.message)

    # 3. Named families without their own @font-face.
    named: dict[str, str] = {}
    for name in scan.named_families:
        cf = name.casefold()
        if is_generic_family(name) or cf in own or cf == DEFAULT_FAMILY.casefold():
            continue
        named[cf] = min(named.get(cf, name), name)
    for cf in sorted(named):
        name = named[cf]
        target = FONT_ALIASES.get(cf)
        if target == DEFAULT_FAMILY:
            _embed_rules_from_files(writer, default_css, default.root, f"alias:{DEFAULT_FAMILY}",
                                    codepoints, name, resolver.cache_dir)
            continue
        try:
            if target is not None:
                _embed_fontsource(resolver, target, _variants(weights), writer, codepoints,
                                  family=name, source=f"alias:{target}",
                                  referenced_by=f"font-family {name}")
            else:
                try:
                    _embed_google_css(resolver, google_fonts_url(name, weights, italic=True),
                                      f"font-family {name}", writer, codepoints)
                except HyperdeskError:
                    _embed_google_css(resolver, google_fonts_url(name), f"font-family {name}",
                                      writer, codepoints)
        except HyperdeskError:
            where = (f"the {target} alias package {fontsource_package(target)}" if target
                     else f"Google Fonts or {fontsource_package(name)}")
            warnings.append(PlanWarning(
                code="FONT_NOT_FOUND",
                message=(f'font family "{name}" could not be resolved from {where}; '
                         f"it renders in the default face {DEFAULT_FAMILY}"),
            ))

    faces = sorted(writer.faces.values(),
                   key=lambda f: (f.family.casefold(), f.family, f.style, f.weight, f.file))
    manifest = FontManifest(
        default_family=DEFAULT_FAMILY,
        generic_map={g: DEFAULT_FAMILY for g in GENERIC_FAMILIES},
        faces=faces,
    )
    css = ["/* hyperdesk: every face comes from the plan (composition contract 12.1) */\n"]
    css += [writer.rules[f.file] for f in faces]
    (fonts_dir / "fonts.css").write_text("\n".join(css), encoding="utf-8", newline="\n")
    (fonts_dir / "manifest.json").write_text(
        json.dumps(manifest.model_dump(mode="json"), sort_keys=True, indent=2,
                   ensure_ascii=False) + "\n",
        encoding="utf-8", newline="\n",
    )
    # The document's families: the browser's own faces are not among them.
    families = sorted({f.family for f in faces if f.source != f"browser:{f.family}"},
                      key=lambda s: (s.casefold(), s))
    return FontEmbedResult(manifest=manifest, families=families, warnings=warnings)

def _variants(weights: list[int]) -> list[tuple[str, int, int]]:
    return [(s, w, w) for s in ("normal", "italic") for w in weights]


def _embed_rules_from_files(writer: FaceWriter, css: str, root: Path, source: str,
                            codepoints: set[int], family: str | None, cache_dir: Path) -> list[FontFace]:
    """Faces of an unpacked package's CSS, read straight from the package (the default face)."""
    out = []
    for rule in parse_font_face_rules(css):
        if not face_wanted(rule, codepoints):
            continue
        path = None
        for u in usable_srcs(rule):
            path = npm_file_path(root, u)
            if path is not None:
                break
        if path is None:
            continue
        sfnt, ext = to_sfnt(path.read_bytes(), cache_dir)
        out.append(writer.add(rule, sfnt, ext, source, family=family))
    return out


def _add_faces(resolver: AssetResolver, writer: FaceWriter,
               items: list[tuple[FaceRule, Fetched, bytes, str]], source_for: Callable[[Fetched], str],
               family: str | None = None) -> list[FontFace]:
    """Write fetched faces and record each in the resolver's asset table."""
    out = []
    for rule, got, sfnt, ext in items:
        face = writer.add(rule, sfnt, ext, source_for(got), family=family)
        resolver.record(got, writer.fonts_dir / face.file, sfnt, font_content_type(ext))
        out.append(face)
    return out


def _embed_google_css(resolver: AssetResolver, url: str, referenced_by: str, writer: FaceWriter,
                      codepoints: set[int]) -> list[FontFace]:
    """Resolve a Google Fonts stylesheet (directly, or from ``@fontsource`` packages) and write
    the faces the document needs. Raises ASSET_FETCH_FAILED."""
    fetched = resolver.fetch(url, referenced_by)
    rules = [r for r in parse_font_face_rules(decode_css(fetched.data)) if face_wanted(r, codepoints)]
    items = [(r, *resolver.face_bytes(r, url, url)) for r in rules]
    if not items:
        raise resolver.fetch_error(url, referenced_by, [{"tier": fetched.tier,
                                                         "outcome": "the stylesheet has no usable face"}])

    def source(got: Fetched) -> str:
        if got.tier in ("fontsource", "npm") or (got.package and got.version):
            return f"fontsource:{got.package}@{got.version}"
        return f"url:{got.url}"

    faces = _add_faces(resolver, writer, items, source)
    resolver.store_text(fetched, "\n".join(writer.rules[f.file] for f in faces))
    return faces


def _embed_fontsource(resolver: AssetResolver, target_family: str,
                      variants: Iterable[tuple[str, int, int]], writer: FaceWriter, codepoints: set[int],
                      *, family: str, source: str, referenced_by: str) -> list[FontFace]:
    """Write ``target_family``'s ``@fontsource`` faces under the name ``family`` (aliases)."""
    pkg = fontsource_package(target_family)
    pin = FONTSOURCE_PINS.get(pkg)
    spec = pin[0] if pin else "latest"
    attempts: list[dict] = []
    found = find_tarball(resolver.asset_dirs, pkg, spec) if resolver.asset_dirs else None
    unpacked: tuple[Path, str] | None = None
    if found is not None and (not pin or integrity_matches(found[0], pin[1])):
        try:
            unpacked = resolver.store.unpacked(found[0]), found[1]
        except NpmError as e:
            attempts.append({"tier": "asset-dir", "outcome": e.outcome})
    if unpacked is None:
        try:
            tgz, version = resolver.packages.tarball(pkg, spec)
            unpacked = resolver.store.unpacked(tgz), version
        except NpmError as e:
            attempts.append({"tier": "fontsource", "outcome": e.outcome, "transient": e.transient})
            raise resolver.fetch_error(f"npm:{pkg}@{spec}", referenced_by, attempts) from None
    root, version = unpacked
    css = fontsource_css(root, pkg, version, variants)
    rules = [r for r in parse_font_face_rules(css) if face_wanted(r, codepoints)]
    items = [(r, *resolver.face_bytes(r, None, referenced_by)) for r in rules]
    return _add_faces(resolver, writer, items, lambda got: source, family=family)
