"""``@font-face`` rules: parsed from a stylesheet, chosen by the document's text, and written for
the plan's ``fonts/fonts.css`` (composition contract 12.1).

Subsets: ``latin`` and ``latin-ext`` always (a face whose unicode-range holds U+0041 or U+0100),
plus every face whose unicode-range holds a code point of the document's texts; a face without
unicode-range is always kept.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import tinycss2

from .css_tokens import preprocess_css, significant, split_commas
from .font_scan import family_item


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
            item = family_item(d.value)
            family = item[0] if item else None
        elif n == "font-weight":
            sig = significant(d.value)
            vals = []
            for t in sig:
                if t.type == "number":
                    vals.append(str(int(t.value)))
                elif t.type == "ident":
                    vals.append({"bold": "700", "normal": "400"}.get(t.lower_value, "400"))
            weight = " ".join(vals) or "400"
        elif n == "font-style":
            sig = significant(d.value)
            v = sig[0].lower_value if sig and sig[0].type == "ident" else "normal"
            style = v if v in ("italic", "oblique") else "normal"
        elif n == "unicode-range":
            raw = ",".join(tinycss2.serialize(p).strip() for p in split_commas(d.value)
                           if significant(p))
            urange = format_unicode_range(parse_unicode_range(raw)) or None
        elif n == "src":
            for part in split_commas(d.value):
                url, fmt = None, None
                for t in significant(part):
                    if t.type == "url":
                        url = t.value
                    elif t.type == "function" and t.lower_name == "url":
                        s = significant(t.arguments)
                        if s and s[0].type == "string":
                            url = s[0].value
                    elif t.type == "function" and t.lower_name == "format":
                        s = significant(t.arguments)
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



def document_codepoints(texts: Iterable[str]) -> set[int]:
    out: set[int] = set()
    for t in texts:
        if t:
            out.update(ord(c) for c in t)
    return {c for c in out if c >= 0x20 and c not in (0x7F,)}


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


def css_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\a ") + '"'
