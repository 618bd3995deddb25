"""Remote URLs in CSS (composition contract 12.2): every ``url()``, ``image-set()`` string and
``@import`` of a stylesheet or style attribute that names an ``http(s):`` or protocol-relative URL
is handed to a :class:`RemoteUrls` (the asset resolver) and replaced by the path it returns.

A Google Fonts ``@import`` is removed and queued for font embedding; a cyclic ``@import`` is
removed (browsers ignore it too); a top-level ``@font-face`` whose first usable source is remote
is removed and its face moved into the plan's ``fonts/``. Everything else in the text is left as
it was (newlines are unified as CSS preprocessing does when something changes).
"""
from __future__ import annotations

import re
from typing import Protocol
from urllib.parse import urljoin, urlsplit

import tinycss2

from .cdn import is_google_fonts_css
from .css_tokens import CssPositions, preprocess_css
from .font_face import FaceRule, face_rule_from_block, usable_srcs

_URL_TOKEN = re.compile(r"url\(\s*(?:[^)\\]|\\.)*\)", re.I | re.S)
_STRING_TOKEN = re.compile(r""""(?:[^"\\\n]|\\.|\\\n)*"?|'(?:[^'\\\n]|\\.|\\\n)*'?""", re.S)


class RemoteUrls(Protocol):
    """What the rewriter asks of the asset resolver."""

    def freeze(self, url: str, referenced_by: str, kind: str) -> str:
        """The site path that replaces a remote URL (``kind``: "stylesheet", "font", "css")."""
        ...

    def queue_google_css(self, url: str) -> None:
        """A Google Fonts stylesheet met in an ``@import``, for font embedding."""
        ...

    def being_rewritten(self, url: str) -> bool:
        """Is this stylesheet being rewritten further up (an ``@import`` cycle)?"""
        ...

    def move_font_face(self, rule: FaceRule, base_url: str | None, referenced_by: str) -> None:
        """Fetch a remote ``@font-face`` rule's face into the plan's ``fonts/``."""
        ...


def rewrite_remote_urls(css_text: str, base_url: str | None, referenced_by: str,
                        remote: RemoteUrls) -> str:
    """``css_text`` with its remote URLs frozen through ``remote`` (see the module docstring).

    With ``base_url`` None (a document's own CSS) only absolute and protocol-relative URLs are
    remote; relative ones are left for the compiler.
    """
    return _Rewrite(preprocess_css(css_text), base_url, referenced_by, remote).run(css_text)


def decode_css(data: bytes) -> str:
    """A fetched stylesheet's text: UTF-8 (a BOM dropped), else Latin-1."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def absolute_url(raw: str, base: str | None) -> str | None:
    """The absolute http(s) URL a CSS reference names, or None when it is not remote."""
    raw = raw.strip()
    if not raw or raw.startswith("#"):
        return None
    low = raw.lower()
    if low.startswith(("data:", "blob:", "about:", "javascript:")):
        return None
    if raw.startswith("//"):
        return "https:" + raw
    scheme = urlsplit(raw).scheme.lower() if ":" in raw else ""
    if scheme in ("http", "https"):
        return raw
    if scheme:
        return None
    if base and urlsplit(base).scheme in ("http", "https"):
        return urljoin(base, raw)
    return None


class _Rewrite:
    """One pass over one text: collects (start, end, replacement) edits, then applies them."""

    def __init__(self, text: str, base_url: str | None, referenced_by: str,
                 remote: RemoteUrls) -> None:
        self.text = text
        self.base_url = base_url
        self.referenced_by = referenced_by
        self.remote = remote
        self.pos = CssPositions(text)
        self.edits: list[tuple[int, int, str]] = []

    def run(self, original: str) -> str:
        text = self.text
        if "{" not in text:  # a declaration list (a style attribute)
            self._walk_tokens(tinycss2.parse_component_value_list(text), False)
            nodes = []
        else:
            nodes = tinycss2.parse_stylesheet(text, skip_comments=False, skip_whitespace=False)
        label = None
        for i, node in enumerate(nodes):
            start = self.pos.offset(node)
            end = self.pos.offset(nodes[i + 1]) if i + 1 < len(nodes) else len(text)
            if node.type == "comment":
                label = node.value.strip()
                continue
            if node.type == "whitespace":
                continue
            this_label, label = label, None
            if node.type == "at-rule" and node.lower_at_keyword == "import":
                self._rewrite_import(node, start, end)
                continue
            if (node.type == "at-rule" and node.lower_at_keyword == "font-face" and node.content
                    and self._move_font_face(node, this_label)):
                self.edits.append((start, end, ""))
                continue
            if node.type == "at-rule":
                self._walk_tokens(node.prelude, node.lower_at_keyword == "font-face")
                if node.content:
                    self._walk_tokens(node.content, node.lower_at_keyword == "font-face")
            elif node.type == "qualified-rule":
                self._walk_tokens(node.prelude, False)
                self._walk_tokens(node.content, False)
        if not self.edits:
            return original
        out = text
        for s, e, rep in sorted(self.edits, reverse=True):
            out = out[:s] + rep + out[e:]
        return out

    @property
    def _referrer(self) -> str:
        """What a URL in this text is referenced by: the stylesheet's own URL when it has one."""
        return self.base_url or self.referenced_by

    def _rewrite_import(self, node, start: int, end: int) -> None:
        tok, raw = _first_url(node.prelude)
        if tok is None:
            return
        absu = absolute_url(raw, self.base_url)
        if absu is None:
            return
        if is_google_fonts_css(absu):
            self.remote.queue_google_css(absu)
            self.edits.append((start, end, ""))
            return
        if self.remote.being_rewritten(absu):
            self.edits.append((start, end, ""))  # a cyclic @import: browsers ignore it too
            return
        self._replace_token(tok, self.remote.freeze(absu, self._referrer, "stylesheet"))

    def _move_font_face(self, node, label: str | None) -> bool:
        rule = face_rule_from_block(node.content, label)
        if rule is None:
            return False
        srcs = usable_srcs(rule)
        if not srcs or absolute_url(srcs[0], self.base_url) is None:
            return False  # a local face: the compiler copies it
        self.remote.move_font_face(rule, self.base_url, self._referrer)
        return True

    def _walk_tokens(self, tokens, font_ctx: bool) -> None:
        if not tokens:
            return
        next_font = False
        for tok in tokens:
            t = tok.type
            if t == "at-keyword":
                next_font = tok.lower_value == "font-face"
                continue
            if t == "url":
                self._freeze_token(tok, tok.value, font_ctx)
            elif t == "function":
                name = tok.lower_name
                if name == "url":
                    s = [a for a in tok.arguments if a.type not in ("whitespace", "comment")]
                    if s and s[0].type == "string":
                        self._freeze_token(s[0], s[0].value, font_ctx)
                elif name in ("image-set", "-webkit-image-set"):
                    for a in tok.arguments:
                        if a.type == "string":
                            self._freeze_token(a, a.value, font_ctx)
                    self._walk_tokens([a for a in tok.arguments if a.type != "string"], font_ctx)
                else:
                    self._walk_tokens(tok.arguments, font_ctx)
            elif t in ("{} block", "[] block", "() block"):
                self._walk_tokens(tok.content, font_ctx or (t == "{} block" and next_font))
                if t == "{} block":
                    next_font = False

    def _freeze_token(self, tok, raw: str, font_ctx: bool) -> None:
        absu = absolute_url(raw, self.base_url)
        if absu is None:
            return
        self._replace_token(tok, self.remote.freeze(absu, self._referrer, "font" if font_ctx else "css"))

    def _replace_token(self, tok, site: str) -> None:
        text = self.text
        start = self.pos.offset(tok)
        if tok.type == "url":
            m = _URL_TOKEN.match(text, start)
            if m:
                self.edits.append((start, m.end(), f"url({site})"))
        elif tok.type == "string":
            m = _STRING_TOKEN.match(text, start)
            if m:
                q = text[start]
                self.edits.append((start, m.end(), f"{q}{site}{q}"))


def _first_url(prelude) -> tuple[object | None, str]:
    """The token holding an ``@import``'s URL and the URL, or (None, "")."""
    for tok in prelude or []:
        if tok.type in ("whitespace", "comment"):
            continue
        if tok.type in ("url", "string"):
            return tok, tok.value
        if tok.type == "function" and tok.lower_name == "url":
            s = [a for a in tok.arguments if a.type not in ("whitespace", "comment")]
            if s and s[0].type == "string":
                return s[0], s[0].value
        return None, ""
    return None, ""
