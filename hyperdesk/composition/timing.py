"""Start-time grammar (contract 4.1) and static resolution of absolute starts and durations.

The runtime resolves every window in the page; the compiler resolves the same rules statically
for what it needs before any script runs: sub-composition windows for meta/composition.json and
media windows for frame extraction and the audio mix. What only a registered timeline can know
(the duration of an element with data-composition-id and no data-duration) is unknown here;
results that depend on it are flagged uncertain.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hyperdesk.composition.document import HOST_FILE_ATTR, iter_elements, parse_decimal, short_element
from hyperdesk.models import PlanWarning

# Grammars over attribute values (4.1), tried in this order.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z0-9_.:-]+")
_REF_OFFSET = re.compile(r"([A-Za-z0-9_.:-]+?)\s*([+-])\s*(\d+(?:\.\d*)?|\.\d+)")


@dataclass(frozen=True)
class StartExpr:
    """A parsed data-start: an absolute number, or a reference to a clip's end plus an offset."""

    number: float | None = None
    ref: str | None = None
    offset: float = 0.0


def _is_descendant(el: Any, ancestor: Any) -> bool:
    parent = el.getparent()
    while parent is not None:
        if parent is ancestor:
            return True
        parent = parent.getparent()
    return False


class StartSyntaxError(ValueError):
    pass


def parse_start(value: str | None) -> StartExpr | None:
    """None for a missing or empty value; raises StartSyntaxError for anything unparsable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _NUMBER.fullmatch(text):
        number = float(text)
        if number != number or number in (float("inf"), float("-inf")):
            raise StartSyntaxError(f"{value!r} is not a finite number")
        return StartExpr(number=number)
    if _IDENT.fullmatch(text):
        return StartExpr(ref=text)
    m = _REF_OFFSET.fullmatch(text)
    if m:
        magnitude = float(m.group(3))
        return StartExpr(ref=m.group(1), offset=magnitude if m.group(2) == "+" else -magnitude)
    raise StartSyntaxError(
        f"{value!r} is not a number, a clip id, or 'id + seconds' / 'id - seconds'"
    )


def is_host(el: Any) -> bool:
    return (
        el.get("data-composition-id") is not None
        or el.get("data-composition-src") is not None
        or el.get(HOST_FILE_ATTR) is not None
    )


def media_start_of(el: Any) -> float:
    """data-playback-start, else data-media-start, else 0; negative values are ignored (3.2)."""
    for name in ("data-playback-start", "data-media-start"):
        number = parse_decimal(el.get(name))
        if number is not None and number >= 0:
            return number
    return 0.0


def playback_rate_of(el: Any) -> float:
    number = parse_decimal(el.get("data-playback-rate"))
    if number is None:
        return 1.0
    return min(5.0, max(0.1, number))


@dataclass
class Resolved:
    value: float | None
    certain: bool = True


class StaticTiming:
    """Absolute starts and durations of timed elements, resolved like the runtime does (4.2).

    Every element is resolved in document order so the element that closes a reference cycle is
    the same one the runtime picks.
    """

    def __init__(self, root: Any, *, warn: list[PlanWarning] | None = None) -> None:
        self.root = root
        self.warnings = warn if warn is not None else []
        doc_root = root.getroottree().getroot()
        # Strong references keep lxml's element proxies stable for the dict keys below.
        self._elements = list(iter_elements(doc_root))
        self._by_id: dict[str, list[Any]] = {}
        self._by_comp: dict[str, Any] = {}
        for el in self._elements:
            el_id = el.get("id")
            if el_id:
                self._by_id.setdefault(el_id, []).append(el)
            comp = el.get("data-composition-id")
            if comp and comp not in self._by_comp:
                self._by_comp[comp] = el
        self._start: dict[Any, Resolved] = {}
        self._duration: dict[Any, Resolved] = {}
        self._active: set[Any] = set()
        self._warned: set[tuple[str, str]] = set()
        for el in self._elements:
            if el.get("data-start") is not None:
                self.start(el)

    # ------------------------------------------------------------------ bases

    def _comp_ancestor(self, el: Any) -> Any | None:
        parent = el.getparent()
        while parent is not None:
            if isinstance(parent.tag, str) and parent.get("data-composition-id") is not None:
                return parent
            parent = parent.getparent()
        return None

    def base(self, el: Any) -> Resolved:
        """Absolute start of the nearest enclosing composition (4.2, numbers are relative)."""
        anchor = self._comp_ancestor(el)
        if anchor is None:
            return Resolved(0.0)
        return self.start(anchor)

    # ------------------------------------------------------------------ starts

    def start(self, el: Any) -> Resolved:
        cached = self._start.get(el)
        if cached is not None:
            return cached
        if el is self.root:
            result = Resolved(0.0)
            self._start[el] = result
            return result
        self._active.add(el)
        try:
            result = self._compute_start(el)
        finally:
            self._active.discard(el)
        self._start[el] = result
        return result

    def _compute_start(self, el: Any) -> Resolved:
        try:
            expr = parse_start(el.get("data-start"))
        except StartSyntaxError:
            expr = None  # reported by the compiler's syntax pass; never reached there
        if expr is None:
            parent = el.getparent()
            if (
                el.get("data-composition-id") is not None
                and parent is not None
                and isinstance(parent.tag, str)
                and is_host(parent)
            ):
                return self.start(parent)
            return Resolved(0.0)
        if expr.number is not None:
            base = self.base(el)
            return Resolved((base.value or 0.0) + max(0.0, expr.number), base.certain)
        return self._resolve_ref(el, expr)

    def _resolve_ref(self, el: Any, expr: StartExpr) -> Resolved:
        assert expr.ref is not None  # parse_start gives a number or a reference
        target = self.find_reference(el, expr.ref)
        if target is None:
            self._warn(
                "START_REFERENCE_MISSING",
                f"{short_element(el)} data-start={el.get('data-start')!r}: no element with id or "
                f"data-composition-id {expr.ref!r}; the clip starts at 0",
                el,
            )
            return Resolved(0.0)
        if target is el or target in self._active:
            self._warn(
                "START_REFERENCE_CYCLE",
                f"{short_element(el)} data-start={el.get('data-start')!r} closes a reference cycle; "
                "the clip starts at 0",
                el,
            )
            return Resolved(0.0)
        t_start = self.start(target)
        t_dur = self.duration(target)
        value = (t_start.value or 0.0) + expr.offset
        if t_dur.value is not None:
            value += t_dur.value
        return Resolved(max(0.0, value), t_start.certain and t_dur.certain)

    def find_reference(self, el: Any, name: str) -> Any | None:
        """The element with that id, searched in the nearest enclosing composition first and
        outwards (so a repeated mount finds its own clip), then the document; else the element
        with that data-composition-id. Mirrors the runtime's lookup."""
        candidates = self._by_id.get(name)
        if candidates:
            scope = self._comp_ancestor(el)
            while scope is not None:
                for cand in candidates:
                    if cand is not scope and _is_descendant(cand, scope):
                        return cand
                scope = self._comp_ancestor(scope)
            return candidates[0]
        return self._by_comp.get(name)

    # ------------------------------------------------------------------ durations

    def duration(self, el: Any) -> Resolved:
        """3.2 rules 1, 2, 3 (media durations were written by the compiler), 4 (unknown here), 5."""
        cached = self._duration.get(el)
        if cached is not None:
            return cached
        result = self._compute_duration(el)
        self._duration[el] = result
        return result

    def _compute_duration(self, el: Any) -> Resolved:
        number = parse_decimal(el.get("data-duration"))
        if number is not None and number > 0:
            return Resolved(number)
        end_attr = el.get("data-end")
        if end_attr is not None and el not in self._active:
            try:
                end_expr = parse_start(end_attr)
            except StartSyntaxError:
                end_expr = None
            if end_expr is not None:
                self._active.add(el)
                try:
                    if end_expr.number is not None:
                        base = self.base(el)
                        end = Resolved((base.value or 0.0) + end_expr.number, base.certain)
                    else:
                        end = self._resolve_ref(el, end_expr)
                finally:
                    self._active.discard(el)
                start = self.start(el)
                if end.value is not None and start.value is not None and end.value - start.value > 0:
                    return Resolved(end.value - start.value, end.certain and start.certain)
        if el.get("data-composition-id") is not None:
            return Resolved(None, certain=False)  # the registered timeline's duration()
        return Resolved(None)

    def end(self, el: Any) -> Resolved:
        start = self.start(el)
        dur = self.duration(el)
        if dur.value is None:
            return Resolved(None, start.certain and dur.certain)
        return Resolved((start.value or 0.0) + dur.value, start.certain and dur.certain)

    # ------------------------------------------------------------------ warnings

    def _warn(self, code: str, message: str, el: Any) -> None:
        key = (code, message)
        if key in self._warned:
            return
        self._warned.add(key)
        self.warnings.append(PlanWarning(code=code, message=message, element=short_element(el),
                                         attribute="data-start"))
