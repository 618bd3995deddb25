"""Document shapes, fragment wrapping, root resolution and root attributes (contract 1, 2).

Everything here works on lxml.html trees; the only textual look at the source is the
"does it start with <!doctype html or <html" test of 1.1, which the contract defines lexically.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import lxml.etree as etree
import lxml.html

from hyperdesk.errors import HyperdeskError
from hyperdesk.models import Fps

# Contract 1.2, exactly.
RESET_CSS = (
    "*{margin:0;padding:0;box-sizing:border-box}"
    'body{overflow:hidden;background:#000;font-family:"Inter",sans-serif}'
)

DEFAULT_WIDTH = 1080
DEFAULT_HEIGHT = 1920
DEFAULT_FPS = Fps(num=30, den=1)

# Attribute value grammars (attribute values, not HTML).
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"\+?\d+")
_FPS_RATIONAL = re.compile(r"(\d+)\s*/\s*(\d+)")

# Compiler markers.
HOST_FILE_ATTR = "data-composition-file"
SCOPE_ATTR = "data-hd-scope"


# ----------------------------------------------------------------------------- errors


def element_info(el: Any) -> dict[str, Any]:
    """tag, id, classes and the start tag cut to 120 characters (plan contract 11)."""
    if el is None or not isinstance(getattr(el, "tag", None), str):
        return {"tag": None, "id": None, "classes": [], "start_tag": ""}
    return {
        "tag": el.tag,
        "id": el.get("id"),
        "classes": (el.get("class") or "").split(),
        "start_tag": start_tag(el)[:120],
    }


def start_tag(el: Any) -> str:
    parts = [f"<{el.tag}"]
    for name, value in el.attrib.items():
        if value == "":
            parts.append(f" {name}")
        else:
            value = value.replace("&", "&amp;").replace('"', "&quot;")
            parts.append(f' {name}="{value}"')
    parts.append(">")
    return "".join(parts)


def short_element(el: Any) -> str:
    """`<div#id.class>`-style label used in messages and warnings."""
    if el is None or not isinstance(getattr(el, "tag", None), str):
        return "?"
    label = el.tag
    if el.get("id"):
        label += "#" + el.get("id")
    for cls in (el.get("class") or "").split()[:3]:
        label += "." + cls
    return f"<{label}>"


def invalid(file: str, el: Any, attribute: str | None, value: Any, reason: str) -> HyperdeskError:
    where = f"{file}: {short_element(el)}"
    if attribute:
        where += f" {attribute}"
        if value is not None:
            where += f"={value!r}"
    return HyperdeskError(
        "INVALID_COMPOSITION",
        f"{where}: {reason}",
        details={
            "file": file,
            "element": element_info(el),
            "attribute": attribute,
            "value": value,
            "reason": reason,
        },
    )


# ----------------------------------------------------------------------------- reading


def read_source(path: Path) -> str:
    """The text of an HTML file (UTF-8, BOM stripped). Raises ValueError when it is not text."""
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\x00" in data:
        raise ValueError("the file contains NUL bytes (not text)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # A legacy-encoded page: let libxml2 find its <meta charset>, then serialise it back.
    try:
        doc = lxml.html.document_fromstring(data)
    except (etree.ParserError, ValueError) as exc:
        raise ValueError(f"not decodable text: {exc}") from None
    text = etree.tostring(doc, method="html", encoding="unicode")
    if _is_full_document_text(data.decode("latin-1")):
        return "<!DOCTYPE html>" + text
    return text


def _skip_prolog(text: str) -> str:
    i = 0
    n = len(text)
    if text.startswith("\ufeff"):
        i = 1
    while i < n:
        if text[i] in " \t\r\n\f":
            i += 1
        elif text.startswith("<!--", i):
            end = text.find("-->", i + 4)
            if end < 0:
                return ""
            i = end + 3
        else:
            break
    return text[i:]


def _is_full_document_text(text: str) -> bool:
    head = _skip_prolog(text)[:14].lower()
    return head.startswith("<!doctype html") or head.startswith("<html")


def is_full_document(text: str) -> bool:
    """Contract 1.1: after BOM, whitespace and comments, starts with <!doctype html or <html."""
    return _is_full_document_text(text)


def has_doctype(text: str) -> bool:
    return _skip_prolog(text)[:9].lower() == "<!doctype"


def parse_html(text: str) -> Any:
    """Parse a full document; always returns an <html> element with <head> and <body>."""
    try:
        doc = lxml.html.document_fromstring(text)
    except etree.ParserError:
        doc = lxml.html.document_fromstring("<html><head></head><body></body></html>")
    ensure_head_body(doc)
    return doc


def parse_fragment_document(fragment: str, head_html: str = "") -> Any:
    """A fragment wrapped in a document whose body holds it unchanged (1.2)."""
    text = f"<!DOCTYPE html><html><head>{head_html}</head><body>{fragment}</body></html>"
    return parse_html(text)


def ensure_head_body(doc: Any) -> None:
    head = doc.find("head")
    if head is None:
        head = etree.Element("head")
        doc.insert(0, head)
    if doc.find("body") is None:
        doc.append(etree.Element("body"))


def head_of(doc: Any) -> Any:
    return doc.find("head")


def body_of(doc: Any) -> Any:
    return doc.find("body")


def load_entry(text: str) -> tuple[Any, bool, str | None]:
    """(document, was_fragment, doctype to write) for the entry file text (step 1).

    A full document keeps its own doctype (or its absence: quirks mode is the author's choice);
    a wrapped fragment gets `<!DOCTYPE html>`.
    """
    if is_full_document(text):
        doc = parse_html(text)
        doctype = doc.getroottree().docinfo.doctype if has_doctype(text) else None
        return doc, False, doctype or None
    return parse_fragment_document(text, f"<style>{RESET_CSS}</style>"), True, "<!DOCTYPE html>"


def iter_elements(root: Any) -> Iterator[Any]:
    """Every element below (and including) root in document order; comments and PIs skipped."""
    for el in root.iter():
        if isinstance(el.tag, str):
            yield el


# ----------------------------------------------------------------------------- root


def find_root(doc: Any) -> Any | None:
    """Contract 1.4."""
    body = body_of(doc)
    scope = body if body is not None else doc
    first_top = None
    for el in iter_elements(scope):
        if el.get("data-composition-id") is None:
            continue
        if el.get("data-root") == "true":
            return el
        if first_top is None and not _has_comp_ancestor(el):
            first_top = el
    return first_top


def _has_comp_ancestor(el: Any) -> bool:
    parent = el.getparent()
    while parent is not None:
        if isinstance(parent.tag, str) and parent.get("data-composition-id") is not None:
            return True
        parent = parent.getparent()
    return False


# ----------------------------------------------------------------------------- values


def parse_decimal(value: str | None) -> float | None:
    """A decimal number (optional sign, digits, fraction, exponent) or None when it is not one."""
    if value is None:
        return None
    text = value.strip()
    if not _DECIMAL.fullmatch(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def parse_int(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip()
    if not _INTEGER.fullmatch(text):
        return None
    return int(text)


def format_seconds(value: float) -> str:
    """Shortest round-tripping text for a number of seconds (`2`, `1.5`)."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def parse_fps(value: Any, *, source: str = "config", file: str = "", el: Any = None) -> Fps:
    """Contract 2, fps forms: integer 1-240 or num/den in [1, 240]; reduced. Decimals refused.

    source "config" raises INVALID_RENDER_CONFIG (field fps); "attribute" raises
    INVALID_COMPOSITION naming data-fps.
    """
    reason = None
    fps: Fps | None = None
    if isinstance(value, Fps):
        num, den = value.num, value.den
        fps = _fps_checked(num, den)
        if fps is None:
            reason = "fps must be positive and lie in [1, 240]"
    elif isinstance(value, bool):
        reason = "fps must be an integer or num/den"
    elif isinstance(value, int):
        fps = _fps_checked(value, 1)
        if fps is None:
            reason = "fps must lie in [1, 240]"
    elif isinstance(value, str):
        text = value.strip()
        if _INTEGER.fullmatch(text):
            fps = _fps_checked(int(text), 1)
            if fps is None:
                reason = "fps must lie in [1, 240]"
        else:
            m = _FPS_RATIONAL.fullmatch(text)
            if m:
                fps = _fps_checked(int(m.group(1)), int(m.group(2)))
                if fps is None:
                    reason = "num/den needs positive integers and a value in [1, 240]"
            elif _DECIMAL.fullmatch(text):
                reason = "decimal fps forms are not accepted: use an integer or num/den such as 30000/1001"
            else:
                reason = "fps must be an integer 1-240 or num/den"
    else:
        reason = "fps must be an integer 1-240 or num/den"
    if fps is not None:
        return fps
    shown = value if not isinstance(value, Fps) else f"{value.num}/{value.den}"
    if source == "attribute":
        raise invalid(file, el, "data-fps", shown, reason or "bad fps")
    raise HyperdeskError(
        "INVALID_RENDER_CONFIG",
        f"fps {shown!r}: {reason}",
        hint="Use an integer fps (1-240) or num/den such as 30000/1001.",
        details={"field": "fps", "value": shown, "reason": reason},
    )


def _fps_checked(num: int, den: int) -> Fps | None:
    if num <= 0 or den <= 0:
        return None
    f = Fraction(num, den)
    if f < 1 or f > 240:
        return None
    return Fps(num=f.numerator, den=f.denominator)


@dataclass
class RootFacts:
    composition_id: str
    width: int
    height: int
    duration_s: float | None
    fps_attr: Fps | None
    no_timeline: bool


def read_root_attributes(root: Any, file: str) -> RootFacts:
    """Contract 2: parse and check the root's attributes (unparsable -> INVALID_COMPOSITION)."""
    comp_id = root.get("data-composition-id") or ""
    if not comp_id.strip():
        raise invalid(file, root, "data-composition-id", comp_id, "the composition id is empty")
    check_webgpu_requirement(root, file)
    width = _size_attr(root, "data-width", DEFAULT_WIDTH, file)
    height = _size_attr(root, "data-height", DEFAULT_HEIGHT, file)
    duration: float | None = None
    for name in ("data-duration", "data-composition-duration"):
        raw = root.get(name)
        if raw is None:
            continue
        # An empty value is as wrong as "abc": refused here, not after a page load and a probe.
        number = parse_decimal(raw)
        if number is None:
            raise invalid(file, root, name, raw, "not a decimal number of seconds")
        if number <= 0:
            raise HyperdeskError(
                "DURATION_ZERO",
                f"{file}: {short_element(root)} {name}={raw!r}: the duration must be > 0",
                details={"duration_source": "attribute", "attribute": name, "value": raw, "file": file},
            )
        duration = number
        break
    fps_attr = None
    raw_fps = root.get("data-fps")
    if raw_fps is not None and raw_fps.strip():
        fps_attr = parse_fps(raw_fps, source="attribute", file=file, el=root)
    return RootFacts(
        composition_id=comp_id,
        width=width,
        height=height,
        duration_s=duration,
        fps_attr=fps_attr,
        no_timeline=root.get("data-no-timeline") is not None,
    )


#: Values of `data-requires-webgpu` that do not ask for WebGPU (any other value, or none, does).
_WEBGPU_FALSE_VALUES = frozenset({"false", "0", "no", "off"})


def check_webgpu_requirement(root: Any, file: str) -> None:
    """A root with `data-requires-webgpu` (empty or a truthy value) cannot be rendered: hyperdesk
    renders with software WebGL only, never WebGPU (HyperFrames refuses it the same way)."""
    raw = root.get("data-requires-webgpu")
    if raw is None or raw.strip().lower() in _WEBGPU_FALSE_VALUES:
        return
    shown = f"={raw!r}" if raw.strip() else ""
    raise HyperdeskError(
        "WEBGPU_NOT_SUPPORTED",
        f"{file}: {short_element(root)} data-requires-webgpu{shown}: the composition requires WebGPU, "
        "which hyperdesk does not provide (it renders with software WebGL)",
        details={"file": file, "element": element_info(root), "attribute": "data-requires-webgpu", "value": raw},
    )


#: An inline script that starts page-side shader transitions (HyperShader.init, or a page that hands
#: its transitions to a renderer through window.__hf.transitions itself).
_SHADER_TRANSITIONS_RE = re.compile(r"\bHyperShader\s*\.\s*init\s*\(|\b__hf\s*\.\s*transitions\s*=(?!=)")


def check_shader_transitions(doc: Any, file: str) -> None:
    """Refuse page-side shader transitions before any work: they need a renderer hand-off hyperdesk
    does not provide (the capture's readiness check refuses those a script file starts)."""
    for el in iter_elements(doc):
        if el.tag != "script" or el.get("src"):
            continue
        m = _SHADER_TRANSITIONS_RE.search(el.text or "")
        if m:
            raise HyperdeskError(
                "SHADER_TRANSITIONS_NOT_SUPPORTED",
                f"{file}: a script starts page-side shader transitions ({m.group(0).strip()}...): hyperdesk does "
                "not provide the renderer hand-off they need, and without it every frame would show the "
                "library's loader",
                details={"file": file, "match": m.group(0)},
            )


def _size_attr(root: Any, name: str, default: int, file: str) -> int:
    raw = root.get(name)
    if raw is None or not raw.strip():
        return default
    value = parse_int(raw)
    if value is None:
        raise invalid(file, root, name, raw, "not an integer number of pixels")
    if not 16 <= value <= 7680:
        raise invalid(file, root, name, raw, "must be an integer between 16 and 7680")
    return value


# ----------------------------------------------------------------------------- serialising


def serialize(doc: Any, doctype: str | None = "<!DOCTYPE html>") -> str:
    text = etree.tostring(doc, method="html", encoding="unicode")
    return (doctype + "\n" + text if doctype else text) + "\n"


def new_element(tag: str, attrib: dict[str, str] | None = None, text: str | None = None) -> Any:
    el = lxml.html.Element(tag)
    for k, v in (attrib or {}).items():
        el.set(k, v)
    if text is not None:
        el.text = text
    return el


def source_file_of(el: Any, entry: str) -> str:
    """The project file an element came from: the nearest enclosing host's file, else the entry."""
    parent = el.getparent()
    while parent is not None:
        if isinstance(parent.tag, str) and parent.get(HOST_FILE_ATTR) is not None:
            return parent.get(HOST_FILE_ATTR)
        parent = parent.getparent()
    return entry
