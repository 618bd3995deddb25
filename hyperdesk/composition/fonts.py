"""Fonts come only from the plan (composition contract 12.1).

* :func:`normalize_font_css` prepends the default face ``"Inter"`` to every font list whose first
  family is generic or a host UI face.
* :func:`embed_fonts` resolves every named family without its own ``@font-face`` (default face,
  alias table, Google Fonts through the asset resolver, ``@fontsource`` packages offline), writes
  each face as TrueType/OpenType into the plan's ``fonts/`` directory with ``fonts/manifest.json``
  and ``fonts/fonts.css``.
* :func:`ensure_default_font` puts the default face's package (``@fontsource/inter``, pinned) into
  the user asset cache; a set-up command calls it once so later plans work offline.

Face selection (what goes into ``fonts/``):

* subsets: ``latin`` and ``latin-ext`` always (a face whose unicode-range holds U+0041 or U+0100),
  plus every face whose unicode-range holds a code point of the document's texts; a face without
  unicode-range is always kept;
* weights, for the default face, aliases and named families: 400 and 700 (the browser's own
  ``normal`` and ``bold``, used by ``<b>``, ``<strong>`` and headings) plus every weight the
  document names (``font-weight``, the ``font`` shorthand, custom properties named ``*weight*``,
  ``fontWeight``/``font-weight`` literals in scripts); all of 100-900 when a weight is computed
  (``bolder``/``lighter``, ``var()`` without a readable value, a script that sets a weight
  without a literal). Families requested by a Google Fonts URL get the weights the URL asks for;
* styles: normal and italic wherever the family has them.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from collections.abc import Iterable, Iterator

import tinycss2

from ..errors import HyperdeskError
from ..models import FontFace, FontManifest, PlanWarning

if TYPE_CHECKING:  # pragma: no cover
    from .assets import AssetResolver

DEFAULT_FAMILY = "Inter"
DEFAULT_PACKAGE = "@fontsource/inter"

GENERIC_FAMILIES: tuple[str, ...] = (
    "sans-serif", "serif", "monospace", "cursive", "fantasy", "system-ui", "ui-sans-serif",
    "ui-serif", "ui-monospace", "emoji", "math", "fangsong", "-apple-system", "BlinkMacSystemFont",
)
_GENERIC_CF = {g.casefold() for g in GENERIC_FAMILIES}

# Exact versions and registry integrity of every @fontsource package hyperdesk embeds by itself
# (the default face and the alias targets), so every machine embeds the same bytes.
FONTSOURCE_PINS: dict[str, tuple[str, str]] = {
    "@fontsource/inter": ("5.3.0", "sha512-RofMylZmjlJEfELXeNHFWBRcSs75rGU/6bV2S2jfnvv/3rPXPGe0LgUJTklcHZ9lM4OZmAVFhcJPnACfb91A3g=="),
    "@fontsource/roboto": ("5.3.0", "sha512-BapRJOWYP+LZ21zp+wBQjfpPYKRoxc4LspJ/RLuI+HSMBD5u/X4O+ESDrSvEqDSy0rAl7GwBJ+09mdc16cVQ1Q=="),
    "@fontsource/montserrat": ("5.3.0", "sha512-iQPDtZOnmM5ih4JBGaMSXisRap0ixb9bAUw2hDtY7EjVfaqiiNlKtVuJl9XclxUwtwMMHNcWXfQR6zI9x05+Tg=="),
    "@fontsource/league-gothic": ("5.3.0", "sha512-gqedetX+UlaiJgLiPnOzWGB1sY3OtNhS8YMjTy2D73AcsagIqpdIizssr1MStcUYf3D/zzanECuXawIgMGZxDg=="),
    "@fontsource/jetbrains-mono": ("5.3.0", "sha512-fqDfB5I9f1p1TV486aUgB9t8zP84P0O1FtQR5Ol9vjwPy+S+EIGlVYm1cvj2W5shcZMTg2nZFdVMoH5wFu8a1A=="),
    "@fontsource/eb-garamond": ("5.3.0", "sha512-VplwHpB8FLuzl+4G5LDci1b3Z4SghiuXH8XEgaxjnOb5aue5mEt1njmDKeO6iyLeGa73LffU7PC7hzncLRx0ZA=="),
    "@fontsource/noto-sans-jp": ("5.3.0", "sha512-OZbBzZ8LrFRs2RFT2Cc0HUV2C2ZeSfyEXhDJWR0EZuZaraJfRubpvrFmUnCljuBDEkw8Vn6CE/+nf9dj9b+0lg=="),
}


def _alias_table() -> dict[str, str]:
    groups = {
        "Inter": ["Helvetica", "Helvetica Neue", "Arial", "SF Pro", "SF Pro Display", "SF Pro Text",
                  "SF Pro Rounded", "Avenir", "Avenir Next", "Lucida Grande", "Geneva", "Optima",
                  "Verdana", "Tahoma", "Trebuchet MS", "Calibri", "Candara", "Corbel",
                  "Lucida Sans", "Lucida Sans Unicode", "Noto Sans", "DejaVu Sans",
                  "Liberation Sans"],
        "Roboto": ["Segoe UI"],
        "Montserrat": ["Futura", "DIN Alternate", "Arial Black"],
        "League Gothic": ["Bebas Neue"],
        "JetBrains Mono": ["Courier", "Courier New", "SF Mono", "Menlo", "Monaco", "Consolas",
                           "Lucida Console", "Lucida Sans Typewriter", "Andale Mono",
                           "DejaVu Sans Mono", "Liberation Mono"],
        "EB Garamond": ["Garamond", "Georgia", "Palatino", "Palatino Linotype", "Book Antiqua",
                        "Cambria", "Times", "Times New Roman", "DejaVu Serif", "Liberation Serif"],
        "Noto Sans JP": ["Noto Sans Japanese"],
    }
    return {name.casefold(): target for target, names in groups.items() for name in names}


# requested family (case-folded) -> the family embedded under the requested name
FONT_ALIASES: dict[str, str] = _alias_table()

_CSS_WIDE = {"inherit", "initial", "unset", "revert", "revert-layer", "default"}
_SYSTEM_FONT_KEYWORDS = {"caption", "icon", "menu", "message-box", "small-caption", "status-bar"}
_SIZE_KEYWORDS = {"xx-small", "x-small", "small", "medium", "large", "x-large", "xx-large",
                  "xxx-large", "larger", "smaller", "math"}
_NOT_FONT_LIST_NAME = ("size", "weight", "style", "variant", "stretch", "feature", "height",
                       "color", "colour", "display", "smoothing", "kerning", "optical",
                       "synthesis", "palette", "settings", "leading", "tracking", "spacing",
                       "scale", "width", "shadow", "opacity", "transform", "line")


def is_generic_family(name: str) -> bool:
    return name.casefold() in _GENERIC_CF


# ---------------------------------------------------------------------------------------------
# CSS positions: tinycss2 tokens carry (line, column) in the preprocessed text.


def preprocess_css(text: str) -> str:
    """CSS input preprocessing, as tinycss2 does it (newlines unified, NUL replaced)."""
    return text.replace("\0", "\uFFFD").replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n")


class CssPositions:
    def __init__(self, text: str) -> None:
        self.starts = [0]
        for i, c in enumerate(text):
            if c == "\n":
                self.starts.append(i + 1)

    def offset(self, tok) -> int:
        return self.starts[tok.source_line - 1] + tok.source_column - 1


def _significant(tokens: Iterable) -> list:
    return [t for t in tokens if t.type not in ("whitespace", "comment")]


def _split_commas(tokens: list) -> list[list]:
    out: list[list] = [[]]
    for t in tokens:
        if t.type == "literal" and t.value == ",":
            out.append([])
        else:
            out[-1].append(t)
    return out


@dataclass
class FontListSite:
    """One font list found in CSS: its families and where the first one starts."""

    families: list[tuple[str, bool]]  # (name, is generic); complex items are left out
    first_generic: bool
    first_token: object  # the first token of the first family (for insertion)
    kind: str  # "font-family" | "font" | "custom" | "bare" | "var-fallback"


def _family_item(tokens: list) -> tuple[str, bool] | None:
    toks = _significant(tokens)
    if not toks:
        return None
    if len(toks) == 1 and toks[0].type == "string":
        return (toks[0].value, False)
    if all(t.type == "ident" for t in toks):
        name = " ".join(t.value for t in toks)
        if len(toks) == 1 and name.lower() in _CSS_WIDE:
            return None
        return (name, len(toks) == 1 and is_generic_family(name))
    return None


def _font_list_sites(tokens: list, kind: str) -> Iterator[FontListSite]:
    """Font lists in a font-family value (including ``var(--x, <fallback list>)``)."""
    items = _split_commas(list(tokens))
    if not items:
        return
    first = _significant(items[0])
    if len(first) == 1 and first[0].type == "function" and first[0].lower_name == "var":
        args = first[0].arguments
        parts = _split_commas(args)
        if len(parts) > 1:
            fallback = [t for p in parts[1:] for t in (p + [_COMMA])][:-1]
            yield from _font_list_sites(fallback, "var-fallback")
        # The rest of the list after var() still names families.
        rest = [_family_item(i) for i in items[1:]]
        fams = [r for r in rest if r is not None]
        if fams:
            yield FontListSite(fams, False, None, kind)
        return
    fams: list[tuple[str, bool]] = []
    first_item = _family_item(items[0])
    for it in items:
        r = _family_item(it)
        if r is not None:
            fams.append(r)
    if not fams and first_item is None:
        return
    yield FontListSite(fams, bool(first_item and first_item[1]), first[0] if first else None, kind)


class _Comma:
    type = "literal"
    value = ","


_COMMA = _Comma()


def _shorthand_parts(tokens: list) -> tuple[list, list] | None:
    """Split a ``font`` shorthand value into (tokens before the size, family tokens)."""
    sig = _significant(tokens)
    if not sig:
        return None
    if len(sig) == 1 and sig[0].type == "ident" and sig[0].lower_value in _SYSTEM_FONT_KEYWORDS:
        return None
    if any(t.type == "function" and t.lower_name in ("var", "env", "attr") for t in sig):
        return None
    for i, t in enumerate(sig):
        is_size = (
            t.type in ("dimension", "percentage")
            or (t.type == "number" and t.value == 0 and i > 0)
            or (t.type == "ident" and t.lower_value in _SIZE_KEYWORDS)
            or (t.type == "function" and t.lower_name in ("calc", "clamp", "min", "max"))
        )
        if not is_size:
            continue
        j = i + 1
        if j < len(sig) and sig[j].type == "literal" and sig[j].value == "/":
            j += 2
        if j >= len(sig):
            return None
        start = sig[j]
        idx = next(k for k, tok in enumerate(tokens) if tok is start)
        return sig[:i], list(tokens[idx:])
    return None


_FONT_KEYWORDS = {"bold", "bolder", "lighter", "normal", "italic", "oblique", "small-caps",
                  "none", "auto"}


def _is_font_list_property(name: str, site: FontListSite) -> bool:
    """Does a custom property hold a font list? (a generic family in it, or a name like
    ``--font-sans`` / ``--heading-family`` holding only family names)."""
    lname = name.lower()
    if any(g for _, g in site.families):
        return True
    if not site.families or any(n.lower() in _FONT_KEYWORDS for n, _ in site.families):
        return False
    if "family" in lname:
        return True
    return "font" in lname and not any(w in lname for w in _NOT_FONT_LIST_NAME)


@dataclass
class FontScan:
    """What the CSS of a document says about fonts."""

    sites: list[FontListSite] = field(default_factory=list)
    own_families: list[str] = field(default_factory=list)  # families with their own @font-face
    weights: set[int] = field(default_factory=set)
    all_weights: bool = False
    weight_vars: bool = False  # a font-weight used var(): resolved from custom properties
    custom_weights: set[int] = field(default_factory=set)

    @property
    def named_families(self) -> list[str]:
        out: list[str] = []
        for s in self.sites:
            out += [n for n, g in s.families if not g]
        return out


def _weights_of(tokens: list, scan: FontScan, custom: bool = False) -> None:
    for t in _significant(tokens):
        if t.type == "number" and 1 <= t.value <= 1000:
            for w in _round_weight(t.value):
                (scan.custom_weights if custom else scan.weights).add(w)
        elif t.type == "ident" and not custom:
            v = t.lower_value
            if v == "bold":
                scan.weights.add(700)
            elif v == "normal":
                scan.weights.add(400)
            elif v in ("bolder", "lighter"):
                scan.all_weights = True
        elif t.type == "function" and t.lower_name == "var" and not custom:
            scan.weight_vars = True
            parts = _split_commas(t.arguments)
            if len(parts) > 1:
                _weights_of([x for p in parts[1:] for x in p], scan)
        elif t.type == "function" and not custom:
            scan.all_weights = True


def _round_weight(value: float) -> list[int]:
    v = min(900.0, max(100.0, float(value)))
    lo, hi = int(v // 100) * 100, int(-(-v // 100)) * 100
    return sorted({lo, hi})


def _form(text: str) -> str:
    if "{" in text:
        return "stylesheet"
    if ":" in text:
        return "declarations"
    return "bare"


def _walk_declarations(decls: list, scan: FontScan, in_font_face: bool, sink) -> None:
    for d in decls:
        if d.type == "qualified-rule":
            _walk_declarations(tinycss2.parse_blocks_contents(d.content), scan, False, sink)
            continue
        if d.type == "at-rule":
            _walk_rule(d, scan, sink)
            continue
        if d.type != "declaration":
            continue
        name = d.lower_name
        if in_font_face:
            if name == "font-family":
                item = _family_item(d.value)
                if item is not None:
                    scan.own_families.append(item[0])
            continue
        if name == "font-family":
            for s in _font_list_sites(d.value, "font-family"):
                sink(s)
        elif name == "font":
            parts = _shorthand_parts(d.value)
            if parts is not None:
                _weights_of(parts[0], scan)
                for s in _font_list_sites(parts[1], "font"):
                    sink(s)
        elif name == "font-weight":
            _weights_of(d.value, scan)
        elif name.startswith("--"):
            if "weight" in name:
                _weights_of(d.value, scan, custom=True)
            for s in _font_list_sites(d.value, "custom"):
                if _is_font_list_property(d.name, s):
                    sink(s)


def _walk_rule(rule, scan: FontScan, sink) -> None:
    if rule.type == "qualified-rule":
        _walk_declarations(tinycss2.parse_blocks_contents(rule.content), scan, False, sink)
    elif rule.type == "at-rule" and rule.content is not None:
        kw = rule.lower_at_keyword
        if kw == "font-face":
            _walk_declarations(tinycss2.parse_blocks_contents(rule.content), scan, True, sink)
        elif kw in ("keyframes", "-webkit-keyframes", "counter-style", "font-feature-values",
                    "property", "font-palette-values"):
            return
        elif kw == "page":
            _walk_declarations(tinycss2.parse_blocks_contents(rule.content), scan, False, sink)
        else:  # @media, @supports, @layer, @container, @scope, @document, @starting-style ...
            for r in tinycss2.parse_blocks_contents(rule.content):
                if r.type in ("qualified-rule", "at-rule"):
                    _walk_rule(r, scan, sink)
                elif r.type == "declaration":
                    _walk_declarations([r], scan, False, sink)


def _scan_text(text: str, scan: FontScan, sink) -> None:
    form = _form(text)
    if form == "stylesheet":
        for rule in tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True):
            _walk_rule(rule, scan, sink)
    elif form == "declarations":
        _walk_declarations(tinycss2.parse_blocks_contents(text), scan, False, sink)
    else:
        for s in _font_list_sites(tinycss2.parse_component_value_list(text), "bare"):
            sink(s)


def scan_font_css(css_texts: Iterable[str]) -> FontScan:
    """Collect font lists, own ``@font-face`` families and named weights from CSS texts.

    Each text is a stylesheet (contains ``{``), a declaration list (a ``style`` attribute) or a
    bare font-family value (an SVG ``font-family`` attribute).
    """
    scan = FontScan()
    for text in css_texts:
        if text:
            _scan_text(preprocess_css(text), scan, scan.sites.append)
    return scan


def normalize_font_css(css_text: str) -> str:
    """Prepend ``"Inter", `` to every font list whose first family is generic or a host UI face.

    Works on a stylesheet, a declaration list or a bare font-family value; everything else in the
    text is left as it was (newlines are unified as CSS preprocessing does when something changes).
    """
    text = preprocess_css(css_text)
    inserts: list[int] = []
    pos = CssPositions(text)

    def sink(site: FontListSite) -> None:
        if site.first_generic and site.first_token is not None:
            inserts.append(pos.offset(site.first_token))

    _scan_text(text, FontScan(), sink)
    if not inserts:
        return css_text
    out = text
    for off in sorted(set(inserts), reverse=True):
        out = out[:off] + f'"{DEFAULT_FAMILY}", ' + out[off:]
    return out


# ---------------------------------------------------------------------------------------------
# weights the document uses

_SCRIPT_WEIGHT = re.compile(r"""font-?weight["'`]?\s*[:=,]\s*["'`]?(\d{3})(?!\d)""", re.I)
_SCRIPT_WEIGHT_ANY = re.compile(r"font-?weight", re.I)
_SCRIPT_CANVAS_FONT = re.compile(r"""\.font\s*=\s*["'`]([^"'`]{1,200})["'`]""")


def wanted_weights(scan: FontScan, texts: Iterable[str]) -> list[int]:
    """The weights to embed for the default face, aliases and named families (module docstring)."""
    weights = {400, 700} | scan.weights
    all_w = scan.all_weights
    if scan.weight_vars:
        if scan.custom_weights:
            weights |= scan.custom_weights
        else:
            all_w = True
    for text in texts:
        if not text:
            continue
        literal = _SCRIPT_WEIGHT.findall(text)
        for w in literal:
            weights.update(_round_weight(int(w)))
        if len(_SCRIPT_WEIGHT_ANY.findall(text)) > len(literal):
            all_w = True
        for shorthand in _SCRIPT_CANVAS_FONT.findall(text):
            parts = _shorthand_parts(tinycss2.parse_component_value_list(shorthand))
            if parts:
                sub = FontScan()
                _weights_of(parts[0], sub)
                weights |= sub.weights
    if all_w:
        return list(range(100, 1000, 100))
    return sorted(w for w in weights if 100 <= w <= 900)


def _codepoints(texts: Iterable[str]) -> set[int]:
    out: set[int] = set()
    for t in texts:
        if t:
            out.update(ord(c) for c in t)
    return {c for c in out if c >= 0x20 and c not in (0x7F,)}


# ---------------------------------------------------------------------------------------------
# font files


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
    from fontTools.ttLib import TTFont

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


def family_slug(family: str) -> str:
    folded = unicodedata.normalize("NFKD", family)
    ascii_ = "".join(c for c in folded if ord(c) < 128)
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")
    if not slug:
        slug = "f-" + hashlib.sha256(family.encode("utf-8")).hexdigest()[:10]
    return slug


def _safe_label(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def css_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\a ") + '"'


# ---------------------------------------------------------------------------------------------
# @font-face rules


@dataclass
class FaceRule:
    family: str
    weight_desc: str  # as written: "400", "100 900"
    style: str  # "normal" | "italic" | "oblique"
    unicode_range: str | None
    srcs: list[tuple[str, str | None]]  # (url as written, format)
    label: str | None  # the comment before the rule (Google's "latin-ext")
    extra: list[tuple[str, str]] = field(default_factory=list)  # other descriptors, verbatim

    @property
    def weight(self) -> int:
        nums = re.findall(r"\d+", self.weight_desc)
        return int(nums[0]) if nums else 400

    def ranges(self) -> list[tuple[int, int]] | None:
        return parse_unicode_range(self.unicode_range) if self.unicode_range else None


_FONT_FORMATS = {"woff2", "woff", "truetype", "opentype", "woff2-variations", "woff-variations",
                 "truetype-variations", "opentype-variations"}
_EXTRA_DESCRIPTORS = {"font-stretch", "font-feature-settings", "font-variation-settings",
                      "size-adjust", "ascent-override", "descent-override", "line-gap-override",
                      "font-named-instance"}


def face_rule_from_block(content: list, label: str | None) -> FaceRule | None:
    """An ``@font-face`` block's descriptors (content tokens of the at-rule)."""
    family = None
    weight, style, urange = "400", "normal", None
    srcs: list[tuple[str, str | None]] = []
    extra: list[tuple[str, str]] = []
    for d in tinycss2.parse_blocks_contents(content):
        if d.type != "declaration":
            continue
        n = d.lower_name
        if n == "font-family":
            item = _family_item(d.value)
            family = item[0] if item else None
        elif n == "font-weight":
            sig = _significant(d.value)
            vals = []
            for t in sig:
                if t.type == "number":
                    vals.append(str(int(t.value)))
                elif t.type == "ident":
                    vals.append({"bold": "700", "normal": "400"}.get(t.lower_value, "400"))
            weight = " ".join(vals) or "400"
        elif n == "font-style":
            sig = _significant(d.value)
            v = sig[0].lower_value if sig and sig[0].type == "ident" else "normal"
            style = v if v in ("italic", "oblique") else "normal"
        elif n == "unicode-range":
            raw = ",".join(tinycss2.serialize(p).strip() for p in _split_commas(d.value)
                           if _significant(p))
            urange = format_unicode_range(parse_unicode_range(raw)) or None
        elif n == "src":
            for part in _split_commas(d.value):
                url, fmt = None, None
                for t in _significant(part):
                    if t.type == "url":
                        url = t.value
                    elif t.type == "function" and t.lower_name == "url":
                        s = _significant(t.arguments)
                        if s and s[0].type == "string":
                            url = s[0].value
                    elif t.type == "function" and t.lower_name == "format":
                        s = _significant(t.arguments)
                        if s and s[0].type in ("string", "ident"):
                            fmt = s[0].value.lower()
                if url is not None:
                    srcs.append((url, fmt))
        elif n in _EXTRA_DESCRIPTORS:
            extra.append((n, tinycss2.serialize(d.value).strip()))
    if family is None or not srcs:
        return None
    return FaceRule(family, weight, style, urange, srcs, label, extra)


def usable_srcs(rule: FaceRule) -> list[str]:
    return [u for u, fmt in rule.srcs if fmt is None or fmt in _FONT_FORMATS]


def parse_font_face_rules(css_text: str) -> list[FaceRule]:
    """Top-level ``@font-face`` rules of a stylesheet, each with the comment just before it."""
    out: list[FaceRule] = []
    label = None
    for node in tinycss2.parse_stylesheet(preprocess_css(css_text), skip_comments=False,
                                          skip_whitespace=True):
        if node.type == "comment":
            label = node.value.strip()
            continue
        if node.type == "at-rule" and node.lower_at_keyword == "font-face" and node.content:
            r = face_rule_from_block(node.content, label)
            if r is not None:
                out.append(r)
        label = None
    return out


def parse_unicode_range(text: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for part in text.replace(" ", "").split(","):
        m = re.fullmatch(r"[Uu]\+([0-9A-Fa-f?]{1,6})(?:-([0-9A-Fa-f]{1,6}))?", part)
        if not m:
            continue
        a = m.group(1)
        if "?" in a:
            out.append((int(a.replace("?", "0"), 16), int(a.replace("?", "F"), 16)))
        else:
            out.append((int(a, 16), int(m.group(2) or a, 16)))
    return out


def format_unicode_range(ranges: list[tuple[int, int]]) -> str:
    """Canonical text: ``U+0000-00FF,U+0131`` (4+ upper-case hex digits)."""
    return ",".join(f"U+{lo:04X}" if lo == hi else f"U+{lo:04X}-{hi:04X}" for lo, hi in ranges)


def _in_ranges(cp: int, ranges: list[tuple[int, int]]) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)


def face_wanted(rule: FaceRule, codepoints: set[int]) -> bool:
    """latin and latin-ext always, other subsets when the document's text needs them."""
    ranges = rule.ranges()
    if ranges is None:
        return True
    if _in_ranges(0x41, ranges) or _in_ranges(0x100, ranges):
        return True
    return any(_in_ranges(cp, ranges) for cp in codepoints)


def _subset_label(rule: FaceRule) -> str:
    if rule.label and len(rule.label) <= 40:
        lab = _safe_label(rule.label.strip("[]"))
        if lab:
            return lab
    if rule.unicode_range:
        return "u" + hashlib.sha256(rule.unicode_range.encode()).hexdigest()[:8]
    return "all"


class FaceWriter:
    """Writes faces into ``fonts/<family-slug>/<face>.ttf|otf`` and collects manifest entries."""

    def __init__(self, fonts_dir: Path) -> None:
        self.fonts_dir = Path(fonts_dir)
        self.faces: dict[str, FontFace] = {}  # file -> face
        self.rules: dict[str, str] = {}  # file -> @font-face rule text
        self._keys: dict[tuple, str] = {}
        self._slugs: dict[str, str] = {}  # family casefold -> slug

    def _slug(self, family: str) -> str:
        cf = family.casefold()
        if cf not in self._slugs:
            base = family_slug(family)
            taken = set(self._slugs.values())
            slug, n = base, 2
            while slug in taken:
                slug, n = f"{base}-{n}", n + 1
            self._slugs[cf] = slug
        return self._slugs[cf]

    def families(self) -> set[str]:
        return {f.family.casefold() for f in self.faces.values()}

    def add(self, rule: FaceRule, sfnt: bytes, ext: str, source: str, *,
            family: str | None = None, label: str | None = None) -> FontFace:
        family = family or rule.family
        key = (family.casefold(), rule.weight_desc, rule.style, rule.unicode_range, source)
        if key in self._keys:
            return self.faces[self._keys[key]]
        sha = hashlib.sha256(sfnt).hexdigest()
        slug = self._slug(family)
        if label is None:
            label = f"{_subset_label(rule)}-{rule.weight_desc.replace(' ', '-')}-{rule.style}"
        name = f"{slug}/{label}.{ext}"
        if name in self.faces and self.faces[name].sha256 != sha:
            name = f"{slug}/{label}-{sha[:8]}.{ext}"
        path = self.fonts_dir / name
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(sfnt)
        face = FontFace(family=family, weight=rule.weight, style=rule.style,
                        unicode_range=rule.unicode_range, file=name, sha256=sha, source=source)
        self.faces[name] = face
        self._keys[key] = name
        self.rules[name] = render_face_rule(family, rule, name, ext)
        return face

    def rebase(self, fonts_dir: Path) -> None:
        fonts_dir = Path(fonts_dir)
        if fonts_dir.resolve() == self.fonts_dir.resolve():
            return
        for name in self.faces:
            dst = fonts_dir / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.fonts_dir / name, dst)
        self.fonts_dir = fonts_dir


def render_face_rule(family: str, rule: FaceRule, file: str, ext: str) -> str:
    fmt = "opentype" if ext == "otf" else "truetype"
    lines = [
        "@font-face {",
        f"  font-family: {css_string(family)};",
        f"  font-style: {rule.style};",
        f"  font-weight: {rule.weight_desc};",
        "  font-display: block;",
    ]
    for n, v in rule.extra:
        lines.append(f"  {n}: {v};")
    lines.append(f'  src: url(/__hd/fonts/{file}) format("{fmt}");')
    if rule.unicode_range:
        lines.append(f"  unicode-range: {rule.unicode_range};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# @fontsource packages


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


# ---------------------------------------------------------------------------------------------
# the default face


@dataclass(frozen=True)
class DefaultFont:
    family: str
    package: str
    version: str
    root: Path  # the unpacked package


def ensure_default_font(cache_dir: Path, asset_dirs: Iterable[Path] = ()) -> DefaultFont:
    """Put the default face's package (pinned ``@fontsource/inter``) into the asset cache.

    Uses, in order: the verified tarball already in the cache, a tarball in an ``--asset-dir``
    (checked against the pinned integrity), ``npm pack`` through the user's npm client. Call it
    once at set-up (with network) so later plans are offline; :func:`embed_fonts` calls it too.
    """
    from .npm import NpmError, PackageStore, find_tarball, integrity_matches

    version, integrity = FONTSOURCE_PINS[DEFAULT_PACKAGE]
    store = PackageStore(Path(cache_dir))
    attempts: list[dict] = []
    tgz = store.cached_tarball(DEFAULT_PACKAGE, version)
    if tgz is not None and not integrity_matches(tgz, integrity):
        attempts.append({"tier": "cache", "outcome": "cached tarball failed the integrity check"})
        tgz = None
    if tgz is None:
        found = find_tarball(list(asset_dirs), DEFAULT_PACKAGE, version)
        if found is not None:
            if integrity_matches(found[0], integrity):
                tgz = store.adopt(found[0], DEFAULT_PACKAGE, version)
            else:
                attempts.append({"tier": "asset-dir",
                                 "outcome": f"{found[0].name} failed the integrity check"})
    transient = False
    if tgz is None:
        if not store.client.available:
            attempts.append({"tier": "npm", "outcome": "skipped: no npm client found"})
        else:
            try:
                tgz = store.fetch(DEFAULT_PACKAGE, version, integrity)
            except NpmError as e:
                attempts.append({"tier": "npm", "outcome": e.outcome})
                transient = e.transient
    if tgz is None:
        url = f"npm:{DEFAULT_PACKAGE}@{version}"
        hint = (f"Run hyperdesk's set-up once with network access, or put "
                f"fontsource-inter-{version}.tgz (from `npm pack {DEFAULT_PACKAGE}@{version}`) "
                f"in an --asset-dir. The asset cache is {cache_dir}.")
        if not store.client.available:
            hint += " No npm client was found: install Node.js (npm) to fetch it."
        raise HyperdeskError(
            "ASSET_FETCH_FAILED",
            f"the default font {DEFAULT_FAMILY} ({url}) is not in the asset cache and could not "
            f"be fetched; pass its tarball with --asset-dir",
            hint=hint, retryable=transient,
            details={"url": url, "referenced_by": "default font", "attempts": attempts},
        )
    try:
        root = store.unpacked(tgz)
    except NpmError as e:
        raise HyperdeskError("ASSET_FETCH_FAILED", f"cannot unpack the default font: {e.outcome}",
                             details={"url": f"npm:{DEFAULT_PACKAGE}@{version}",
                                      "referenced_by": "default font",
                                      "attempts": [{"tier": "cache", "outcome": e.outcome}]})
    return DefaultFont(DEFAULT_FAMILY, DEFAULT_PACKAGE, version, root)


# ---------------------------------------------------------------------------------------------
# embedding


@dataclass
class FontEmbedResult:
    manifest: FontManifest
    families: list[str]
    warnings: list[PlanWarning]


def _variants(weights: list[int]) -> list[tuple[str, int, int]]:
    return [(s, w, w) for s in ("normal", "italic") for w in weights]


def _embed_rules_from_files(writer: FaceWriter, css: str, root: Path, source: str,
                            codepoints: set[int], family: str | None) -> list[FontFace]:
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
        sfnt, ext = to_sfnt(path.read_bytes())
        out.append(writer.add(rule, sfnt, ext, source, family=family))
    return out


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
    ``resolver.assets``. Raises ``ASSET_FETCH_FAILED`` for a font URL that cannot be fetched;
    a family that is only named and cannot be resolved gives a ``FONT_NOT_FOUND`` warning.
    """
    from .cdn import fontsource_package, google_fonts_url, normalize_url

    fonts_dir = Path(fonts_dir)
    fonts_dir.mkdir(parents=True, exist_ok=True)
    writer = resolver.face_writer
    writer.rebase(fonts_dir)
    texts = list(texts)
    scan = scan_font_css(css_texts)
    weights = wanted_weights(scan, list(texts) + list(css_texts))
    codepoints = _codepoints(texts)
    warnings: list[PlanWarning] = []

    own = {f.casefold() for f in scan.own_families} | writer.families()

    # 1. Google Fonts stylesheets named by the document.
    urls = sorted({normalize_url(u) for u in list(google_font_urls) + resolver.google_font_urls})
    for url in urls:
        faces = resolver.embed_google_css(url, "Google Fonts stylesheet", writer, codepoints)
        own |= {f.family.casefold() for f in faces}

    # 2. The default face, always.
    default = ensure_default_font(resolver.cache_dir, resolver.asset_dirs)
    default_css = fontsource_css(default.root, default.package, default.version,
                                 _variants(weights))
    _embed_rules_from_files(writer, default_css, default.root, "bundled", codepoints, None)

    # 3. Named families without their own @font-face.
    named: dict[str, str] = {}
    for name in scan.named_families:
        cf = name.casefold()
        if cf in _GENERIC_CF or cf in own or cf == DEFAULT_FAMILY.casefold():
            continue
        named[cf] = min(named.get(cf, name), name)
    for cf in sorted(named):
        name = named[cf]
        target = FONT_ALIASES.get(cf)
        if target == DEFAULT_FAMILY:
            _embed_rules_from_files(writer, default_css, default.root, f"alias:{DEFAULT_FAMILY}",
                                    codepoints, name)
            continue
        try:
            if target is not None:
                resolver.embed_fontsource(target, _variants(weights), writer, codepoints,
                                          family=name, source=f"alias:{target}",
                                          referenced_by=f"font-family {name}")
            else:
                try:
                    resolver.embed_google_css(google_fonts_url(name, weights, italic=True),
                                              f"font-family {name}", writer, codepoints)
                except HyperdeskError:
                    resolver.embed_google_css(google_fonts_url(name), f"font-family {name}",
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
    css.append(
        "/* generic families render in the default face */\n"
        f":where(html), :where(button, input, select, textarea) {{ font-family: "
        f"{css_string(DEFAULT_FAMILY)}; }}\n"
    )
    (fonts_dir / "fonts.css").write_text("\n".join(css), encoding="utf-8", newline="\n")
    (fonts_dir / "manifest.json").write_text(
        json.dumps(manifest.model_dump(mode="json"), sort_keys=True, indent=2,
                   ensure_ascii=False) + "\n",
        encoding="utf-8", newline="\n",
    )
    families = sorted({f.family for f in faces}, key=lambda s: (s.casefold(), s))
    return FontEmbedResult(manifest=manifest, families=families, warnings=warnings)


if __name__ == "__main__":  # set-up: python -m hyperdesk.composition.fonts
    from hyperdesk.dirs import asset_cache_dir

    d = ensure_default_font(asset_cache_dir())
    print(f"{d.family}: {d.package}@{d.version} in {d.root}")
