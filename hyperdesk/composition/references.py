"""The local files an HTML composition references, found without compiling it (issue 19).

A static read of the entry, its sub-compositions, the documents of its iframes and every local
stylesheet they load: src, poster, object data, resource href/xlink:href, srcset, url() and
@import in style attributes, <style> and stylesheets, data-composition-src. It decides what a
single-file composition's plan takes (composition/project.py) and lets the output gate refuse,
before planning, an output onto one of them. Scripts are taken but not read: what they fetch at
run time is the request's --include globs. Nothing here raises for a broken composition; the
compiler reports those errors when it plans.
"""
from __future__ import annotations

import contextlib
import json
import posixpath
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from hyperdesk.composition.cssscope import collect_css_urls
from hyperdesk.composition.document import (
    is_full_document,
    iter_elements,
    load_entry,
    parse_fragment_document,
    parse_html,
    read_source,
)
from hyperdesk.composition.subcomp import is_relative_url, is_remote_url, parse_srcset, rebase_tree, split_url

# Elements whose `href` names a resource the page loads (a, area and base only navigate).
HREF_RESOURCE_TAGS = frozenset({"image", "use", "feimage", "script", "textpath", "mpath", "pattern",
                                "lineargradient", "radialgradient", "filter", "tref"})
_LINK_LOADS = frozenset({"stylesheet", "preload", "modulepreload"})
_VARIABLE_ATTRS = ("data-composition-variables", "data-variable-values")
# A stylesheet or document larger than this is not a composition's text: it is not read.
_MAX_TEXT_BYTES = 32 * 1024 * 1024


def project_path(url: str, base_dir: str, *, outside: bool = False) -> str | None:
    """The project-relative posix path a local URL names (written in a file of `base_dir`), or None
    for a remote, data:, fragment-only or template URL, and (unless `outside`) for one that leaves
    the project."""
    u = url.strip()
    if not u or is_remote_url(u):
        return None
    if u.startswith("/"):
        base_dir, u = "", u.lstrip("/")
    elif not is_relative_url(u):
        return None
    path, _suffix = split_url(u)
    if not path:
        return None
    joined = posixpath.normpath(posixpath.join(base_dir, unquote(path)))
    if joined == "." or (not outside and (joined == ".." or joined.startswith("../"))):
        return None
    return joined


class _Scan:
    def __init__(self, root: Path, variables: Mapping[str, Any], outside: bool) -> None:
        self.root = root
        self.outside = outside
        self.found: dict[str, None] = {}  # insertion-ordered set
        self.documents: list[tuple[str, bool]] = []  # (file, is a sub-composition) still to read
        self.stylesheets: list[str] = []
        self.read: set[tuple[str, str]] = set()  # ("html" | "css", file) already read
        self.variable_strings: list[str] = list(_strings(dict(variables)))
        self.binds_src = False

    def text(self, rel: str) -> str | None:
        path = self.root.joinpath(*rel.split("/"))
        try:
            if not path.is_file() or path.stat().st_size > _MAX_TEXT_BYTES:
                return None
            return read_source(path)
        except (OSError, ValueError):
            return None

    def add(self, url: str, base_dir: str = "") -> str | None:
        rel = project_path(url, base_dir, outside=self.outside)
        if rel is not None:
            self.found.setdefault(rel, None)
        return None if rel is None or rel == ".." or rel.startswith("../") else rel  # read only inside

    def add_css(self, css: str, base_dir: str) -> None:
        for url in collect_css_urls(css):
            rel = self.add(url, base_dir)
            if rel is not None and rel.lower().endswith(".css"):
                self.stylesheets.append(rel)

    def document(self, rel: str, sub_composition: bool) -> None:
        text = self.text(rel)
        if text is None:
            return
        if sub_composition:
            doc = parse_html(text) if is_full_document(text) else parse_fragment_document(text)
        else:
            doc = load_entry(text)[0]
        rebase_tree(doc, posixpath.dirname(rel))  # every relative URL is now relative to the project root
        for el in iter_elements(doc):
            self.element(el)

    def element(self, el: Any) -> None:
        tag = el.tag
        for name in _VARIABLE_ATTRS:
            raw = el.get(name)
            if raw:
                with contextlib.suppress(ValueError):  # the compiler reports bad JSON
                    self.variable_strings.extend(_strings(json.loads(raw)))
        if el.get("data-var-src") is not None:
            self.binds_src = True
        src = el.get("data-composition-src")
        if src is not None:
            sub = posixpath.normpath(unquote(split_url(src.strip())[0]).replace("\\", "/").lstrip("/") or ".")
            if sub not in (".", "..") and not sub.startswith("../"):
                self.found.setdefault(sub, None)
                self.documents.append((sub, True))
        for attr in ("src", "poster", "data", "href", "xlink:href", "background"):
            value = el.get(attr)
            if value is None:
                continue
            if attr == "data" and tag != "object":
                continue
            if attr == "background" and tag not in ("body", "table", "td", "th"):
                continue
            loads = tag in HREF_RESOURCE_TAGS or (tag == "link" and set((el.get("rel") or "").lower().split())
                                                  & _LINK_LOADS)
            if attr in ("href", "xlink:href") and not loads:
                continue
            rel = self.add(value)
            if rel is None:
                continue
            if tag == "link" and "stylesheet" in (el.get("rel") or "").lower().split():
                self.stylesheets.append(rel)
            elif tag == "iframe" and rel.lower().endswith((".html", ".htm")):
                self.documents.append((rel, False))
        srcset = el.get("srcset")
        if srcset:
            for url, _desc in parse_srcset(srcset):
                self.add(url)
        style = el.get("style")
        if style and "url" in style.lower():
            self.add_css(style, "")
        if tag == "style" and el.text and (el.get("type") or "text/css").strip().lower() in ("", "text/css"):
            self.add_css(el.text, "")

    def run(self, entry: str) -> list[str]:
        self.found.setdefault(entry, None)
        self.documents.append((entry, False))
        while self.documents or self.stylesheets:
            if self.documents:
                rel, sub = self.documents.pop(0)
                if ("html", rel) not in self.read:
                    self.read.add(("html", rel))
                    self.document(rel, sub)
                continue
            rel = self.stylesheets.pop(0)
            if ("css", rel) in self.read:
                continue
            self.read.add(("css", rel))
            css = self.text(rel)
            if css is not None:
                self.add_css(css, posixpath.dirname(rel))
        if self.binds_src:
            # data-var-src takes its URL from a variable: every string a variable may hold is a candidate
            # (a name that is no file of the project is dropped by the caller).
            for value in self.variable_strings:
                self.add(value)
        return list(self.found)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def static_references(root: Path | str, entry: str, *, variables: Mapping[str, Any] | None = None,
                      outside: bool = False) -> list[str]:
    """Project-relative posix paths of the local files `entry` (a file of `root`) references, the entry
    first, in the order found; a path may name a file that does not exist. Paths that leave the
    project (the compiler refuses them or copies them from an --allow-outside folder) are left out,
    or with `outside` listed as `../…` (not read further): what the output gate refuses."""
    return _Scan(Path(root), variables or {}, outside).run(entry)
