"""What a document's CSS and scripts say about fonts (composition contract 12.1).

* :func:`normalize_font_css` prepends the default face ``"Inter"`` to every ``font-family`` list
  whose first family is generic (not to the ``font`` shorthand's, which Chromium resolves itself:
  docs/fonts.md).
* :func:`scan_font_css` collects the font lists, the families with their own ``@font-face`` and
  the weights named; :func:`wanted_weights` turns that into the weights to embed: 400 and 700
  (the browser's own ``normal`` and ``bold``, used by ``<b>``, ``<strong>`` and headings) plus
  every weight the document names (``font-weight``, the ``font`` shorthand, custom properties named
  ``*weight*``, ``fontWeight``/``font-weight`` literals in scripts, Tailwind weight classes); all of
  100-900 when a weight is computed (``bolder``/``lighter``, ``var()`` without a readable value, a script that sets a
  weight without a literal).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import tinycss2

from .css_tokens import CssPositions, preprocess_css, significant, split_commas
from .fonts import DEFAULT_FAMILY, is_generic_family

_CSS_WIDE = {"inherit", "initial", "unset", "revert", "revert-layer", "default"}
_SYSTEM_FONT_KEYWORDS = {"caption", "icon", "menu", "message-box", "small-caption", "status-bar"}
_SIZE_KEYWORDS = {"xx-small", "x-small", "small", "medium", "large", "x-large", "xx-large",
                  "xxx-large", "larger", "smaller", "math"}
_NOT_FONT_LIST_NAME = ("size", "weight", "style", "variant", "stretch", "feature", "height",
                       "color", "colour", "display", "smoothing", "kerning", "optical",
                       "synthesis", "palette", "settings", "leading", "tracking", "spacing",
                       "scale", "width", "shadow", "opacity", "transform", "line")


@dataclass
class FontListSite:
    """One font list found in CSS: its families and where the first one starts."""

    families: list[tuple[str, bool]]  # (name, is generic); complex items are left out
    first_generic: bool
    first_token: object  # the first token of the first family (for insertion)
    kind: str  # "font-family" | "font" | "custom" | "bare" | "var-fallback"


def family_item(tokens: list) -> tuple[str, bool] | None:
    toks = significant(tokens)
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
    items = split_commas(list(tokens))
    if not items:
        return
    first = significant(items[0])
    if len(first) == 1 and first[0].type == "function" and first[0].lower_name == "var":
        args = first[0].arguments
        parts = split_commas(args)
        if len(parts) > 1:
            fallback = [t for p in parts[1:] for t in (p + [_COMMA])][:-1]
            yield from _font_list_sites(fallback, "var-fallback")
        # The rest of the list after var() still names families.
        rest = [family_item(i) for i in items[1:]]
        named = [r for r in rest if r is not None]
        if named:
            yield FontListSite(named, False, None, kind)
        return
    fams: list[tuple[str, bool]] = []
    first_item = family_item(items[0])
    for it in items:
        r = family_item(it)
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
    sig = significant(tokens)
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
    for t in significant(tokens):
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
            parts = split_commas(t.arguments)
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
                item = family_item(d.value)
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
        # The font shorthand is left to the browser, as HyperFrames leaves it (docs/fonts.md).
        if site.first_generic and site.first_token is not None and site.kind != "font":
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
# Tailwind's weight utilities (its CDN build writes their CSS at run time, where no scan sees it).
_TAILWIND_WEIGHTS = {"thin": 100, "extralight": 200, "light": 300, "normal": 400, "medium": 500,
                     "semibold": 600, "bold": 700, "extrabold": 800, "black": 900}
_TAILWIND_WEIGHT = re.compile(r"(?<![\w-])font-(" + "|".join(_TAILWIND_WEIGHTS) + r"|\[(\d{3})\])(?![\w-])")


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
        for name, number in _TAILWIND_WEIGHT.findall(text):
            weights.update(_round_weight(int(number)) if number else [_TAILWIND_WEIGHTS[name]])
        for shorthand in _SCRIPT_CANVAS_FONT.findall(text):
            parts = _shorthand_parts(tinycss2.parse_component_value_list(shorthand))
            if parts:
                sub = FontScan()
                _weights_of(parts[0], sub)
                weights |= sub.weights
    if all_w:
        return list(range(100, 1000, 100))
    return sorted(w for w in weights if 100 <= w <= 900)
