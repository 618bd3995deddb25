"""Composition variables (contract 6): declarations, render-time overrides, instance values,
compile-time bindings (data-var-text, data-var-src) and the custom-property stylesheet."""
from __future__ import annotations

import json
import math
import re
from typing import Any, TypeGuard

from hyperdesk.composition.cssscope import attr_selector, remove_declarations
from hyperdesk.composition.document import HOST_FILE_ATTR, SCOPE_ATTR, invalid, iter_elements
from hyperdesk.composition.subcomp import is_relative_url
from hyperdesk.errors import HyperdeskError
from hyperdesk.models import PlanWarning, VariableDecl

_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
TYPES = ("string", "number", "color", "boolean", "enum")
_CSS_STRIP = str.maketrans("", "", ";{}<>\r\n\f\u2028\u2029")
_VAR_SRC_TAGS = ("img", "video", "audio", "source")


# ----------------------------------------------------------------------------- declarations


def _type_ok(decl_type: str, value: Any, options: list | None = None) -> bool:
    if decl_type in ("string", "color"):
        return isinstance(value, str)
    if decl_type == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if decl_type == "boolean":
        return isinstance(value, bool)
    if decl_type == "enum":
        return options is not None and any(_same(value, o) for o in options)
    return False


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b or (
        isinstance(a, (int, float)) and isinstance(b, (int, float))
        and not isinstance(a, bool) and not isinstance(b, bool) and a == b
    )


def parse_declarations(raw: str | None, *, file: str, el: Any,
                       attribute: str = "data-composition-variables") -> list[VariableDecl]:
    """A data-composition-variables attribute; malformed JSON or a bad entry -> INVALID_COMPOSITION."""
    if raw is None or not raw.strip():
        return []
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise invalid(file, el, attribute, raw, f"not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise invalid(file, el, attribute, raw, "must be a JSON array of declarations")
    out: list[VariableDecl] = []
    seen: set[str] = set()
    for i, entry in enumerate(data):
        def bad(reason: str, i: int = i) -> HyperdeskError:
            return invalid(file, el, attribute, raw, f"declaration {i}: {reason}")

        if not isinstance(entry, dict):
            raise bad("must be an object")
        var_id = entry.get("id")
        if not isinstance(var_id, str) or not _ID.fullmatch(var_id):
            raise bad(f"id {var_id!r} must match [A-Za-z_][A-Za-z0-9_-]*")
        if var_id in seen:
            raise bad(f"id {var_id!r} is declared twice")
        seen.add(var_id)
        var_type = entry.get("type")
        if var_type not in TYPES:
            raise bad(f"type {var_type!r} must be one of {', '.join(TYPES)}")
        label = entry.get("label")
        if label is not None and not isinstance(label, str):
            raise bad("label must be a string")
        options = entry.get("options")
        if var_type == "enum":
            if not isinstance(options, list) or not options:
                raise bad("an enum needs a non-empty options array")
        elif options is not None and not isinstance(options, list):
            raise bad("options must be an array")
        default = entry.get("default")
        if "default" in entry and default is not None and not _type_ok(var_type, default, options):
            if var_type == "enum":
                raise bad(f"default {default!r} is not one of the options")
            raise bad(f"default {default!r} is not a {var_type}")
        if var_type == "enum" and default is None and "default" in entry:
            raise bad("an enum default must be one of the options")
        try:
            out.append(VariableDecl(**entry))
        except Exception as exc:  # pydantic rejects an unexpected shape
            raise bad(str(exc).splitlines()[0]) from None
    return out


def merge_declarations(*lists: list[VariableDecl]) -> list[VariableDecl]:
    """Later lists override earlier ones by id; first-seen order is kept."""
    merged: dict[str, VariableDecl] = {}
    for decls in lists:
        for d in decls:
            merged[d.id] = d
    return list(merged.values())


def defaults_of(decls: list[VariableDecl]) -> dict[str, Any]:
    return {d.id: d.default for d in decls if d.default is not None}


def top_level_values(decls: list[VariableDecl], overrides: dict[str, Any],
                     warnings: list[PlanWarning]) -> dict[str, Any]:
    """Declared defaults overlaid with the render-time overrides (6, values top level).

    Undeclared ids are ignored with a warning; a wrong type is INVALID_RENDER_CONFIG."""
    by_id = {d.id: d for d in decls}
    values = defaults_of(decls)
    for key in sorted(overrides or {}):
        value = overrides[key]
        decl = by_id.get(key)
        if decl is None:
            warnings.append(PlanWarning(
                code="VARIABLE_NOT_DECLARED",
                message=f"the variable override {key!r} is not declared by the composition and is ignored",
            ))
            continue
        if not _type_ok(decl.type, value, decl.options):
            expected = f"one of {decl.options!r}" if decl.type == "enum" else f"a {decl.type}"
            raise HyperdeskError(
                "INVALID_RENDER_CONFIG",
                f"variable {key!r} = {value!r} is not {expected}",
                hint=f"Give --variables a {decl.type} value for {key!r}.",
                details={"field": f"variables.{key}", "value": value,
                         "reason": f"expected {expected} (declared type {decl.type})"},
            )
        values[key] = value
    return values


def instance_values(decls: list[VariableDecl], host: Any, file: str, *,
                    report_el: Any = None) -> dict[str, Any]:
    """The file's declared defaults overlaid with the host's data-variable-values object."""
    values = defaults_of(decls)
    raw = host.get("data-variable-values")
    host = report_el if report_el is not None else host
    if raw is None or not raw.strip():
        return values
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise invalid(file, host, "data-variable-values", raw, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise invalid(file, host, "data-variable-values", raw, "must be a JSON object")
    by_id = {d.id: d for d in decls}
    for key, value in data.items():
        decl = by_id.get(key)
        if decl is not None and value is not None and not _type_ok(decl.type, value, decl.options):
            raise invalid(file, host, "data-variable-values", raw,
                          f"{key!r} = {value!r} is not a valid {decl.type}")
        values[key] = value
    return values


# ----------------------------------------------------------------------------- formatting


def js_number(value: float) -> str:
    """String(number) as JavaScript writes it for ordinary magnitudes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mant, exp = text.split("e")
        sign = "-" if exp.startswith("-") else "+"
        return f"{mant}e{sign}{exp.lstrip('+-').lstrip('0') or '0'}"
    return text


def text_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return js_number(value)
    if isinstance(value, str):
        return value
    return None


def css_value(value: Any) -> str | None:
    """A scalar as a custom-property value: `; { } < >` and line breaks removed."""
    text = text_value(value)
    if text is None:
        return None
    return text.translate(_CSS_STRIP)


def custom_properties(values: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for key, value in values.items():
        if not _ID.fullmatch(key):
            continue
        css = css_value(value)
        if css is None:
            continue
        out.append((f"--{key}", css))
    return out


# ----------------------------------------------------------------------------- bindings


def _own_scope_host(el: Any) -> Any | None:
    parent = el.getparent()
    while parent is not None:
        if isinstance(parent.tag, str) and parent.get(HOST_FILE_ATTR) is not None:
            return parent
        parent = parent.getparent()
    return None


def _var_src_ok(value: Any) -> TypeGuard[str]:
    if not isinstance(value, str) or not value.strip():
        return False
    v = value.strip()
    low = v.lower()
    if low.startswith(("http://", "https://", "//")):
        return True
    if low.startswith("data:image/"):
        return True
    return is_relative_url(v) or v.startswith("/")


def apply_bindings(doc: Any, values_for_host: dict[Any, dict[str, Any]], top_values: dict[str, Any],
                   warnings: list[PlanWarning], entry: str) -> None:
    """data-var-text and data-var-src, each with the values of the element's own scope."""
    for el in list(iter_elements(doc)):
        text_id = el.get("data-var-text")
        src_id = el.get("data-var-src")
        if text_id is None and src_id is None:
            continue
        host = _own_scope_host(el)
        values = values_for_host.get(host, {}) if host is not None else top_values
        if text_id is not None:
            text = text_value(values.get(text_id.strip()))
            if text is not None:
                _set_own_text(el, text)
        if src_id is not None and el.tag in _VAR_SRC_TAGS:
            value = values.get(src_id.strip())
            if _var_src_ok(value):
                el.set("src", value.strip())


def _set_own_text(el: Any, text: str) -> None:
    """Replace the first direct text node (a DOM firstChild-text walk); keep element children."""
    if el.text is not None:
        el.text = text
        return
    for child in el:
        if child.tail is not None:
            child.tail = text
            return
    el.text = text


def set_root_properties(el: Any, values: dict[str, Any]) -> None:
    """The custom properties as inline style on a composition root (inline, like the runtime's
    style.setProperty, so a scoped `:root{--x:…}` default cannot override an instance value)."""
    props = custom_properties(values)
    if not props:
        return
    style = el.get("style") or ""
    names = {name for name, _ in props}
    kept = remove_declarations(style, names) if style.strip() else ""
    decls = [kept] if kept else []
    decls += [f"{name}: {value}" for name, value in props]
    el.set("style", ";".join(decls))


def variables_stylesheet(scopes: list[tuple[str, dict[str, Any]]]) -> str:
    """One rule per composition root, keyed by its data-hd-scope marker."""
    rules = []
    for scope, values in scopes:
        props = custom_properties(values)
        if not props:
            continue
        body = ";".join(f"{name}: {value}" for name, value in props)
        rules.append(f"{attr_selector(SCOPE_ATTR, scope)}{{{body}}}")
    return "\n".join(rules)
