"""Sub-composition inlining (contract 1.3 and 5.1-5.3).

Hosts are inlined breadth-first from the root, in document order at each level, until no
`data-composition-src` remains. Each inlined file becomes an Instance: its host, its inner root
(the composition's box), its styles and scripts lifted out of the markup (they are emitted per
instance by the compiler, scoped), and its runtime id (`<id>__hfN` when one id is mounted more
than once).
"""
from __future__ import annotations

import os
import posixpath
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable
from urllib.parse import quote, unquote

import lxml.html

from hyperdesk.composition.boundary import ProjectBoundary
from hyperdesk.composition.cssscope import rewrite_css_urls
from hyperdesk.composition.document import (
    HOST_FILE_ATTR,
    SCOPE_ATTR,
    invalid,
    is_full_document,
    iter_elements,
    parse_fragment_document,
    parse_html,
    parse_int,
    read_source,
)
from hyperdesk.composition.cssscope import remove_declarations
from hyperdesk.models import PlanWarning

MAX_DEPTH = 16

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")

# Attributes that hold a single URL, per element (None = any element).
URL_ATTRS = ("src", "href", "xlink:href", "poster", "data", "background")
JS_TYPES = {
    "", "text/javascript", "application/javascript", "application/ecmascript", "text/ecmascript",
    "text/jscript", "text/livescript", "application/x-javascript", "application/x-ecmascript",
    "text/x-javascript", "text/x-ecmascript", "text/javascript1.0", "text/javascript1.1",
    "text/javascript1.2", "text/javascript1.3", "text/javascript1.4", "text/javascript1.5",
}
PREVIEW_RUNTIME_FILES = ("hyperframe.runtime.iife.js", "hyperframe-runtime.modular-runtime.inline.js")


# ----------------------------------------------------------------------------- URLs


def is_relative_url(url: str | None) -> bool:
    """A reference resolved against the document's location (no scheme, not //, not /, not #)."""
    if url is None:
        return False
    u = url.strip()
    if not u or u.startswith(("#", "/", "\\")):
        return False
    if _SCHEME.match(u):
        return False
    # A template placeholder ("{{x}}", "${x}") is filled by a script: not a URL.
    return not u.startswith(("{{", "${"))


def is_remote_url(url: str | None) -> bool:
    if url is None:
        return False
    u = url.strip().lower()
    return u.startswith(("http://", "https://", "//"))


def split_url(url: str) -> tuple[str, str]:
    """(path, '?query#fragment' suffix)."""
    cut = len(url)
    for ch in "?#":
        i = url.find(ch)
        if i >= 0:
            cut = min(cut, i)
    return url[:cut], url[cut:]


def rebase_url(url: str, base_dir: str) -> str:
    """A URL relative to a file in base_dir (posix, project-relative) rewritten relative to the
    project root (where compiled/index.html lives)."""
    if not is_relative_url(url) or not base_dir:
        return url
    u = url.strip()
    path, suffix = split_url(u)
    if not path:
        return url
    trailing = path.endswith("/")
    joined = posixpath.normpath(posixpath.join(quote(base_dir, safe="/!$&'()*+,;=:@~-._"), path))
    if trailing and not joined.endswith("/"):
        joined += "/"
    return joined + suffix


def parse_srcset(value: str) -> list[tuple[str, str]]:
    """(url, descriptors) candidates of a srcset attribute (HTML's parsing algorithm, simplified:
    a URL runs to the next whitespace; a trailing comma ends the candidate)."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and (value[i].isspace() or value[i] == ","):
            i += 1
        if i >= n:
            break
        j = i
        while j < n and not value[j].isspace():
            j += 1
        url = value[i:j]
        i = j
        desc = ""
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            k = i
            depth = 0
            while k < n:
                c = value[k]
                if c == "(":
                    depth += 1
                elif c == ")":
                    depth = max(0, depth - 1)
                elif c == "," and depth == 0:
                    break
                k += 1
            desc = value[i:k].strip()
            i = k + 1
        if url:
            out.append((url, desc))
    return out


def format_srcset(candidates: list[tuple[str, str]]) -> str:
    return ", ".join(f"{u} {d}".strip() for u, d in candidates)


def rewrite_element_urls(root: Any, fn: Callable[[str], str | None], *,
                         skip_attr: Callable[[Any, str], bool] | None = None) -> None:
    """Apply fn to every URL-bearing attribute, srcset, style attribute and <style> text below
    root (and root itself). fn returns the new URL or None to keep it."""
    for el in iter_elements(root):
        for name in URL_ATTRS:
            value = el.get(name)
            if value is None or (skip_attr is not None and skip_attr(el, name)):
                continue
            if name == "data" and el.tag != "object":
                continue
            if name == "background" and el.tag not in ("body", "table", "td", "th"):
                continue
            new = fn(value)
            if new is not None and new != value:
                el.set(name, new)
        srcset = el.get("srcset")
        if srcset:
            cands = parse_srcset(srcset)
            changed = False
            new_cands = []
            for url, desc in cands:
                new = fn(url)
                if new is not None and new != url:
                    changed = True
                    url = new
                new_cands.append((url, desc))
            if changed:
                el.set("srcset", format_srcset(new_cands))
        style = el.get("style")
        if style and "url" in style.lower():
            new_style = rewrite_css_urls(style, fn)
            if new_style != style:
                el.set("style", new_style)
        if el.tag == "style" and el.text:
            new_text = rewrite_css_urls(el.text, fn)
            if new_text != el.text:
                el.text = new_text


def rebase_tree(root: Any, base_dir: str) -> None:
    """5.2: relative src/href/url() references rewritten relative to the file's own directory."""
    if not base_dir:
        return
    rewrite_element_urls(root, lambda u: rebase_url(u, base_dir) if is_relative_url(u) else None)


# ----------------------------------------------------------------------------- scripts


def script_kind(el: Any) -> str:
    """'classic', 'module' or 'data' (a non-JavaScript type: JSON, templates, shaders)."""
    t = (el.get("type") or "").strip().lower()
    if t == "module":
        return "module"
    if t in JS_TYPES or t.split(";")[0].strip() in JS_TYPES:
        return "classic"
    return "data"


def is_preview_runtime(el: Any) -> bool:
    if el.get("data-hyperframes-preview-runtime") is not None:
        return True
    if el.tag != "script":
        return False
    src = el.get("src")
    if not src:
        return False
    path, _ = split_url(src.strip())
    name = unquote(path.rstrip("/").rsplit("/", 1)[-1])
    return name in PREVIEW_RUNTIME_FILES


def strip_preview_runtimes(root: Any) -> int:
    """Step 7: remove HyperFrames preview runtime scripts. Returns how many were removed."""
    doomed = [el for el in iter_elements(root) if is_preview_runtime(el)]
    for el in doomed:
        remove_keep_tail(el)
    return len(doomed)


def remove_keep_tail(el: Any) -> None:
    """Remove an element but keep the text that followed it."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail
    prev = el.getprevious()
    if tail:
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(el)


# ----------------------------------------------------------------------------- instances


@dataclass
class StyleSource:
    css: str          # URLs already relative to the project root
    origin: str       # file (and stylesheet) it came from, for messages


@dataclass
class Instance:
    index: int                      # 1-based, inlining order
    host: Any
    box: Any                        # the inner root
    file: str                       # project-relative path of the sub-composition file
    authored_id: str                # the inner root's data-composition-id
    runtime_id: str
    depth: int
    parent: Instance | None
    inner_root_id: str | None    # the inner root's id attribute
    host_as_authored: Any = None    # detached copies with the authored attributes, for messages
    box_as_authored: Any = None
    styles: list[StyleSource] = field(default_factory=list)
    inline_scripts: list[str] = field(default_factory=list)
    html_variables: str | None = None   # data-composition-variables of the file's <html>


@dataclass
class InlineResult:
    instances: list[Instance]
    head_links: list[dict[str, str]]        # remote stylesheet links hoisted to <head>
    external_scripts: list[dict[str, str]]  # deduplicated, first-seen order
    external_script_files: list[str] = field(default_factory=list)  # the file each one came from


class Inliner:
    def __init__(self, project_dir: Path, entry: str, warnings: list[PlanWarning],
                 check_content: Callable[[list, str], None] | None = None,
                 boundary: ProjectBoundary | None = None) -> None:
        self.project_dir = project_dir
        # Sub-composition files and their stylesheets are read only inside the project (or an
        # allowed folder): OUTSIDE_PROJECT_REFERENCE otherwise (issue 10).
        self.boundary = boundary or ProjectBoundary(project_dir)
        self.check_content = check_content
        self.entry = entry
        self.warnings = warnings
        self._texts: dict[str, str] = {}
        self.instances: list[Instance] = []
        self.head_links: list[dict[str, str]] = []
        self._head_link_keys: set[str] = set()
        self.external_scripts: list[dict[str, str]] = []
        self.external_script_files: list[str] = []
        self._script_keys: set[str] = set()

    # ------------------------------------------------------------------ paths

    def _resolve_src(self, host: Any, src: str, host_file: str) -> str:
        raw = src.strip()
        if not raw or is_remote_url(raw) or (_SCHEME.match(raw) and not raw.lower().startswith("file:")):
            raise invalid(host_file, host, "data-composition-src", src,
                          "a sub-composition must be a file of the project")
        path, _ = split_url(raw)
        path = unquote(path).replace("\\", "/").lstrip("/")
        norm = posixpath.normpath(path) if path else ""
        if not norm or norm == "." or norm == ".." or norm.endswith("/.."):
            raise invalid(host_file, host, "data-composition-src", src,
                          "the path names a directory, not a file")
        # A path leading out of the project is refused by _read (OUTSIDE_PROJECT_REFERENCE)
        # unless it is inside an allowed folder.
        return norm

    def _read(self, rel: str, host: Any, host_file: str, src: str) -> str:
        if rel in self._texts:
            return self._texts[rel]
        path = Path(os.path.normpath(os.path.join(self.project_dir, *rel.split("/"))))
        if not path.is_file():
            broken = self.boundary.broken_reference(path, reference=src.strip(), file=host_file)
            if broken is not None:
                raise broken
            raise invalid(host_file, host, "data-composition-src", src,
                          f"the sub-composition file {rel} does not exist")
        self.boundary.check_reference(path, reference=src.strip(), file=host_file)
        try:
            text = read_source(path)
        except (OSError, ValueError) as exc:
            raise invalid(host_file, host, "data-composition-src", src,
                          f"the sub-composition file {rel} cannot be read as text ({exc})") from None
        self._texts[rel] = text
        return text

    # ------------------------------------------------------------------ main loop

    def run(self, doc: Any, known_scripts: set[str]) -> InlineResult:
        """Inline every host below doc. known_scripts: script srcs the entry already loads."""
        self._script_keys.update(known_scripts)
        queue: deque = deque()
        for host in top_hosts(doc):
            queue.append((host, 1, (self.entry,), None, self.entry))
        while queue:
            host, depth, chain, parent, host_file = queue.popleft()
            inst = self._inline_one(host, depth, chain, parent, host_file)
            for nested in top_hosts_in(inst.host, include_self=False):
                queue.append((nested, depth + 1, chain + (inst.file,), inst, inst.file))
        self._assign_runtime_ids()
        return InlineResult(self.instances, self.head_links, self.external_scripts,
                            self.external_script_files)

    def _inline_one(self, host: Any, depth: int, chain: tuple[str, ...], parent: Instance | None,
                    host_file: str) -> Instance:
        src = host.get("data-composition-src") or ""
        rel = self._resolve_src(host, src, host_file)
        if rel in chain:
            raise invalid(host_file, host, "data-composition-src", src,
                          "the sub-composition includes itself: " + " -> ".join(chain + (rel,)))
        if depth > MAX_DEPTH:
            raise invalid(host_file, host, "data-composition-src", src,
                          f"sub-compositions are nested deeper than {MAX_DEPTH} levels")
        text = self._read(rel, host, host_file, src)
        fdoc = parse_html(text) if is_full_document(text) else parse_fragment_document(text)
        base_dir = posixpath.dirname(rel)
        rebase_tree(fdoc, base_dir)

        html_variables = None
        template = next((el for el in iter_elements(fdoc) if el.tag == "template"), None)
        if template is not None:
            lead_text = template.text
            nodes = list(template)
        else:
            html_variables = fdoc.get("data-composition-variables")
            head = fdoc.find("head")
            body = fdoc.find("body")
            hoisted = [el for el in (head if head is not None else [])
                       if isinstance(el.tag, str) and el.tag in ("style", "link", "script")]
            for el in hoisted:
                el.tail = None
            lead_text = body.text if body is not None else None
            nodes = hoisted + (list(body) if body is not None else [])
        elements = [n for n in nodes if isinstance(n.tag, str)]
        has_text = bool((lead_text or "").strip()) or any((n.tail or "").strip() for n in nodes)
        if not elements and not has_text:
            raise invalid(host_file, host, "data-composition-src", src,
                          f"the sub-composition file {rel} has no content")
        inner = None
        for n in elements:
            for el in iter_elements(n):
                if el.get("data-composition-id") is not None:
                    inner = el
                    break
            if inner is not None:
                break
        if inner is None:
            raise invalid(host_file, host, "data-composition-src", src,
                          f"the sub-composition file {rel} has no element with data-composition-id")

        if self.check_content is not None:
            self.check_content(elements, rel)
        host_copy = _detached_copy(host)
        box_copy = _detached_copy(inner)

        # Place the content inside the host (its previous children are replaced).
        for child in list(host):
            host.remove(child)
        host.text = lead_text
        for n in nodes:
            host.append(n)

        authored = inner.get("data-composition-id") or ""
        inst = Instance(
            index=len(self.instances) + 1, host=host, box=inner, file=rel, authored_id=authored,
            runtime_id=authored, depth=depth, parent=parent, inner_root_id=inner.get("id") or None,
            html_variables=html_variables, host_as_authored=host_copy, box_as_authored=box_copy,
        )
        self.instances.append(inst)
        self._lift_styles_and_scripts(inst)
        self._setup_host(inst)
        return inst

    # ------------------------------------------------------------------ host and box

    def _setup_host(self, inst: Instance) -> None:
        host, inner = inst.host, inst.box
        if host.get("data-composition-id") is None:
            host.set("data-composition-id", inst.authored_id)
        host.set(HOST_FILE_ATTR, inst.file)
        del host.attrib["data-composition-src"]
        if inst.inner_root_id:
            inner.set("data-hf-authored-id", inst.inner_root_id)
        sizes = {}
        for attr, prop in (("data-width", "width"), ("data-height", "height")):
            value = parse_int(host.get(attr))
            if value is None:
                inner_value = parse_int(inner.get(attr))
                if inner_value is not None:
                    host.set(attr, str(inner_value))
                    value = inner_value
            if value is not None:
                sizes[prop] = value
        if sizes:
            style = host.get("style") or ""
            kept = remove_declarations(style, set(sizes)) if style.strip() else ""
            decls = [kept] if kept else []
            decls += [f"{prop}:{value}px" for prop, value in sizes.items()]
            host.set("style", ";".join(decls))

    # ------------------------------------------------------------------ styles and scripts

    def _lift_styles_and_scripts(self, inst: Instance) -> None:
        """Take the instance's own <style>, stylesheet <link> and <script> elements out of the
        markup; nested hosts' placeholder children and inert <template> contents are left."""
        found = []
        for el in _own_elements(inst.host):
            if el.tag in ("style", "script") or (el.tag == "link" and _is_stylesheet(el)):
                found.append(el)
        for el in found:
            if el.tag == "style":
                t = (el.get("type") or "text/css").strip().lower()
                if t not in ("", "text/css"):
                    continue
                css = el.text or ""
                media = (el.get("media") or "").strip()
                if media and media.lower() != "all":
                    css = f"@media {media}{{{css}}}"
                inst.styles.append(StyleSource(css, inst.file))
                remove_keep_tail(el)
            elif el.tag == "link":
                href = (el.get("href") or "").strip()
                if is_relative_url(href) and self._inline_local_stylesheet(inst, el, href):
                    remove_keep_tail(el)
                    continue
                attrs = dict(el.attrib)
                key = attrs.get("href", "")
                if key not in self._head_link_keys:
                    self._head_link_keys.add(key)
                    self.head_links.append(attrs)
                remove_keep_tail(el)
            elif el.tag == "script":
                if is_preview_runtime(el):
                    remove_keep_tail(el)
                    continue
                kind = script_kind(el)
                if kind == "data":
                    continue
                if el.get("src") is not None:
                    attrs = dict(el.attrib)
                    key = attrs["src"].strip()
                    if key not in self._script_keys:
                        self._script_keys.add(key)
                        self.external_scripts.append(attrs)
                        self.external_script_files.append(inst.file)
                    remove_keep_tail(el)
                elif kind == "classic":
                    inst.inline_scripts.append(el.text or "")
                    remove_keep_tail(el)
                else:
                    self.warnings.append(PlanWarning(
                        code="MODULE_SCRIPT_NOT_SCOPED",
                        message=f"{inst.file}: an inline module script runs unscoped, once per instance",
                        element="<script>",
                    ))

    def _inline_local_stylesheet(self, inst: Instance, el: Any, href: str) -> bool:
        path, _ = split_url(href)
        rel = posixpath.normpath(unquote(path))
        file = Path(os.path.normpath(os.path.join(self.project_dir, *rel.split("/"))))
        if not file.is_file():
            broken = self.boundary.broken_reference(file, reference=href, file=inst.file)
            if broken is not None:
                raise broken
            self.warnings.append(PlanWarning(
                code="STYLESHEET_NOT_FOUND",
                message=f"{inst.file}: stylesheet {href} was not found in the project; it is linked unscoped",
                element="<link>", attribute="href",
            ))
            return False
        self.boundary.check_reference(file, reference=href, file=inst.file)
        try:
            css = read_source(file)
        except (OSError, ValueError):
            return False
        css_dir = posixpath.dirname(rel)
        css = rewrite_css_urls(css, lambda u: rebase_url(u, css_dir) if is_relative_url(u) else None)
        media = (el.get("media") or "").strip()
        if media and media.lower() != "all":
            css = f"@media {media}{{{css}}}"
        inst.styles.append(StyleSource(css, f"{inst.file} ({rel})"))
        return True

    # ------------------------------------------------------------------ repeated mounts

    def _assign_runtime_ids(self) -> None:
        counts: dict[str, int] = {}
        for inst in self.instances:
            counts[inst.authored_id] = counts.get(inst.authored_id, 0) + 1
        seen: dict[str, int] = {}
        for inst in self.instances:
            inst.box.set(SCOPE_ATTR, str(inst.index))
            if counts[inst.authored_id] < 2:
                continue
            n = seen.get(inst.authored_id, 0) + 1
            seen[inst.authored_id] = n
            inst.runtime_id = f"{inst.authored_id}__hf{n}"
            for el in (inst.host, inst.box):
                if el.get("data-composition-id") == inst.authored_id:
                    el.set("data-composition-id", inst.runtime_id)
                    el.set("data-hf-original-composition-id", inst.authored_id)


def _detached_copy(el: Any) -> Any:
    """The element's tag and attributes only, as written (error messages quote the start tag)."""
    copy = lxml.html.Element(el.tag)
    for k, v in el.attrib.items():
        copy.set(k, v)
    return copy


def _is_stylesheet(el: Any) -> bool:
    rel = (el.get("rel") or "").lower().split()
    return "stylesheet" in rel and el.get("href") is not None


def _own_elements(host: Any):
    """Elements below host, not descending into nested hosts or <template> contents."""
    stack = list(reversed([c for c in host if isinstance(c.tag, str)]))
    while stack:
        el = stack.pop()
        yield el
        if el.get("data-composition-src") is not None or el.tag == "template":
            continue
        stack.extend(reversed([c for c in el if isinstance(c.tag, str)]))


def top_hosts(doc: Any) -> list[Any]:
    body = doc.find("body")
    return top_hosts_in(body if body is not None else doc, include_self=True)


def top_hosts_in(root: Any, *, include_self: bool) -> list[Any]:
    """Elements with data-composition-src below root (document order) that are not inside
    another such element; inert <template> contents are skipped."""
    out = []
    stack = [root] if include_self else list(reversed([c for c in root if isinstance(c.tag, str)]))
    while stack:
        el = stack.pop()
        if el.get("data-composition-src") is not None:
            out.append(el)
            continue
        if el.tag == "template":
            continue
        stack.extend(reversed([c for c in el if isinstance(c.tag, str)]))
    return out
